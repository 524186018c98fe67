"""The store's SQL, as literal text with ``:name`` parameters, for SQLite and PostgreSQL.

Both backends run these same strings (decision 0120): SQLite's ``sqlite3`` takes
``:name`` natively, SQLAlchemy's ``text()`` converts it for asyncpg. Only portable SQL
is used — ``RETURNING``, ``ON CONFLICT``, row values — so one text serves both
dialects. Queries whose filters vary are assembled in the aggregate modules from the
column lists here, with values always passed as parameters.
"""

from __future__ import annotations


def _insert(table: str, columns: str, suffix: str = "") -> str:
    names = [c.strip() for c in columns.split(",")]
    values = ", ".join(f":{c}" for c in names)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values}){suffix}"


FINAL = "('succeeded', 'failed', 'canceled')"
ACTIVE = "('queued', 'running', 'waiting_approval')"

# -- sessions --------------------------------------------------------------------------
SESSION = "id, app, agent, user_id, tenant_id, title, metadata, created_at, updated_at"
INSERT_SESSION = _insert("sessions", SESSION + ", msg_seq")
GET_SESSION = f"SELECT {SESSION} FROM sessions WHERE id = :id"
SESSION_EXISTS = "SELECT id FROM sessions WHERE id = :id"
SESSION_OWNER = "SELECT agent, user_id, tenant_id FROM sessions WHERE id = :id"
DELETE_SESSION = "DELETE FROM sessions WHERE id = :id"
DELETE_IDLE_SESSIONS = (
    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE updated_at < :before"
    " ORDER BY updated_at LIMIT :limit)"
)
"""A batch of sessions idle since before a time, with (cascading) all that hangs off them."""
RESERVE_SEQ = (
    "UPDATE sessions SET msg_seq = msg_seq + :n, updated_at = :now WHERE id = :id RETURNING msg_seq"
)
"""Reserve ``n`` message places (the new ``msg_seq`` is the last); on PostgreSQL it also
locks the session's row, so concurrent appenders are serialised."""
RESERVE_SEQ_OWNER = RESERVE_SEQ + ", agent, user_id, tenant_id"

# -- messages --------------------------------------------------------------------------
MESSAGE = "id, session_id, run_id, seq, role, name, content, partial, created_at"
INSERT_MESSAGE = _insert("messages", MESSAGE)
INSERT_MESSAGE_IF_NEW = _insert("messages", MESSAGE, " ON CONFLICT (id) DO NOTHING RETURNING id")
UPDATE_MESSAGE = (
    "UPDATE messages SET role = :role, name = :name, content = :content,"
    " partial = :partial, run_id = coalesce(:run_id, run_id)"
    " WHERE id = :id AND session_id = :session_id RETURNING seq, run_id, created_at"
)
GET_MESSAGE = f"SELECT {MESSAGE} FROM messages WHERE id = :id"
RUN_MESSAGES = (
    "SELECT id, seq FROM messages WHERE session_id = :session_id AND run_id = :run_id ORDER BY seq"
)
OTHERS_AFTER = (
    "SELECT id FROM messages WHERE session_id = :session_id AND seq > :seq"
    " AND (run_id IS NULL OR run_id <> :run_id) LIMIT 1"
)
MOVE_MESSAGE = "UPDATE messages SET seq = :seq WHERE id = :id"

# -- agent state -----------------------------------------------------------------------
STATE_KEY = "session_id = :session_id AND agent_name = :agent_name"
LOAD_STATE = f"SELECT state FROM agent_states WHERE {STATE_KEY}"
LOAD_VERSION = f"SELECT version FROM agent_states WHERE {STATE_KEY}"
INSERT_STATE = (
    "INSERT INTO agent_states (session_id, agent_name, version, state, updated_at)"
    " VALUES (:session_id, :agent_name, 1, :state, :updated_at)"
)
UPSERT_STATE = (
    INSERT_STATE + " ON CONFLICT (session_id, agent_name) DO UPDATE SET"
    " version = agent_states.version + 1, state = excluded.state,"
    " updated_at = excluded.updated_at RETURNING version"
)
"""The unconditional save: version 1, or +1, in one statement."""
UPDATE_STATE_IF = (
    "UPDATE agent_states SET version = version + 1, state = :state, updated_at = :updated_at"
    f" WHERE {STATE_KEY} AND version = :version RETURNING version"
)

