"""`roost secrets`: set from stdin, masked get, list without values, delete, typed errors
(real processes on a SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _roost(*args: str, home: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOST_")}
    env["ROOST_HOME"] = str(home)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "roost.cli.main", "secrets", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_secrets_commands(roost_home: Path) -> None:
    made = _roost("set", "smtp/password", home=roost_home, stdin="s3cret-smtp-password\n")
    assert made.returncode == 0, made.stderr
    assert "version 1 (aes-256-gcm" in made.stdout
    assert (roost_home / "master.key").stat().st_mode & 0o777 == 0o600

    shown = _roost("get", "smtp/password", home=roost_home)
    assert shown.stdout.strip() == "••••word"
    assert _roost("get", "smtp/password", "--reveal", home=roost_home).stdout.strip() == (
        "s3cret-smtp-password"
    )
    listed = _roost("list", home=roost_home)
    assert "smtp/password" in listed.stdout and "s3cret" not in listed.stdout

    assert _roost("delete", "smtp/password", home=roost_home).returncode == 0
    missing = _roost("get", "smtp/password", home=roost_home)
    assert missing.returncode == 2 and "[secret_not_found]" in missing.stderr
    bad = _roost("set", "no spaces", "--value", "x", home=roost_home)
    assert bad.returncode == 2 and "[invalid_secret_name]" in bad.stderr


def test_help_is_in_english_and_chinese(roost_home: Path) -> None:
    out = _roost("--help", home=roost_home).stdout
    assert "rotate-master-key" in out and "密钥" in out
