"""Child-process entry point that runs llama.cpp's HTTP server through ``xllamacpp``.

Run as a script (``python -P .../_local_server.py``; it imports nothing from Roost, so it
starts fast). The parent writes one JSON line of
settings to stdin (so the API key never appears in ``ps``), the child answers one JSON
line (``{"address": ...}`` or ``{"error": ...}``) on stdout, then serves until its stdin
closes: when the parent exits, even by ``kill -9``, the pipe closes and the server stops.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any


def _serve(config: dict[str, Any]) -> Any:
    # Busy-waiting OpenMP threads starve everything else on a shared machine; this must
    # be set before the library creates its thread pool.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = config["model_path"]
    params.n_ctx = int(config["n_ctx"])
    params.n_parallel = int(config["n_parallel"])
    params.cpuparams.n_threads = int(config["n_threads"])
    params.cpuparams_batch.n_threads = int(config["n_threads"])
    params.use_jinja = True
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.api_keys = [config["api_key"]]
    params.warmup = True
    # llama.cpp's "fit" pass loads the model a first time to size the context to free
    # memory: ~1 s of a 2-3 s start. The context is set explicitly, so skip it.
    params.fit_params = False
    return xllamacpp.Server(params)


def main() -> int:
    line = sys.stdin.readline()
    try:
        config = json.loads(line)
        server = _serve(config)
        address = str(server.listening_address)
    except Exception as exc:
        sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        sys.stdout.flush()
        return 1
    sys.stdout.write(json.dumps({"address": address, "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    # Serve until the parent closes our stdin (clean stop) or dies (pipe closed).
    while sys.stdin.read(4096):
        pass
    # The server's destructor can hang when a request is being cancelled mid-flight, and
    # an orphan would keep gigabytes of RAM: give it a moment, then exit regardless.
    threading.Timer(3.0, os._exit, args=(0,)).start()
    del server
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