# -- runs ------------------------------------------------------------------------------
RUN = (
    "id, session_id, agent, user_id, tenant_id, status, input_message_id, error_code,"
    " error_message, model, input_tokens, output_tokens, cost, currency, metadata,"
    " created_at, started_at, finished_at, owner, heartbeat_at"
)
INSERT_RUN = _insert("runs", RUN)
GET_RUN = f"SELECT {RUN} FROM runs WHERE id = :id"
RUN_EXISTS = "SELECT id FROM runs WHERE id = :id"
RUN_SESSION = "SELECT session_id FROM runs WHERE id = :id"
RUN_STATUS = "SELECT status FROM runs WHERE id = :id"
HEARTBEAT = (
    "UPDATE runs SET heartbeat_at = :now"
    " WHERE owner = :owner AND status IN ('running', 'waiting_approval')"
)
FINISHED_RUNS = (
    f"SELECT id, finished_at FROM runs WHERE status IN {FINAL} AND finished_at < :before"
    " AND (finished_at > :after_at OR (finished_at = :after_at AND id > :after_id))"
    " ORDER BY finished_at, id LIMIT :limit"
)
"""The next runs to prune the events of, in ``(finished_at, id)`` order after a mark
(index ``ix_runs_finished``)."""

# -- run events ------------------------------------------------------------------------
EVENT = "run_id, seq, type, payload, created_at"
INSERT_EVENT = _insert("run_events", EVENT)
LIST_EVENTS = f"SELECT {EVENT} FROM run_events WHERE run_id = :run_id AND seq > :after ORDER BY seq"
LAST_EVENT_SEQ = "SELECT max(seq) AS seq FROM run_events WHERE run_id = :run_id"

# -- API keys --------------------------------------------------------------------------
API_KEY = (
    "id, name, prefix, role, tenant_id, user_id, created_at, revoked_at, last_used_at,"
    " expires_at, hash_scheme"
)
INSERT_API_KEY = _insert("api_keys", API_KEY + ", key_hash")
API_KEY_BY_HASH = (
    "SELECT k.id, k.name, k.prefix, k.role, k.tenant_id, k.user_id, k.created_at,"
    " k.revoked_at, k.last_used_at, k.expires_at, k.hash_scheme, k.key_hash,"
    " t.disabled_at AS tenant_disabled_at"
    " FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = :key_hash"
)
GET_API_KEY = f"SELECT {API_KEY} FROM api_keys WHERE id = :id"
TOUCH_API_KEY = "UPDATE api_keys SET last_used_at = :now WHERE id = :id"
REHASH_API_KEY = (
    "UPDATE api_keys SET key_hash = :key_hash, hash_scheme = :hash_scheme"
    " WHERE id = :id AND hash_scheme = 'sha256'"
)
REVOKE_API_KEY = "UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL"

# -- tenants and quotas ----------------------------------------------------------------
TENANT = "id, name, metadata, created_at, disabled_at"
INSERT_TENANT = _insert("tenants", TENANT)
ENSURE_TENANT = _insert("tenants", TENANT, " ON CONFLICT (id) DO NOTHING")
GET_TENANT = f"SELECT {TENANT} FROM tenants WHERE id = :id"
LIST_TENANTS = f"SELECT {TENANT} FROM tenants ORDER BY id"
DISABLE_TENANT = "UPDATE tenants SET disabled_at = :now WHERE id = :id AND disabled_at IS NULL"
ENABLE_TENANT = "UPDATE tenants SET disabled_at = NULL WHERE id = :id"
QUOTA = "tenant_id, user_id, limits, updated_at"
UPSERT_QUOTA = _insert(
    "quotas",
    QUOTA,
    " ON CONFLICT (tenant_id, user_id) DO UPDATE SET limits = excluded.limits,"
    " updated_at = excluded.updated_at",
)
DELETE_QUOTA = "DELETE FROM quotas WHERE tenant_id = :tenant_id AND user_id = :user_id"
QUOTAS_OF_TENANT = f"SELECT {QUOTA} FROM quotas WHERE tenant_id = :tenant_id ORDER BY user_id"

