"""An interrupted master key rotation loses nothing: the rotating process is killed with
SIGKILL between two batches, every secret still opens, and running the command again
finishes the rotation."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from roost.core.settings import Settings
from roost.govern.keyring import keyring_from_settings, read_key_file
from roost.govern.secrets import SecretStore
from roost.store import Store

CHILD = """
import asyncio, sys, time
from roost.core.settings import Settings
from roost.govern.secrets import SecretStore
from roost.store import Store

async def main():
    settings = Settings()
    async with await Store.open(sys.argv[1]) as store:
        secrets = SecretStore(store, settings=settings)
        def progress(done):
            print(f"rewrapped {done}", flush=True)
            time.sleep(0.05)
        secrets_rewrap = secrets.rewrap_all
        async def small_batches(progress=None):
            return await secrets_rewrap(batch=20, progress=progress)
        secrets.rewrap_all = small_batches
        await secrets.rotate_master_key(progress=progress)
        print("finished", flush=True)

asyncio.run(main())
"""

COUNT = 300


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOST_")}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env.update(ROOST_HOME=str(home), PYTHONPATH=src + os.pathsep + env.get("PYTHONPATH", ""))
    return env


async def _fill(url: str) -> None:
    async with await Store.open(url) as store:
        secrets = SecretStore(store, settings=Settings())
        for i in range(COUNT):
            await secrets.set(f"app/s{i:03d}", f"value-{i}")


async def _read_all(url: str) -> tuple[dict[str, int], list[str]]:
    async with await Store.open(url) as store:
        reader = SecretStore(store, keyring_from_settings(Settings()), settings=Settings())
        values = [await reader.get(f"app/s{i:03d}") for i in range(COUNT)]
        return await store.secrets_by_master_key(), values


def test_rotation_killed_mid_way_resumes_without_loss(tmp_path: Path, roost_home: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rot.db'}"
    asyncio.run(_fill(url))
    old = keyring_from_settings(Settings()).primary

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url],
        env=_env(roost_home),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    seen = 0
    for line in child.stdout:
        if line.startswith("rewrapped"):
            seen = int(line.split()[1])
            if seen >= 100:
                os.kill(child.pid, signal.SIGKILL)
                break
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert 100 <= seen < COUNT

    keys = read_key_file(roost_home / "master.key")
    assert len(keys) == 2 and keys[1].id == old  # the new key went first, durably
    by_key, values = asyncio.run(_read_all(url))
    assert set(by_key) == {keys[0].id, old} and sum(by_key.values()) == COUNT
    assert values == [f"value-{i}" for i in range(COUNT)]

    done = subprocess.run(
        [sys.executable, "-m", "roost.cli.main", "secrets", "rotate-master-key", "--url", url],
        env=_env(roost_home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "resumed and finished" in done.stdout
    keys_after = read_key_file(roost_home / "master.key")
    assert [k.id for k in keys_after] == [keys[0].id]
    by_key, values = asyncio.run(_read_all(url))
    assert by_key == {keys[0].id: COUNT}
    assert values == [f"value-{i}" for i in range(COUNT)]
