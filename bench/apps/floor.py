"""The floor of the server benchmark: a bare Starlette app streaming the same SSE events as
Roost's run protocol (run.started, 20 text.delta, run.completed), persisting nothing.

    python -m bench.apps.floor --port 8091
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNKS = [f"w{i:02d} " for i in range(int(os.environ.get("BENCH_CHUNKS", "20")))]


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def create_session(request: Request) -> Response:
    await request.body()
    return JSONResponse({"id": "ses_" + secrets.token_hex(8)}, status_code=201)


async def run(request: Request) -> Response:
    body = json.loads(await request.body())
    session_id = request.path_params["session_id"]
    run_id = "run_" + secrets.token_hex(8)

    async def events() -> AsyncIterator[bytes]:
        seq = 0

        def frame(type_: str, data: dict[str, object]) -> bytes:
            nonlocal seq
            seq += 1
            env = {"seq": seq, "run_id": run_id, "session_id": session_id, **data, "type": type_}
            return f"id: {seq}\nevent: {type_}\ndata: {json.dumps(env)}\n\n".encode()

        yield frame("run.started", {"agent": "floor", "status": "running"})
        for piece in CHUNKS:
            yield frame("text.delta", {"msg_id": "msg_1", "delta": piece, "agent": "floor"})
        yield frame(
            "run.completed",
            {
                "status": "succeeded",
                "output": {"role": "assistant", "content": "".join(CHUNKS)},
                "input": body.get("input"),
            },
        )

    return StreamingResponse(events(), media_type="text/event-stream")


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Route("/v1/sessions", create_session, methods=["POST"]),
        Route("/v1/sessions/{session_id}/runs", run, methods=["POST"]),
    ]
)

if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
