"""Process-wide settings: every ``ROOST_*`` environment variable Roost reads, in one place.

``get_settings()`` reads the environment once per process (not at import) into a
:class:`Settings`; the other layers take their configuration from it, never from
``os.environ``. Each field is declared once in :data:`FIELDS`, with its type, default and
documentation; ``docs/configuration.md`` is generated from it (``python -m
roost.core.settings``; a test checks it is current).

A plain class rather than a pydantic-settings model: every process reads these at start,
and pydantic-settings plus the schema building it triggers cost a server ~2 MB of idle
memory (docs/decisions/0097). Names are matched case-insensitively; an empty value of a
text setting is kept as given; unknown ``ROOST_*`` names are ignored.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from roost.core.errors import ConfigError

_PREFIX = "roost_"


@dataclass(frozen=True)
class Field:
    """One setting: ``ROOST_<NAME>`` parsed by ``kind``."""

    name: str
    kind: str
    """``str``, ``secret``, ``path``, ``bool``, ``int``, ``float``, ``list`` (comma
    separated) or ``json`` (an object)."""
    default: Any
    doc: str
    group: str = "general"

    @property
    def env(self) -> str:
        return "ROOST_" + self.name.upper()


def _default_home() -> Path:
    return Path.home() / ".roost"


FIELDS: tuple[Field, ...] = (
    Field("home", "path", _default_home, "Where Roost keeps its files (database, models, queue)."),
    Field(
        "database_url",
        "str",
        None,
        "SQLAlchemy URL of the store; default `sqlite+aiosqlite:///$ROOST_HOME/roost.db`.",
    ),
    Field(
        "redis_url", "str", None, "Redis for session locks, stream fan-out, queue and rate limits."
    ),
    Field("admin_key", "secret", None, "The admin API key (else one is generated at first start)."),
    Field("log_level", "str", "INFO", "Log level of the server."),
    Field("log_format", "str", "json", "`json` (one object a line) or `console`."),
    # models
    Field(
        "model",
        "str",
        None,
        "Default model spec (`openai:gpt-4o-mini`, `anthropic:…`, a base URL, `local`).",
        "models",
    ),
    Field(
        "model_api_key",
        "secret",
        None,
        "API key for self-hosted OpenAI-compatible servers (vLLM …) named by a model spec.",
        "models",
    ),
    Field(
        "model_http",
        "str",
        "",
        "HTTP client of the model providers: `aiohttp` (default when installed) or `httpx`.",
        "models",
    ),
    Field(
        "local_model", "str", None, "A GGUF file to use instead of the catalogue model.", "models"
    ),
    Field("local_model_name", "str", "qwen2.5-coder-0.5b", "The catalogue model to use.", "models"),
    Field(
        "prices",
        "path",
        None,
        "A YAML price table overriding or extending the built-in one.",
        "models",
    ),
    # server
    Field(
        "serve_model",
        "str",
        None,
        "The model spec of `roost serve --model` (set by the command for its workers).",
        "server",
    ),
    Field(
        "sandbox",
        "bool",
        True,
        "The built-in assistant runs code in a sandbox per session (`0`: no sandbox tools).",
        "server",
    ),
    # observability
    Field("tracing", "bool", True, "Tracing of `AgentApp` (`0` turns it off).", "observability"),
    Field(
        "trace_content",
        "bool",
        None,
        "`0`: no prompts or completions in spans, anywhere (default: in the local trace "
        "store, not in OTLP).",
        "observability",
    ),
    Field(
        "otlp_endpoint",
        "str",
        None,
        "OTLP collector (else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`/`OTEL_EXPORTER_OTLP_ENDPOINT`).",
        "observability",
    ),
    Field(
        "otlp_protocol",
        "str",
        None,
        "`http/protobuf` (default) or `grpc` (else `OTEL_EXPORTER_OTLP_PROTOCOL`).",
        "observability",
    ),
    Field(
        "alert_rules",
        "path",
        None,
        "A YAML file of alert rules added to the built-ins.",
        "observability",
    ),
    Field(
        "alert_webhooks",
        "list",
        (),
        "Webhook URLs (comma-separated) alerts are sent to.",
        "observability",
    ),
    Field(
        "alert_interval",
        "float",
        30.0,
        "Seconds between two evaluations of the alert rules.",
        "observability",
    ),
    # sandbox (read by roost.sandbox)
    Field(
        "sandbox_url", "str", None, "A remote sandbox service (`roost sandbox serve`).", "sandbox"
    ),
    Field("sandbox_token", "secret", None, "The token of that service.", "sandbox"),
    Field(
        "sandbox_python", "str", None, "The interpreter run inside bubblewrap sandboxes.", "sandbox"
    ),
    Field(
        "sandbox_cgroup_root",
        "str",
        None,
        "The cgroup v2 directory sandboxes are limited in.",
        "sandbox",
    ),
    Field(
        "sandbox_runtime_dir", "str", None, "Where sandbox sockets and workdirs live.", "sandbox"
    ),
    Field("sandbox_uid_base", "int", 64000, "First host uid sandboxes run as.", "sandbox"),
    Field("sandbox_uid_count", "int", 1000, "How many uids from it.", "sandbox"),
    Field("chromium", "str", None, "The Chromium of the browser sandbox.", "sandbox"),
    Field(
        "sandbox_docker_base_url",
        "str",
        None,
        "Docker/Podman engine (else `DOCKER_HOST`).",
        "sandbox",
    ),
    Field(
        "sandbox_docker_image", "str", "python:3.12-slim", "Image of Docker sandboxes.", "sandbox"
    ),
    Field(
        "sandbox_docker_runtime", "str", None, "OCI runtime (`runsc`, `kata-runtime`).", "sandbox"
    ),
    Field("sandbox_docker_user", "str", "65532:65532", "uid:gid in Docker sandboxes.", "sandbox"),
    Field("sandbox_docker_python", "str", "python3", "The interpreter in the image.", "sandbox"),
    Field("sandbox_docker_tmp_mb", "int", 64, "Size of /tmp (MB).", "sandbox"),
    Field(
        "sandbox_docker_labels", "json", None, "Extra container labels (a JSON object).", "sandbox"
    ),
    Field(
        "sandbox_docker_network_name",
        "str",
        "bridge",
        "Network of sandboxes with network.",
        "sandbox",
    ),
    Field(
        "sandbox_k8s_namespace", "str", "roost-sandboxes", "Namespace of sandbox pods.", "sandbox"
    ),
    Field("sandbox_k8s_image", "str", "python:3.12-slim", "Image of sandbox pods.", "sandbox"),
    Field("sandbox_k8s_image_pull_policy", "str", "IfNotPresent", "Their pull policy.", "sandbox"),
    Field(
        "sandbox_k8s_runtime_class", "str", "gvisor", "RuntimeClass (`gvisor`, `kata`).", "sandbox"
    ),
    Field("sandbox_k8s_max_lifetime_s", "int", 3600, "activeDeadlineSeconds of a pod.", "sandbox"),
    Field("sandbox_k8s_run_as_user", "int", 65532, "uid in sandbox pods.", "sandbox"),
    Field("sandbox_k8s_python", "str", "python3", "The interpreter in the image.", "sandbox"),
    Field("sandbox_k8s_node_selector", "json", None, "nodeSelector (a JSON object).", "sandbox"),
    Field("sandbox_k8s_labels", "json", None, "Extra pod labels (a JSON object).", "sandbox"),
    Field("sandbox_k8s_tmp_mb", "int", 64, "Size of /tmp (MB).", "sandbox"),
    Field("sandbox_k8s_kubeconfig", "str", None, "A kubeconfig file.", "sandbox"),
    Field("sandbox_k8s_context", "str", None, "Its context.", "sandbox"),
    Field(
        "sandbox_k8s_in_cluster", "bool", None, "In-cluster config (default: in a pod).", "sandbox"
    ),
    Field(
        "sandbox_k8s_ready_timeout_s", "float", 120.0, "Seconds a pod may take to start.", "sandbox"
    ),
)
_BY_NAME = {f.name: f for f in FIELDS}
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse(field: Field, value: Any) -> Any:
    """A value of the environment (text) or a keyword argument, as the field's type."""
    if value is None or not isinstance(value, str):
        if field.kind == "secret" and value is not None and not isinstance(value, SecretStr):
            return SecretStr(str(value))
        if field.kind == "path" and value is not None:
            return Path(value)
        return value
    kind = field.kind
    if kind == "str":
        return value
    if kind == "secret":
        return SecretStr(value)
    if kind == "path":
        return Path(value) if value else None
    if kind == "list":
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if not value.strip():
        return field.default  # an empty switch or number: not given
    try:
        if kind == "bool":
            return value.strip().lower() not in _FALSE
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        parsed = json.loads(value)
        if not isinstance(parsed, dict):
            raise ValueError("not a JSON object")
        return parsed
    except ValueError:
        raise ConfigError(
            f"{field.env}={value!r} is not a valid {kind}",
            hint=f"{field.env}: {field.doc}",
        ) from None


