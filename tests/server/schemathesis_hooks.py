"""Loaded by the schemathesis CLI (``SCHEMATHESIS_HOOKS``) in test_openapi_conformance:
an opaque cursor is one the server issued (``ROOST_CURSORS``), anything else is
rightly refused, so the fuzzer draws valid ones from those."""

import os

import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.format(
    "roost-cursor", st.sampled_from(os.environ.get("ROOST_CURSORS", "").split(","))
)
