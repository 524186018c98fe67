"""The container image of an agent app (or of the built-in platform): a build context
with a multi-stage Containerfile, pinned wheels and the app's files.

The first stage installs the wheels into a virtualenv with no network (``pip install
--no-index``); the second copies only that virtualenv onto the slim base and runs as an
unprivileged user, with ``/healthz`` as the health check. The same context builds with
Docker, Podman or any OCI builder (kaniko, buildah) in a CI that has no PyPI access.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from roost.core.errors import ConfigError
from roost.deploy.engine import Echo
from roost.deploy.wheelhouse import PLATFORM_EXTRAS, Target, stage_wheels

DEFAULT_BASE = "docker.io/library/python:3.11-slim-bookworm"
UID = 10001
PORT = 8000
HOME = "/var/lib/roost"

IGNORED = (
    ".git",
    ".hg",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".roost",
    "*.db",
    "*.db-wal",
    "*.db-shm",
    ".env",
    "*.gguf",
    "node_modules",
    "build",
    "dist",
)
"""Never copied into an image: VCS data, caches, local databases, secrets, model files."""

_APP = re.compile(r"^[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?$")


@dataclass
class ImageSpec:
    """What goes into the image. ``app`` is ``MODULE:APP`` importable from ``source``;
    ``None`` builds the platform image (the built-in assistant)."""

    app: str | None = None
    source: Path = field(default_factory=Path.cwd)
    extras: Sequence[str] = PLATFORM_EXTRAS
    packages: Sequence[str] = ()
    """More distributions to pin from this environment (the app's own dependencies)."""
    base: str = DEFAULT_BASE
    target: Target = field(default_factory=Target)
    strip: bool = True
    """Strip debug symbols from the wheels' native extensions (decision 0170)."""

    def command(self) -> list[str]:
        serve = ["roost", "serve"] + ([self.app] if self.app else [])
        return [*serve, "--host", "0.0.0.0", "--port", str(PORT)]


def _containerfile(spec: ImageSpec) -> str:
    app_copy = "COPY --chown=0:0 app/ /app/\n" if spec.app else ""
    cmd = ", ".join(f'"{part}"' for part in spec.command())
    probe = (
        "import sys, urllib.request; "
        f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{PORT}/healthz', timeout=3).status != 200)"
    )
    return f"""\
# syntax=docker/dockerfile:1
# Written by `roost build`: {spec.app or "the Roost platform (built-in assistant)"}.
# Base: any Debian-based image with python{spec.target.python_version} (python3 -m venv works).
ARG BASE={spec.base}

FROM ${{BASE}} AS install
LABEL dev.roost.build-stage=install
COPY wheels/ /wheels/
RUN python3 -m venv /opt/roost \\
 && /opt/roost/bin/python -m pip install --no-index --find-links /wheels --no-cache-dir \\
      --disable-pip-version-check -r /wheels/requirements.txt \\
 && /opt/roost/bin/python -m pip uninstall -y -q {"setuptools" if "local" in spec.extras else "pip setuptools"} \\
 && find /opt/roost -name '*.dist-info' -path '*/site-packages/*' -prune -o \\
      \\( -name tests -o -name test \\) -path '*/site-packages/*' -type d -prune -exec rm -rf {{}} +

FROM ${{BASE}}
RUN (getent group {UID} || groupadd -g {UID} roost) \\
 && (getent passwd {UID} || useradd -u {UID} -g {UID} -d {HOME} -M -s /usr/sbin/nologin roost) \\
 && mkdir -p {HOME} && chown {UID}:{UID} {HOME} && chmod 0700 {HOME}
COPY --from=install /opt/roost /opt/roost
{app_copy}ENV PATH=/opt/roost/bin:$PATH \\
    PYTHONUNBUFFERED=1 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    HOME={HOME} \\
    ROOST_HOME={HOME} \\
    ROOST_SANDBOX=0 \\
    ROOST_LOG_FORMAT=json
WORKDIR /app
USER {UID}:{UID}
EXPOSE {PORT}
VOLUME ["{HOME}"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \\
  CMD ["python3", "-c", "{probe}"]
CMD [{cmd}]
"""


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED)


