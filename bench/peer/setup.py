"""Create the isolated virtualenv holding the peer (AgentScope + AgentScope Runtime).

The peer never enters Roost's environment: it lives in ``bench/peer/.venv`` (ignored by
git) so its ~140 packages cannot leak into Roost's dependency set or its measurements.

Usage::

    python -m bench.peer.setup            # agentscope 2.0 + runtime 1.1.6.post2 (default)
    python -m bench.peer.setup --recreate # wipe and rebuild
    python -m bench.peer.setup --print    # print the venv's python path and exit

The combination is the one documented in docs/shared notes: ``pip install agentscope
agentscope-runtime`` resolves to agentscope 2.0.10 + agentscope-runtime 1.1.6.post2, and the
benchmark app uses agentscope 2.0's ``Agent`` inside the runtime's ``AgentApp``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
PACKAGES = ["agentscope", "agentscope-runtime"]


def venv_python(path: Path = VENV) -> Path:
    """The interpreter of the peer venv."""
    return path / "bin" / "python"


def create(path: Path = VENV, *, recreate: bool = False) -> dict[str, object]:
    """Create the venv and install the peer; return what was installed and how long it took."""
    if recreate and path.exists():
        shutil.rmtree(path)
    started = time.perf_counter()
    if not venv_python(path).exists():
        venv.EnvBuilder(with_pip=True, clear=False).create(path)
    subprocess.run(
        [str(venv_python(path)), "-m", "pip", "install", "--quiet", *PACKAGES],
        check=True,
    )
    elapsed = time.perf_counter() - started
    listing = subprocess.run(
        [str(venv_python(path)), "-m", "pip", "list", "--format=json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    versions = {p["name"].lower(): p["version"] for p in json.loads(listing)}
    info = {
        "venv": str(path),
        "python": str(venv_python(path)),
        "seconds": round(elapsed, 1),
        "agentscope": versions.get("agentscope"),
        "agentscope-runtime": versions.get("agentscope-runtime"),
        "packages": len(versions),
    }
    (path / "roost-bench-peer.json").write_text(json.dumps(info, indent=2))
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recreate", action="store_true", help="wipe the venv first")
    parser.add_argument("--print", action="store_true", help="print the venv python and exit")
    args = parser.parse_args()
    if args.print:
        if not venv_python().exists():
            sys.exit(f"peer venv missing: run `python {Path(__file__).name}` first")
        print(venv_python())
        return
    print(json.dumps(create(recreate=args.recreate), indent=2))


if __name__ == "__main__":
    main()