# -- sandbox bindings ------------------------------------------------------------------
BINDING = "sandbox_id, session_id, type, backend, owner, created_at, last_used_at, detail"
INSERT_BINDING = _insert("sandbox_bindings", BINDING)
DELETE_BINDING = "DELETE FROM sandbox_bindings WHERE sandbox_id = :sandbox_id"
GET_BINDING = f"SELECT {BINDING} FROM sandbox_bindings WHERE sandbox_id = :sandbox_id"
FIND_BINDING = (
    f"SELECT {BINDING} FROM sandbox_bindings WHERE session_id = :session_id AND type = :type"
    " ORDER BY created_at DESC LIMIT 1"
)
TOUCH_BINDING = "UPDATE sandbox_bindings SET last_used_at = :at WHERE sandbox_id = :sandbox_id"

# -- spans (the local trace store) -----------------------------------------------------
SPAN = (
    "trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status, status_message,"
    " operation, run_id, session_id, user_id, tenant_id, model, input_tokens, output_tokens,"
    " cost, currency, attributes, events, service"
)
INSERT_SPAN = _insert("spans", SPAN)
SPANS_OF_RUN = (
    f"SELECT {SPAN} FROM spans WHERE trace_id IN"
    " (SELECT DISTINCT trace_id FROM spans WHERE run_id = :run_id) ORDER BY start_ns"
)
"""Every span of the traces that have a span tagged with the run (children from
libraries may lack the tag)."""
TRACE_TOTALS = (
    "SELECT count(*) AS spans, coalesce(sum(input_tokens), 0) AS input_tokens,"
    " coalesce(sum(output_tokens), 0) AS output_tokens, sum(cost) AS cost,"
    " min(start_ns) AS start_ns, max(end_ns) AS end_ns,"
    " sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors"
    " FROM spans WHERE trace_id = :trace_id"
)
TRACE_ROOT = "SELECT name FROM spans WHERE trace_id = :trace_id AND parent_span_id IS NULL LIMIT 1"
DELETE_OLD_SPANS = (
    "DELETE FROM spans WHERE (trace_id, span_id) IN (SELECT trace_id, span_id FROM spans"
    " WHERE start_ns < :before ORDER BY start_ns LIMIT :limit)"
)

# -- secrets and data protection (roost.govern) ---------------------------------------
SECRET = (
    "name, tenant_id, algorithm, master_key_id, wrapped_key, ciphertext, version,"
    " created_at, updated_at"
)
SECRET_INFO = "name, tenant_id, algorithm, master_key_id, version, created_at, updated_at"
UPSERT_SECRET = _insert("secrets", SECRET) + (
    " ON CONFLICT (name) DO UPDATE SET tenant_id = excluded.tenant_id,"
    " algorithm = excluded.algorithm, master_key_id = excluded.master_key_id,"
    " wrapped_key = excluded.wrapped_key, ciphertext = excluded.ciphertext,"
    " version = secrets.version + 1, updated_at = excluded.updated_at RETURNING version"
)
GET_SECRET = f"SELECT {SECRET} FROM secrets WHERE name = :name"
DELETE_SECRET = "DELETE FROM secrets WHERE name = :name"
SECRETS_TO_REWRAP = (
    f"SELECT {SECRET} FROM secrets WHERE master_key_id <> :primary ORDER BY name LIMIT :limit"
)
REWRAP_SECRET = (
    "UPDATE secrets SET master_key_id = :new_kid, wrapped_key = :wrapped_key"
    " WHERE name = :name AND master_key_id = :old_kid"
)
"""Compare-and-set: a row re-wrapped (or changed) meanwhile is left alone."""
SECRETS_BY_MASTER_KEY = "SELECT master_key_id, count(*) AS n FROM secrets GROUP BY master_key_id"
PROTECTION = "tenant_id, encrypt, confidential, key_name, policy, updated_at"
GET_PROTECTION = f"SELECT {PROTECTION} FROM data_protection WHERE tenant_id = :tenant_id"
LIST_PROTECTION = f"SELECT {PROTECTION} FROM data_protection ORDER BY tenant_id"
UPSERT_PROTECTION = _insert("data_protection", PROTECTION) + (
    " ON CONFLICT (tenant_id) DO UPDATE SET encrypt = excluded.encrypt,"
    " confidential = excluded.confidential, key_name = excluded.key_name,"
    " policy = excluded.policy, updated_at = excluded.updated_at"
)
SESSION_TENANT = "SELECT tenant_id FROM sessions WHERE id = :id"
RUN_TENANT = "SELECT tenant_id FROM runs WHERE id = :id"
