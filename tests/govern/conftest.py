"""Governance fixtures: the store suite's backends (SQLite through both drivers, the real
PostgreSQL), and a master keyring of the test's own."""

from __future__ import annotations

import pytest
from tests.store.conftest import backend, open_store, store, targets  # noqa: F401

from roost.govern import crypto
from roost.govern.keyring import LocalKeyring, MasterKey


@pytest.fixture
def keys() -> LocalKeyring:
    return LocalKeyring([MasterKey("aes-256-gcm", crypto.new_key("aes-256-gcm"))])
