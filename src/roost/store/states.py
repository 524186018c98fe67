"""Agent state: one versioned ``state_dict()`` per agent and session."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from roost.store import rows, sealing
from roost.store import statements as sql
from roost.store.backend import Integrity, Part, Tx, scalar
from roost.store.errors import SessionNotFound, StateVersionConflict
from roost.store.sessions import require_session


def save(
    tx: Tx,
    session_id: str,
    agent_name: str,
    state: dict[str, Any],
    expected_version: int | None,
    at: datetime,
    sealer: sealing.ContentSealer | None = None,
) -> int:
    """Store the state; the new version. ``expected_version``: only if still at it."""
    key = {"session_id": session_id, "agent_name": agent_name}
    stored = sealing.seal_json(sealer, tx, "agent_states", state, session_id=session_id)
    params = {**key, "state": stored, "updated_at": at}
    if expected_version is None:  # one upsert, the first save of a session included
        try:
            return int(scalar(tx, sql.UPSERT_STATE, params))
        except Integrity as exc:  # the one constraint left: the session's key
            raise SessionNotFound(f"session {session_id!r} does not exist") from exc
    version = scalar(tx, sql.UPDATE_STATE_IF, {**params, "version": expected_version})
    if version is not None:
        return int(version)
    current = scalar(tx, sql.LOAD_VERSION, key)
    if current is not None or expected_version != 0:
        raise StateVersionConflict(
            f"state of {agent_name!r} is at version {current or 0}, not {expected_version}",
            hint="reload the state and apply the change again",
        )
    require_session(tx, session_id)
    tx.run(sql.INSERT_STATE, params)
    return 1


class States(Part):
    async def save_state(
        self,
        session_id: str,
        agent_name: str,
        state: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> int:
        """Store an agent's ``state_dict()``; returns the new version (1, 2, …).

        With ``expected_version`` the write only happens if the stored version still
        matches (0 = "no state yet"), else ``StateVersionConflict``.
        """
        rows.check_len(agent_name, 128, "agent name")
        state = dict(state)
        try:
            return await self._backend.write(
                lambda tx: save(
                    tx, session_id, agent_name, state, expected_version, rows.now(), self._sealer
                )
            )
        except Integrity as exc:  # another writer created it meanwhile
            raise StateVersionConflict(
                f"state of {agent_name!r} was saved concurrently",
                hint="reload the state and apply the change again",
            ) from exc

    async def load_state(self, session_id: str, agent_name: str) -> dict[str, Any] | None:
        """The last saved ``state_dict()`` of the agent in the session, or ``None``."""
        key = {"session_id": session_id, "agent_name": agent_name}
        sealer = self._sealer

        def body(tx: Tx) -> Any:
            return sealing.opened(sealer, tx, "agent_states", scalar(tx, sql.LOAD_STATE, key))

        value = await self._backend.read(body)
        return dict(rows.document(value)) if value is not None else None
