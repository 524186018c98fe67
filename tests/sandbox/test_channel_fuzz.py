"""A short, seeded atheris run over the host side of the sandbox channel; the long one
is ``python scripts/fuzz_sandbox_channel.py -runs=500000``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_fuzzed_channel_streams_end_in_eof_or_a_protocol_error() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "scripts/fuzz_sandbox_channel.py", "-runs=20000", "-seed=1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 20000 runs" in proc.stderr
