"""The README's curl example, run by bash against `roost serve` (the built-in assistant)
talking to a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from server_support import FAKE_REPLY, start_process

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"


def curl_block() -> str:
    match = re.search(
        r"<!-- readme-curl -->\s*```bash\n(.*?)```\s*<!-- /readme-curl -->",
        README.read_text(),
        re.S,
    )
    assert match, "README.md must hold the curl example between <!-- readme-curl --> markers"
    return match.group(1)


def test_readme_curl_example_streams_a_reply(processes, roost_home, fake_openai):
    server = start_process(None, {"ROOST_HOME": str(roost_home)}, "--model", f"{fake_openai}#fake")
    processes.append(server)
    printed = "".join(server.output)
    key = re.search(r"ROOST_ADMIN_KEY=(rk_[A-Za-z0-9_-]+)", printed)
    assert key, printed
    script = curl_block().replace("http://127.0.0.1:8000", server.url)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, "ROOST_ADMIN_KEY": key.group(1), "ROOST_URL": server.url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "event: run.started" in proc.stdout
    assert "event: run.completed" in proc.stdout
    deltas = re.findall(r'"type":"text\.delta".*?"delta":"([^"]*)"', proc.stdout)
    assert "".join(deltas) == "".join(FAKE_REPLY)
