"""Errors of the persistence layer, each with a stable ``code`` the server maps to HTTP."""

from __future__ import annotations

from roost.core.errors import Conflict, InvalidRequest, NotFound, RoostError


class StoreError(RoostError):
    """The store failed in a way that is not the caller's fault."""

    code = "store_error"
    status = 500


class StoreUnavailable(StoreError):
    """The database or Redis cannot be reached (or stays locked); retry later."""

    code = "store_unavailable"
    status = 503
    retryable = True


class MigrationError(StoreError):
    """The database schema could not be brought to the version this Roost needs."""

    code = "store_migration_failed"


class SessionNotFound(NotFound):
    """No session with that id."""

    code = "session_not_found"


class RunNotFound(NotFound):
    """No run with that id."""

    code = "run_not_found"


class MessageNotFound(NotFound):
    """No message with that id."""

    code = "message_not_found"


class RunExists(Conflict):
    """A run with that id already exists."""

    code = "run_exists"


class ApiKeyNotFound(NotFound):
    """No API key with that id."""

    code = "api_key_not_found"


class SessionExists(Conflict):
    """A session with that id already exists."""

    code = "session_exists"


class MessageIdConflict(Conflict):
    """A message with that id already belongs to another session."""

    code = "message_id_conflict"


class RunFinished(Conflict):
    """The run already reached a final status; its status cannot change any more."""

    code = "run_finished"


class EventSeqConflict(Conflict):
    """An event with that sequence number was already stored for the run."""

    code = "event_seq_conflict"


class StateVersionConflict(Conflict):
    """The agent state changed since it was loaded (optimistic concurrency check failed)."""

    code = "state_version_conflict"


class InvalidCursor(InvalidRequest):
    """The pagination cursor is malformed; pass back the ``next_cursor`` you received."""

    code = "invalid_cursor"


class InvalidStoreArgument(InvalidRequest):
    """An argument to a store call is out of range or of the wrong kind."""

    code = "invalid_store_argument"


class LockLost(RoostError):
    """A distributed session lock expired before it was released (renewal failed)."""

    code = "session_lock_lost"
    status = 409


class BusOverflow(RoostError):
    """A bus subscriber fell too far behind and was dropped; resync from the store."""

    code = "bus_overflow"
    status = 503
    retryable = True


class TenantNotFound(NotFound):
    """The tenant does not exist."""

    code = "tenant_not_found"


class TenantExists(Conflict):
    """A tenant with this id already exists."""

    code = "tenant_exists"


class ContentSealed(StoreError):
    """Stored content is encrypted for its tenant and this store has no sealer that
    opens it (``roost.govern`` installs one when the master key is configured)."""

    code = "content_sealed"


class SecretNotFound(NotFound):
    """No secret with that name."""

    code = "secret_not_found"
