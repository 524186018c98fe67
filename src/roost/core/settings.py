"""Process-wide settings: every ``ROOST_*`` environment variable Roost reads, in one place.

``get_settings()`` reads the environment once per process (not at import) into a
:class:`Settings`; the other layers take their configuration from it, never from
``os.environ``. A field is declared once, as a typed class attribute with its default,
and documented in :data:`DOCS`; ``docs/configuration.md`` is generated from both
(``python -m roost.core.settings``; a test checks it is current).

A plain class rather than a pydantic-settings model: every process reads these at start,
and pydantic-settings plus the schema building it triggers cost a server ~2 MB of idle
memory (docs/decisions/0097). Names are matched case-insensitively; an empty value of a
text setting is kept as given; unknown ``ROOST_*`` names are ignored.
"""

from __future__ import annotations

import functools
import os
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from roost.core.errors import ConfigError

_PREFIX = "roost_"


class Settings:
    """Embedded defaults: everything under ``ROOST_HOME`` (``~/.roost``). Keyword arguments
    (field names) take precedence over the environment."""

    home: Path = None  # type: ignore[assignment]  # ~/.roost, computed when read
    database_url: str | None = None
    redis_url: str | None = None
    admin_key: SecretStr | None = None
    api_key_pepper: SecretStr | None = None
    log_level: str = "INFO"
    log_format: str = "json"
    model: str | None = None
    model_api_key: SecretStr | None = None
    model_http: str = ""
    local_model: str | None = None
    local_model_name: str = "qwen2.5-coder-1.5b"
    prices: Path | None = None
    serve_model: str | None = None
    sandbox: bool = True
    tracing: bool = True
    trace_content: bool | None = None
    otlp_endpoint: str | None = None
    otlp_protocol: str | None = None
    alert_rules: Path | None = None
    alert_webhooks: tuple[str, ...] = ()
    alert_interval: float = 30.0
    sandbox_url: str | None = None
    sandbox_token: SecretStr | None = None
    sandbox_python: str | None = None
    sandbox_cgroup_root: str | None = None
    sandbox_runtime_dir: str | None = None
    sandbox_uid_base: int = 64000
    sandbox_uid_count: int = 1000
    chromium: str | None = None

    retention_run_events_days: float = 7.0
    retention_spans_days: float = 14.0
    retention_sessions_days: float = 0.0
    retention_interval_seconds: float = 3600.0
    knowledge_base: str | None = None
    memory: bool = False
    embeddings_api_key: SecretStr | None = None
    embeddings_base_url: str | None = None
    container_engine: str | None = None
    audit: bool = True
    audit_hash: str = "sha256"
    audit_signing_key: SecretStr | None = None
    audit_signing_key_file: Path | None = None
    audit_verify_key: str | None = None
    audit_checkpoint_every: int = 1000
    audit_checkpoint_seconds: float = 60.0
    audit_retention_days: float = 180.0
    audit_retention_force: bool = False
    audit_archive: str | None = None
    audit_s3_endpoint: str | None = None
    audit_content: bool = False
    audit_content_tenants: tuple[str, ...] = ()
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    secrets_kms: str | None = None
    crypto_profile: str = "standard"
    data_protection: bool = True

    # ``ROOST_SANDBOX_DOCKER_<FIELD>`` / ``ROOST_SANDBOX_K8S_<FIELD>``: the fields of
    # ``roost.sandbox.DockerConfig`` / ``KubernetesConfig``, collected by prefix (not
    # typed fields: the configs validate them).
    sandbox_docker: dict[str, str]
    sandbox_k8s: dict[str, str]

    def __init__(self, **overrides: Any) -> None:
        env = {k.lower(): v for k, v in os.environ.items() if k.lower().startswith(_PREFIX)}
        kinds = _kinds()
        unknown = set(overrides) - set(kinds)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        for name, kind in kinds.items():
            if name in overrides:
                value = _parse(name, kind, overrides[name])
            elif _PREFIX + name in env:
                value = _parse(name, kind, env[_PREFIX + name])
            else:
                value = getattr(Settings, name)
            setattr(self, name, value)
        if self.home is None:
            self.home = Path.home() / ".roost"
        for name in _PREFIXED:
            prefix = f"{_PREFIX}{name}_"
            fields = {k[len(prefix) :]: v for k, v in env.items() if k.startswith(prefix)}
            setattr(self, name, dict(overrides.get(name, fields)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _kinds())
        return f"Settings({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _kinds())

    __hash__ = None  # type: ignore[assignment]  # mutable, like the pydantic model was

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'roost.db'}"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.home


