"""Every example under examples/ runs, as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_supervisor_worker_reviewer_example_runs() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "supervisor_worker_reviewer.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        proc.stdout.strip()
        == "answer after 2 review round(s): 391 apples + 108 pears = 499 fruits."
    )
