"""Process-wide settings from ``ROOST_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Embedded defaults: everything under ``ROOST_HOME`` (``~/.roost``)."""

    model_config = SettingsConfigDict(env_prefix="ROOST_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".roost")
    database_url: str | None = None
    """SQLAlchemy URL; default ``sqlite+aiosqlite:///$ROOST_HOME/roost.db``."""
    redis_url: str | None = None
    admin_key: SecretStr | None = None
    model: str | None = None
    """Default model spec, e.g. ``openai:gpt-4o-mini``, ``anthropic:claude-…``, a base URL."""
    local_model: str | None = None
    """Path to any GGUF file to use instead of the catalogue model."""
    local_model_name: str = "qwen2.5-coder-0.5b"
    log_level: str = "INFO"
    log_format: str = "json"

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
