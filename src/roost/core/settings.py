"""Process-wide settings from ``ROOST_*`` environment variables.

A plain class rather than a pydantic-settings model: every process reads these at start,
and pydantic-settings plus the schema building it triggers cost a server ~2 MB of idle
memory for ten strings (docs/decisions/0097). Same rules as before: names are matched
case-insensitively, an empty value is kept as given, unknown ``ROOST_*`` names are ignored.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from roost.core.errors import ConfigError

_PREFIX = "roost_"


class Settings:
    """Embedded defaults: everything under ``ROOST_HOME`` (``~/.roost``)."""

    home: Path
    database_url: str | None
    """SQLAlchemy URL; default ``sqlite+aiosqlite:///$ROOST_HOME/roost.db``."""
    redis_url: str | None
    admin_key: SecretStr | None
    model: str | None
    """Default model spec, e.g. ``openai:gpt-4o-mini``, ``anthropic:claude-…``, a base URL."""
    local_model: str | None
    """Path to any GGUF file to use instead of the catalogue model."""
    local_model_name: str
    log_level: str
    log_format: str

    # -- retention (roost.store.retention; numbers as given, parsed there) -------------
    retention_run_events_days: float | str
    """Days the stream events of a finished run are kept (0: forever)."""
    retention_spans_days: float | str
    """Days spans stay in the local trace store (0: forever)."""
    retention_sessions_days: float | str
    """Days an idle session is kept, with its messages, runs and events (0: forever)."""
    retention_interval_seconds: float | str
    """Seconds between retention passes."""

    # -- sandbox (roost.sandbox; read when a sandbox starts) ---------------------------
    sandbox_python: str | None
    """Interpreter of the sandbox kernel; default the server's own when the sandbox uid
    can run it, else ``/usr/bin/python3``."""
    sandbox_runtime_dir: str | None
    """Host directory of workdirs, uid leases and lock files; default
    ``/run/roost-sandbox`` as root, else under ``$XDG_RUNTIME_DIR``."""
    sandbox_cgroup_root: str | None
    """A delegated cgroup v2 directory for sandbox cgroups; default: found under
    ``/sys/fs/cgroup``."""
    sandbox_uid_base: int
    sandbox_uid_count: int
    """As root, each sandbox leases a uid from ``[base, base + count)``."""
    sandbox_url: str | None
    sandbox_token: SecretStr | None
    """The remote sandbox service (backend ``remote``) and its bearer token (also the
    token of ``roost sandbox serve``)."""
    chromium: str | None
    """Chromium binary for browser sandboxes; default Debian's ``/usr/lib/chromium``."""
    sandbox_docker: dict[str, str]
    """``ROOST_SANDBOX_DOCKER_<FIELD>``: fields of ``roost.sandbox.DockerConfig``
    (``image``, ``runtime``, ``user``, ``base_url`` …)."""
    sandbox_k8s: dict[str, str]
    """``ROOST_SANDBOX_K8S_<FIELD>``: fields of ``roost.sandbox.KubernetesConfig``
    (``namespace``, ``image``, ``runtime_class`` …)."""

    def __init__(self, **overrides: Any) -> None:
        """Read the environment; keyword arguments (field names) take precedence."""
        env = {k.lower(): v for k, v in os.environ.items() if k.lower().startswith(_PREFIX)}
        unknown = set(overrides) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        for name, default in _FIELDS.items():
            if name in overrides:
                value = overrides[name]
            elif _PREFIX + name in env:
                value = env[_PREFIX + name]
            else:
                value = default() if callable(default) else default
            if value is not None and name == "home":
                value = Path(value)
            elif value is not None and name == "admin_key" and not isinstance(value, SecretStr):
                value = SecretStr(str(value))
            setattr(self, name, value)
        _sandbox_values(self, env, overrides)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Settings({fields})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the pydantic model was

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.home / 'roost.db'}"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.home


def _default_home() -> Path:
    return Path.home() / ".roost"


_FIELDS: dict[str, Any] = {
    "home": _default_home,
    "database_url": None,
    "redis_url": None,
    "admin_key": None,
    "model": None,
    "local_model": None,
    "local_model_name": "qwen2.5-coder-0.5b",
    "log_level": "INFO",
    "log_format": "json",
    # retention (roost.store.retention parses these)
    "retention_run_events_days": 7.0,
    "retention_spans_days": 14.0,
    "retention_sessions_days": 0.0,
    "retention_interval_seconds": 3600.0,
    # sandbox
    "sandbox_python": None,
    "sandbox_runtime_dir": None,
    "sandbox_cgroup_root": None,
    "sandbox_uid_base": 64000,
    "sandbox_uid_count": 1000,
    "sandbox_url": None,
    "sandbox_token": None,
    "chromium": None,
    "sandbox_docker": dict,
    "sandbox_k8s": dict,
}


def _sandbox_values(settings: Settings, env: dict[str, str], overrides: dict[str, Any]) -> None:
    """The sandbox block's typed values, and its backends' prefixed variables."""
    for name in ("sandbox_uid_base", "sandbox_uid_count"):
        try:
            setattr(settings, name, int(getattr(settings, name)))
        except ValueError:
            raise ConfigError(f"ROOST_{name.upper()} must be an integer") from None
    token = settings.sandbox_token
    if token is not None and not isinstance(token, SecretStr):
        settings.sandbox_token = SecretStr(str(token))
    for name in ("sandbox_docker", "sandbox_k8s"):
        prefix = f"{_PREFIX}{name}_"
        if name not in overrides:
            fields = {k[len(prefix) :]: v for k, v in env.items() if k.startswith(prefix)}
            setattr(settings, name, fields)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; call ``get_settings.cache_clear()`` in tests."""
    return Settings()
