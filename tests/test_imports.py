"""The import contracts of pyproject.toml (import-linter): layers import inward only, in
the order of DESIGN.md, and no package has an import cycle between its modules. Module
level and lazy (in-function) imports both count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    pytest.importorskip("importlinter")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_no_module_is_over_700_lines() -> None:
    long = {
        str(p.relative_to(REPO)): n
        for p in (REPO / "src" / "roost").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 700
    }
    # the store and the sandbox are split in their own restructurings (issue 16);
    # agents/react.py (~750) is being changed on another branch
    pending = ("/store/", "/sandbox/")
    assert {p: n for p, n in long.items() if not any(w in p for w in pending)} == {}
