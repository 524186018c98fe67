"""``Settings`` reads ``ROOST_*`` like the pydantic-settings model it replaced (decision 0097)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from roost.core.settings import Settings


@pytest.fixture(autouse=True)
def _no_roost_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.lower().startswith("roost_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = Settings()
    assert s.home == Path.home() / ".roost"
    assert s.database_url is None and s.redis_url is None and s.admin_key is None
    assert s.model is None and s.local_model is None
    assert (s.local_model_name, s.log_level, s.log_format) == ("qwen2.5-coder-0.5b", "INFO", "json")
    assert s.resolved_database_url == f"sqlite+aiosqlite:///{Path.home() / '.roost' / 'roost.db'}"


def test_names_are_case_insensitive_and_values_kept_as_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("roost_home", str(tmp_path))
    monkeypatch.setenv("Roost_Model", "openai:gpt-4o-mini")
    monkeypatch.setenv("ROOST_LOG_LEVEL", "debug")
    monkeypatch.setenv("ROOST_DATABASE_URL", "")  # empty: kept, so the default URL applies
    monkeypatch.setenv("ROOST_SOMETHING_ELSE", "ignored")
    s = Settings()
    assert s.home == tmp_path
    assert s.model == "openai:gpt-4o-mini"
    assert s.log_level == "debug"
    assert s.database_url == ""
    assert s.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path / 'roost.db'}"
    assert not hasattr(s, "something_else")


def test_the_admin_key_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_ADMIN_KEY", "rk_secret")
    s = Settings()
    assert isinstance(s.admin_key, SecretStr)
    assert s.admin_key.get_secret_value() == "rk_secret"
    assert "rk_secret" not in repr(s)


def test_keyword_arguments_override_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ROOST_REDIS_URL", "redis://env")
    s = Settings(redis_url="redis://kw", home=str(tmp_path))
    assert s.redis_url == "redis://kw" and s.home == tmp_path
    with pytest.raises(TypeError):
        Settings(no_such_setting=1)
