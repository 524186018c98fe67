"""Loaded by the schemathesis CLI (``SCHEMATHESIS_HOOKS``) in test_openapi_conformance:
an opaque cursor is one the server issued (``ROOST_CURSORS``), anything else is
rightly refused, so the fuzzer draws valid ones from those; a new knowledge base's
embeddings endpoint is probed, so the fuzzer's ``openai:`` embedders point at a real one
on loopback (``ROOST_EMBEDDINGS_URL``) instead of a made-up URL (rightly refused), and
the folders it names to ingest are a small one (``ROOST_INGEST_DIR``), not the machine's."""

import os
import re

import schemathesis
from hypothesis import strategies as st

schemathesis.openapi.format(
    "roost-cursor", st.sampled_from(os.environ.get("ROOST_CURSORS", "").split(","))
)


_URL = re.compile(r"^https?://[\x21-\x7e]+$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):  # type: ignore[no-untyped-def]
    """Every phase (the coverage phase draws no bodies through ``map_body``)."""
    body = case.body
    if (
        case.operation.path == "/v1/knowledge-bases"
        and case.method.upper() == "POST"
        and isinstance(body, dict)
        and isinstance(body.get("base_url"), str)
        and _URL.match(body["base_url"])
    ):
        body["base_url"] = os.environ["ROOST_EMBEDDINGS_URL"]
    if (
        case.operation.path == "/v1/knowledge-bases/{kb_id}/ingest"
        and isinstance(body, dict)
        and isinstance(body.get("paths"), list)
    ):  # a server-side folder the fuzzer names ("/") is read from a small one instead
        body["paths"] = [
            os.environ["ROOST_INGEST_DIR"] if isinstance(p, str) and os.path.isdir(p) else p
            for p in body["paths"]
        ]