DOCS: dict[str, str] = {
    "home": "Where Roost keeps its files (database, models, queue); default `~/.roost`.",
    "database_url": "SQLAlchemy URL of the store; default `sqlite+aiosqlite:///$ROOST_HOME/roost.db`.",
    "redis_url": "Redis for session locks, stream fan-out, the queue and rate limits.",
    "admin_key": "The admin API key (else one is generated at first start).",
    "api_key_pepper": "The server key API keys are hashed with (HMAC-SHA256); else a file `$ROOST_HOME/api-key-pepper` made at first use. Set the same value on every replica.",
    "log_level": "Log level of the server.",
    "log_format": "`json` (one object a line) or `console`.",
    "model": "Default model spec (`openai:gpt-4o-mini`, `anthropic:…`, a base URL, `local`).",
    "model_api_key": "API key of self-hosted OpenAI-compatible servers (vLLM …) in a model spec.",
    "model_http": "HTTP client of the providers: `aiohttp` (default when installed) or `httpx`.",
    "local_model": "A GGUF file to use instead of the catalogue model.",
    "local_model_name": "The catalogue model to use.",
    "prices": "A YAML price table overriding or extending the built-in one.",
    "serve_model": "The model spec of `roost serve --model` (set by the command for its workers).",
    "sandbox": "The built-in assistant runs code in a sandbox per session (`0`: no sandbox tools).",
    "tracing": "Tracing of `AgentApp` (`0` turns it off).",
    "trace_content": "`0`: no prompts or completions in spans (default: in the trace store only).",
    "otlp_endpoint": "OTLP collector (else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `…_ENDPOINT`).",
    "otlp_protocol": "`http/protobuf` (default) or `grpc` (else `OTEL_EXPORTER_OTLP_PROTOCOL`).",
    "alert_rules": "A YAML file of alert rules added to the built-ins.",
    "alert_webhooks": "Webhook URLs (comma-separated) alerts are sent to.",
    "alert_interval": "Seconds between two evaluations of the alert rules.",
    "sandbox_url": "A remote sandbox service (`roost sandbox serve`).",
    "sandbox_token": "The token of that service.",
    "sandbox_python": "The interpreter run inside bubblewrap sandboxes.",
    "sandbox_cgroup_root": "The cgroup v2 directory sandboxes are limited in.",
    "sandbox_runtime_dir": "Where sandbox sockets and workdirs live.",
    "sandbox_uid_base": "First host uid sandboxes run as.",
    "sandbox_uid_count": "How many uids from it.",
    "chromium": "The Chromium of the browser sandbox.",
    "retention_run_events_days": "Days the stream events of a finished run are kept (`0`: forever).",
    "retention_spans_days": "Days spans stay in the local trace store (`0`: forever).",
    "retention_sessions_days": "Days an idle session is kept, with its messages, runs and events (`0`: forever).",
    "retention_interval_seconds": "Seconds between two retention passes.",
    "knowledge_base": "A knowledge base the built-in assistant searches (`roost kb create`).",
    "memory": "The built-in assistant keeps long-term memory per user.",
    "embeddings_api_key": "API key of the OpenAI-compatible embeddings endpoint of knowledge bases.",
    "embeddings_base_url": "That endpoint (`…/v1`), the default of `roost kb create --base-url`.",
    "audit": "The audit trail of `AgentApp` (`0` turns it off; compliance needs it on).",
    "audit_hash": "Hash of the audit chain: `sha256`, or `sm3` (national-crypto profile); fixed when the chain starts.",
    "audit_signing_key": "Base64 Ed25519 seed that signs audit checkpoints (else the key file).",
    "audit_signing_key_file": "File of that seed; default `$ROOST_HOME/audit-signing.key`, created 0600 at first start.",
    "audit_verify_key": "Base64 Ed25519 public key `roost audit verify` checks checkpoints with (else derived from the signing key).",
    "audit_checkpoint_every": "Records between two signed checkpoints.",
    "audit_checkpoint_seconds": "Seconds after which the next append also writes a signed checkpoint.",
    "audit_retention_days": "Days audit records stay in the database before they are archived (at least 180 unless forced).",
    "audit_retention_force": "Accept an audit retention under 180 days.",
    "audit_archive": "Where audit segments go: a directory (default `$ROOST_HOME/audit-archive`) or `s3://bucket/prefix`.",
    "audit_s3_endpoint": "Endpoint URL of the S3-compatible store of `s3://` archives (MinIO, OSS, OBS).",
    "audit_content": "Audit records also keep the content (prompts, completions, arguments, results) after redaction.",
    "audit_content_tenants": "Tenants (comma-separated) whose audit records keep the redacted content, when `ROOST_AUDIT_CONTENT` is off.",
    "container_engine": "`docker` or `podman` for `roost build` / `roost bundle` (default: the one found).",
    "master_key": "Master key(s) of the secret store, comma-separated `aes-256-gcm:BASE64` / `sm4-gcm:BASE64`; the first wraps new data keys.",
    "master_key_file": "File holding the master key(s), one a line (default `$ROOST_HOME/master.key`, created at first use).",
    "secrets_kms": "`module:factory` returning a `roost.govern.KeyWrapper` (a KMS) instead of a local master key.",
    "crypto_profile": "`standard` (AES-256-GCM, HMAC-SHA256) or `national` (国密: SM4-GCM, HMAC-SM3).",
    "data_protection": "The server's secret store, encryption at rest and DLP (`0`: off, content in clear).",
}
GROUPS = {
    "General": "home database_url redis_url admin_key api_key_pepper log_level log_format",
    "Models": "model model_api_key model_http local_model local_model_name prices",
    "Server": "serve_model sandbox knowledge_base memory embeddings_*",
    "Deployment": "container_engine",
    "Secrets and data protection": "master_key master_key_file secrets_kms crypto_profile data_protection",
    "Retention": "retention_*",
    "Audit": "audit audit_*",
    "Observability": "tracing trace_content otlp_endpoint otlp_protocol alert_*",
    "Sandbox (read by `roost.sandbox`)": "sandbox_* chromium",
}
_PREFIXED = ("sandbox_docker", "sandbox_k8s")
_KINDS = {Path: "path", SecretStr: "secret", bool: "bool", int: "int", float: "float", str: "str"}