def _copy_app(source: Path, dest: Path) -> int:
    """Copy the app's files, skipping :data:`IGNORED`; returns how many were copied."""
    count = 0
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(_ignored(part) for part in rel.parts) or path.is_symlink():
            continue
        target = dest / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
    return count


def write_context(
    dest: Path,
    spec: ImageSpec,
    *,
    wheelhouse: Path | None = None,
    echo: Echo = print,
) -> Path:
    """Write the build context for ``spec`` into ``dest`` (created; must be empty or
    absent). ``wheelhouse``: a directory of wheels kept between builds (a cache)."""
    if spec.app is not None and not _APP.match(spec.app):
        raise ConfigError(f"bad app {spec.app!r}", hint="pass MODULE:APP, e.g. app:app")
    if spec.app is not None:
        module = spec.app.split(":")[0].replace(".", "/")
        if not ((spec.source / f"{module}.py").is_file() or (spec.source / module).is_dir()):
            raise ConfigError(
                f"{spec.app!r}: no {module}.py in {spec.source}",
                hint="run roost build in the app's directory or pass --source",
            )
    if dest.exists() and any(dest.iterdir()):
        raise ConfigError(f"{dest} is not empty", hint="pass an empty or new --context directory")
    stage_wheels(
        dest / "wheels",
        extras=spec.extras,
        extra_packages=spec.packages,
        target=spec.target,
        cache=wheelhouse,
        echo=echo,
    )
    if spec.strip:
        saved = strip_wheels(dest / "wheels", spec.target)
        if saved:
            echo(f"stripped debug symbols from native extensions: {saved / 1e6:.0f} MB less")
    if spec.app is not None:
        copied = _copy_app(spec.source, dest / "app")
        echo(f"copied {copied} files of the app from {spec.source}")
    (dest / "Containerfile").write_text(_containerfile(spec), encoding="utf-8")
    (dest / ".dockerignore").write_text("\n".join(IGNORED) + "\n", encoding="utf-8")
    return dest


def strip_wheels(wheels: Path, target: Target) -> int:
    """Rewrite each wheel with native extensions with their debug symbols stripped (most
    manylinux wheels ship them: ~55 % of the bytes), fixing its RECORD. Needs binutils'
    ``strip`` on a host of the target's architecture; otherwise does nothing. The files
    are replaced, never changed in place (they may be hard links into a cache). Returns
    the bytes saved."""
    import base64
    import hashlib
    import platform
    import subprocess
    import tempfile
    import zipfile

    tool = shutil.which("strip")
    if tool is None or platform.machine() != target.machine or not target.is_host():
        return 0
    saved = 0
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as z:
            if not any(".so" in n for n in z.namelist()):
                continue
            with tempfile.TemporaryDirectory() as tmp:
                z.extractall(tmp)
                root = Path(tmp)
                changed = False
                for lib in root.rglob("*.so*"):
                    if lib.is_file() and not lib.is_symlink():
                        before = lib.stat().st_size
                        done = subprocess.run(
                            [tool, "--strip-unneeded", str(lib)], capture_output=True, check=False
                        )
                        if done.returncode == 0:
                            saved += before - lib.stat().st_size
                            changed = changed or lib.stat().st_size != before
                if not changed:
                    continue
                record = next(root.glob("*.dist-info/RECORD"))
                lines = []
                for path in sorted(p for p in root.rglob("*") if p.is_file() and p != record):
                    data = path.read_bytes()
                    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                    lines.append(f"{path.relative_to(root)},sha256={digest.decode()},{len(data)}")
                lines.append(f"{record.relative_to(root)},,")
                record.write_text("\n".join(lines) + "\n", encoding="utf-8")
                fresh = wheel.with_suffix(".tmp")
                with zipfile.ZipFile(fresh, "w", zipfile.ZIP_DEFLATED) as out:
                    for path in sorted(p for p in root.rglob("*") if p.is_file()):
                        out.write(path, str(path.relative_to(root)))
        wheel.unlink()  # a hard link into the cache: replace it, never write through it
        fresh.rename(wheel)
    return saved
