"""The container engine on this machine (Docker or Podman), driven through its CLI.

Both CLIs take the same ``build``/``run``/``save`` arguments, so one small wrapper
serves both; the build's output is streamed line by line to the caller (a user sees
every step and the error, never a silent failure).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from roost.deploy.errors import DeployError, EngineUnavailable

ENGINES = ("docker", "podman")
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Engine:
    """A container engine CLI that answered ``version``."""

    name: str
    path: str

    def argv(self, *args: str) -> list[str]:
        return [self.path, *args]


def _answers(path: str, name: str) -> bool:
    # ``docker version`` fails when the CLI is installed but no daemon runs; Podman
    # is daemonless and answers whenever it is installed and configured.
    fmt = "{{.Server.Version}}" if name == "docker" else "{{.Client.Version}}"
    try:
        done = subprocess.run(
            [path, "version", "--format", fmt], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def find_engine(preferred: str | None = None) -> Engine | None:
    """The engine to use: ``preferred`` (or ``ROOST_CONTAINER_ENGINE``) if it answers,
    else Docker when its daemon answers, else Podman; ``None`` when neither does."""
    from roost.core.settings import get_settings

    wanted = preferred or get_settings().container_engine or None
    names = (wanted,) if wanted and wanted != "auto" else ENGINES
    for name in names:
        path = shutil.which(name)
        if path is not None and _answers(path, name):
            return Engine(name=Path(path).name if name not in ENGINES else name, path=path)
    return None


def require_engine(preferred: str | None = None) -> Engine:
    """Like :func:`find_engine`, but a missing engine is a typed error that says what to do."""
    engine = find_engine(preferred)
    if engine is None:
        which = preferred if preferred and preferred != "auto" else "Docker or Podman"
        raise EngineUnavailable(
            f"no container engine answers ({which})",
            hint="install Podman (apt-get install podman) or start Docker; or build the "
            "written context yourself: docker build -t IMAGE CONTEXT",
        )
    return engine


def stream(
    argv: Sequence[str],
    echo: Echo,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    what: str = "command",
) -> None:
    """Run ``argv``, passing each output line (stdout and stderr, in order) to ``echo``;
    a non-zero exit raises :class:`DeployError` quoting the last lines."""
    tail: list[str] = []
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=None if env is None else {**os.environ, **env},
        cwd=cwd,
        text=True,
        errors="replace",
        bufsize=1,
    )
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            line = line.rstrip("\n")
            echo(line)
            tail = [*tail[-19:], line]
    if proc.returncode != 0:
        raise DeployError(
            f"{what} failed with exit code {proc.returncode}: " + " | ".join(tail[-5:]),
            hint="the full output is above; fix the cause and run the command again",
            command=" ".join(argv),
        )


def build_image(
    engine: Engine,
    context: Path,
    tag: str,
    echo: Echo,
    *,
    build_args: Mapping[str, str] | None = None,
    network: bool = False,
) -> None:
    """Build ``context``'s Containerfile as ``tag``. No network by default: the context
    carries every wheel, so the build is reproducible and works air-gapped."""
    args = ["build", "-t", tag, "-f", str(context / "Containerfile")]
    if engine.name == "podman":
        args += ["--format", "docker"]  # keeps HEALTHCHECK (the OCI format drops it)
    if not network:
        args += ["--network", "none"]
    for key, value in sorted((build_args or {}).items()):
        args += ["--build-arg", f"{key}={value}"]
    stream(engine.argv(*args, str(context)), echo, what=f"{engine.name} build")


def image_size(engine: Engine, tag: str) -> int:
    """Bytes the image takes, as the engine reports it."""
    done = subprocess.run(
        engine.argv("image", "inspect", "--format", "{{.Size}}", tag),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DeployError(f"cannot inspect image {tag}: {done.stderr.strip()}")
    return int(done.stdout.strip())


def save_image(engine: Engine, tag: str, dest: Path, echo: Echo) -> Path:
    """Write ``tag`` as an OCI archive (``podman load``/``docker load`` read it back)."""
    args = ["save", "-o", str(dest)]
    if engine.name == "podman":
        args += ["--format", "oci-archive"]
    stream(engine.argv(*args, tag), echo, what=f"{engine.name} save")
    return dest