@functools.cache
def _kinds() -> dict[str, str]:
    """Each field's kind, from its type: ``str``, ``secret``, ``path``, ``bool``, ``int``,
    ``float`` or ``list`` (comma separated)."""
    out = {}
    for name, hint in typing.get_type_hints(Settings).items():
        if name in _PREFIXED:
            continue
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if isinstance(hint, types.UnionType) else hint
        origin = typing.get_origin(base)
        out[name] = "list" if origin is tuple else _KINDS[base]
    return out


def _parse(name: str, kind: str, value: Any) -> Any:
    """A value of the environment (text) or a keyword argument, as the field's type."""
    if not isinstance(value, str):
        if kind == "secret" and value is not None and not isinstance(value, SecretStr):
            return SecretStr(str(value))
        return Path(value) if kind == "path" and value is not None else value
    if kind in ("str", "secret", "path", "list"):
        if kind == "list":
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return {"str": str, "secret": SecretStr, "path": Path}[kind](value) if value else value
    if not value.strip():
        return getattr(Settings, name)  # an empty switch or number: not given
    try:
        if kind == "bool":
            return value.strip().lower() not in ("0", "false", "no", "off")
        return int(value) if kind == "int" else float(value)
    except ValueError:
        env = "ROOST_" + name.upper()
        raise ConfigError(f"{env}={value!r} is not a valid {kind}", hint=DOCS[name]) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; call ``get_settings.cache_clear()`` in tests."""
    return Settings()


def configuration_markdown() -> str:
    """``docs/configuration.md``: every setting, from the class and :data:`DOCS`."""
    import fnmatch

    out = [
        "# Configuration",
        "",
        "Roost reads these environment variables once per process, into",
        "`roost.core.settings.Settings` (`get_settings()`); nothing else in Roost reads",
        "`ROOST_*` variables. Generated by `python -m roost.core.settings >",
        "docs/configuration.md` (a test checks it is current). Switches take",
        "`0`/`false`/`no`/`off` for off; an empty value of a switch or a number is as if",
        "unset. `AgentApp(...)` options take precedence over the variables they share",
        "(`store_url`, `redis_url`, `admin_key`).",
    ]
    for title, patterns in GROUPS.items():
        out += ["", f"## {title}", "", "| variable | type | default | what |", "|---|---|---|---|"]
        for name, kind in _kinds().items():
            if any(fnmatch.fnmatch(name, p) for p in patterns.split()):
                default = getattr(Settings, name)
                shown = "" if default in (None, (), "") else f"`{default}`"
                if isinstance(default, bool):
                    shown = "on" if default else "off"
                out.append(f"| `ROOST_{name.upper()}` | {kind} | {shown} | {DOCS[name]} |")
    out += [
        "",
        "The Docker and Kubernetes sandbox backends also read `ROOST_SANDBOX_DOCKER_*` and",
        "`ROOST_SANDBOX_K8S_*`: the fields of `roost.sandbox.DockerConfig` and",
        "`KubernetesConfig` (image, runtime, user, limits, namespace …).",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(configuration_markdown(), end="")