class Settings:
    """Embedded defaults: everything under ``ROOST_HOME`` (``~/.roost``). The fields are
    :data:`FIELDS`; keyword arguments (field names) take precedence over the environment."""

    home: Path
    database_url: str | None
    redis_url: str | None
    admin_key: SecretStr | None
    log_level: str
    log_format: str
    model: str | None
    model_api_key: SecretStr | None
    model_http: str
    local_model: str | None
    local_model_name: str
    prices: Path | None
    serve_model: str | None
    sandbox: bool
    tracing: bool
    trace_content: bool | None
    otlp_endpoint: str | None
    otlp_protocol: str | None
    alert_rules: Path | None
    alert_webhooks: tuple[str, ...]
    alert_interval: float
    sandbox_url: str | None
    sandbox_token: SecretStr | None
    sandbox_python: str | None
    sandbox_cgroup_root: str | None
    sandbox_runtime_dir: str | None
    sandbox_uid_base: int
    sandbox_uid_count: int
    chromium: str | None
    sandbox_docker_base_url: str | None
    sandbox_docker_image: str
    sandbox_docker_runtime: str | None
    sandbox_docker_user: str
    sandbox_docker_python: str
    sandbox_docker_tmp_mb: int
    sandbox_docker_labels: dict[str, str] | None
    sandbox_docker_network_name: str
    sandbox_k8s_namespace: str
    sandbox_k8s_image: str
    sandbox_k8s_image_pull_policy: str
    sandbox_k8s_runtime_class: str | None
    sandbox_k8s_max_lifetime_s: int
    sandbox_k8s_run_as_user: int
    sandbox_k8s_python: str
    sandbox_k8s_node_selector: dict[str, str] | None
    sandbox_k8s_labels: dict[str, str] | None
    sandbox_k8s_tmp_mb: int
    sandbox_k8s_kubeconfig: str | None
    sandbox_k8s_context: str | None
    sandbox_k8s_in_cluster: bool | None
    sandbox_k8s_ready_timeout_s: float

    def __init__(self, **overrides: Any) -> None:
        env = {k.lower(): v for k, v in os.environ.items() if k.lower().startswith(_PREFIX)}
        unknown = set(overrides) - set(_BY_NAME)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        for field in FIELDS:
            if field.name in overrides:
                value = _parse(field, overrides[field.name])
            elif _PREFIX + field.name in env:
                value = _parse(field, env[_PREFIX + field.name])
            else:
                default = field.default
                value = default() if callable(default) else default
            setattr(self, field.name, value)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in FIELDS)
        return f"Settings({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the pydantic model was

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'roost.db'}"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.home


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; call ``get_settings.cache_clear()`` in tests."""
    return Settings()


_GROUPS = {
    "general": "General",
    "models": "Models",
    "server": "Server",
    "observability": "Observability",
    "sandbox": "Sandbox (read by `roost.sandbox`)",
}


def configuration_markdown() -> str:
    """``docs/configuration.md``: every setting, from :data:`FIELDS`."""
    out = [
        "# Configuration",
        "",
        "Roost reads these environment variables once per process, into",
        "`roost.core.settings.Settings` (`get_settings()`); nothing else in Roost reads",
        "`ROOST_*` variables. Generated from `roost.core.settings.FIELDS` by",
        "`python -m roost.core.settings > docs/configuration.md` (a test checks it is current).",
        "Switches take `0`/`false`/`no`/`off` for off; an empty value of a switch or a number",
        "is as if unset. `AgentApp(...)` options take precedence over the variables they",
        "share (`store_url`, `redis_url`, `admin_key`).",
    ]
    for group, title in _GROUPS.items():
        out += ["", f"## {title}", "", "| variable | type | default | what |", "|---|---|---|---|"]
        for f in FIELDS:
            if f.group == group:
                out.append(f"| `{f.env}` | {f.kind} | {_shown(f)} | {f.doc} |")
    return "\n".join(out) + "\n"


def _shown(field: Field) -> str:
    default: Any = field.default
    if callable(default):
        return "`~/.roost`"
    if default is None or default == () or default == "":
        return ""
    if isinstance(default, bool):
        return "on" if default else "off"
    return f"`{default}`"


if __name__ == "__main__":
    print(configuration_markdown(), end="")
