"""Encryption at rest of content columns: the seam ``roost.govern`` plugs a sealer into.

Message content, run event payloads, agent state and span attributes/events are the
columns that hold what users said and what tools returned. With a sealer installed
(``Store.sealer``), each such value of a tenant that asked for encryption is stored as
``{"$sealed": 1, "k": KEY_ID, "d": BASE64}`` — still valid JSON for the JSON columns,
opaque without the tenant's data key, which lives in the secret store wrapped by the
master key (so a database backup alone reveals no content). Ids, sequence numbers,
types and timestamps stay in clear, so paging, resume and retention work unchanged.

The sealer runs inside the store's transaction bodies and resolves a row's tenant from
a cache it keeps (session → tenant, run → tenant, tenant → key): a run causes no query of
its own beyond the first lookup of its session (decision 0192).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from roost.core.jsontext import JSONText
from roost.store.backend import Tx
from roost.store.errors import ContentSealed

MARK = "$sealed"
_PREFIX = '{"$sealed"'


class ContentSealer(Protocol):
    """Seals and opens content values of the store (implemented by roost.govern)."""

    def seal(
        self,
        tx: Tx,
        kind: str,
        text: str,
        *,
        tenant_id: str | None = None,
        session_id: str | None = None,
        run_id: str | None = None,
    ) -> str | None:
        """The sealed JSON text of ``text``, or None when its tenant keeps content in
        clear. ``kind`` (``messages``, ``run_events``, ``agent_states``, ``spans``) is
        bound to the ciphertext."""
        ...

    def open(self, tx: Tx | None, kind: str, sealed: Mapping[str, Any]) -> str:
        """The JSON text a sealed value holds."""
        ...

    def remember(
        self, *, session_id: str | None, run_id: str | None, tenant_id: str | None
    ) -> None:
        """Learn the tenant of a session or run that the store just read or wrote."""
        ...


def is_sealed(value: Any) -> bool:
    if isinstance(value, str):
        return value.startswith(_PREFIX)
    return isinstance(value, Mapping) and MARK in value


def seal_text(
    sealer: ContentSealer | None,
    tx: Tx,
    kind: str,
    text: str,
    **owner: str | None,
) -> str:
    """``text`` sealed for its owner's tenant, or unchanged."""
    if sealer is None:
        return text
    sealed = sealer.seal(tx, kind, text, **owner)
    return text if sealed is None else sealed


def seal_json(
    sealer: ContentSealer | None,
    tx: Tx,
    kind: str,
    value: JSONText | Mapping[str, Any],
    **owner: str | None,
) -> Any:
    """A JSON column's value (text or mapping) sealed for its owner's tenant, or as given."""
    if sealer is None:
        return value
    from roost.core import jsontext

    text = value if isinstance(value, str) else jsontext.encode(dict(value))
    sealed = sealer.seal(tx, kind, text, **owner)
    return value if sealed is None else JSONText(sealed)


def opened(sealer: ContentSealer | None, tx: Tx | None, kind: str, value: Any) -> Any:
    """A stored value as JSON text or the driver's value, opened if it is sealed."""
    if not is_sealed(value):
        return value
    if sealer is None:
        raise ContentSealed(
            f"{kind} content is encrypted at rest and this store has no key to open it",
            hint="configure the master key (ROOST_MASTER_KEY or its file) on this process",
        )
    if isinstance(value, str):
        import json

        value = json.loads(value)
    return sealer.open(tx, kind, value)


def open_rows(
    sealer: ContentSealer | None, tx: Tx | None, kind: str, found: list[Any], column: str
) -> list[Any]:
    """Rows with ``column`` opened where sealed (new dicts only for those)."""
    out = []
    for row in found:
        value = row[column]
        if is_sealed(value):
            row = {**row, column: opened(sealer, tx, kind, value)}
        out.append(row)
    return out
