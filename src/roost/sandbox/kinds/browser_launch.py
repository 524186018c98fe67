"""Launching Chromium inside a sandbox: Playwright is told the browser executable is a
generated wrapper script, which runs :mod:`browser_launcher` with a config that enters
the sandbox's cgroups, drops to its uid and execs bwrap around Chromium (decision 0040).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

from roost.core import SandboxUnavailable, get_settings
from roost.sandbox.backends.bwrap import IsolatedCommand

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--password-store=basic",
    "--use-mock-keychain",
]
"""Flags that keep Chromium quiet, offline-friendly and working inside the sandbox
(``--no-sandbox``: Chromium's own sandbox needs privileges the sandbox has dropped)."""


def find_chromium() -> str:
    """The Chromium binary to run inside the sandbox (Debian's real binary, not the
    ``/usr/bin/chromium`` shell wrapper, which reads host config files)."""
    for candidate in (
        get_settings().chromium,
        "/usr/lib/chromium/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SandboxUnavailable(
        "Chromium is not installed", hint="apt-get install chromium (or set ROOST_CHROMIUM)"
    )


def write_launcher(directory: Path, command: IsolatedCommand) -> Path:
    """Write the wrapper script + launcher config into a root-only directory; returns the
    script to hand to Playwright as ``executable_path``."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    fd_files: dict[str, str] = {}
    for i, (placeholder, data) in enumerate(command.fd_files.items()):
        path = directory / f"fd{i}"
        path.write_bytes(data)
        fd_files[placeholder] = str(path)
    config = {
        "argv": command.argv,
        "env": command.env,
        "procs_files": command.procs_files,
        "rlimits": {str(k): v for k, v in command.rlimits.items()},
        "uid": command.uid,
        "gid": command.gid,
        "drop": command.drop,
        "fd_files": fd_files,
    }
    config_path = directory / "launch.json"
    config_path.write_text(json.dumps(config))
    launcher = Path(__file__).with_name("browser_launcher.py")
    script = directory / "chromium"
    script.write_text(
        "#!/bin/sh\n"
        f'exec {_sh(sys.executable)} -I -S {_sh(str(launcher))} {_sh(str(config_path))} "$@"\n'
    )
    os.chmod(script, stat.S_IRWXU)
    return script


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
