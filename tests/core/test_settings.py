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
    assert (s.local_model_name, s.log_level, s.log_format) == ("qwen2.5-coder-1.5b", "INFO", "json")
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


def test_switches_numbers_and_lists_are_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROOST_TRACING", "off")
    monkeypatch.setenv("ROOST_SANDBOX", "")  # empty: the default
    monkeypatch.setenv("ROOST_ALERT_INTERVAL", "0.5")
    monkeypatch.setenv("ROOST_ALERT_WEBHOOKS", "http://a, ,http://b")
    s = Settings()
    assert (s.tracing, s.sandbox, s.trace_content) == (False, True, None)
    assert s.alert_interval == 0.5 and s.alert_webhooks == ("http://a", "http://b")
    assert s.sandbox_uid_base == 64000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROOST_ALERT_INTERVAL", "soon"),
        ("ROOST_SANDBOX_UID_BASE", "1.5"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    from roost.core import ConfigError

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        Settings()
    assert name in info.value.message and info.value.hint


def test_configuration_md_is_generated_from_the_settings() -> None:
    from roost.core.settings import DOCS, _kinds, configuration_markdown

    doc = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert doc.read_text() == configuration_markdown(), (
        "regenerate it: python -m roost.core.settings > docs/configuration.md"
    )
    fields = list(_kinds())  # the prefixed sandbox_docker/k8s maps are described in prose
    assert sorted(DOCS) == sorted(fields), "document every field in DOCS"
    for name in fields:  # each in exactly one section
        assert doc.read_text().count(f"| `ROOST_{name.upper()}` |") == 1, name


def test_no_module_reads_roost_variables_but_the_settings() -> None:
    import re

    src = Path(__file__).resolve().parents[2] / "src" / "roost"
    reads = re.compile(
        r"(environ\.get\(|getenv\(|envvar\s*=)\s*[\"']ROOST_|environ\[\s*[\"']ROOST_\w+[\"']\s*\](?!\s*=)"
    )
    readers = sorted(
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if reads.search(p.read_text()) and p.name != "settings.py"
    )
    # the sandbox and store modules move to the settings in their own restructuring
    assert [r for r in readers if not r.startswith(("sandbox/", "store/"))] == []
