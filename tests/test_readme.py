"""The README's Python example runs and prints what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_library_example_runs() -> None:
    blocks = python_blocks()
    assert blocks, "README.md has no python example"
    proc = subprocess.run(
        [sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0] == "reply.started" and "tool.result" in lines
    assert proc.stdout.rstrip().endswith("2 + 3 = 5")


def test_readme_names_the_two_setup_commands() -> None:
    text = README.read_text()
    assert "roost serve --yes" in text
    assert "./scripts/test.sh" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "./scripts/test.sh" in ci
