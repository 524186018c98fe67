"""The benchmark harness itself: the fake OpenAI server, the load generator and /proc sampling.

No peer needed: these run the fake model server as a real subprocess on 127.0.0.1 and talk to
it over real sockets, so a broken harness is caught before it skews a comparison.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.apps import fake_openai
from bench.apps import roost as roost_app

from bench import harness
from bench import load as _load

REPO = Path(__file__).resolve().parents[2]

STREAM_REQUEST = _load.HttpRequest(
    "POST",
    "/v1/chat/completions",
    json.dumps({"model": "m", "stream": True, "messages": []}).encode(),
    {"content-type": "application/json"},
)


@pytest.fixture
def fake_server() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.apps.fake_openai", "--port", "0", "--chunks", "20"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        yield line.removeprefix("listening on "), proc
    finally:
        proc.terminate()
        proc.wait(10)


def _content(data: list[bytes]) -> list[str]:
    pieces = []
    for payload in data:
        if payload == b"[DONE]":
            continue
        for choice in json.loads(payload)["choices"]:
            if choice["delta"].get("content"):
                pieces.append(choice["delta"]["content"])
    return pieces


async def test_fake_server_streams_twenty_chunks_then_usage_and_done(
    fake_server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = fake_server
    response = await _load.fetch(url, STREAM_REQUEST)
    assert response.status == 200
    assert response.headers["content-type"] == "text/event-stream"
    data = response.sse_data()
    assert data[-1] == b"[DONE]"
    assert _content(data) == fake_openai.reply_pieces(20)
    usage = json.loads(data[-2])["usage"]
    assert usage == {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}


async def test_fake_server_answers_non_streamed_and_counts_completions(
    fake_server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = fake_server
    request = _load.HttpRequest("POST", "/v1/chat/completions", b'{"model":"x"}')
    body = json.loads((await _load.fetch(url, request)).body)
    assert body["model"] == "x"
    assert body["choices"][0]["message"]["content"] == "".join(fake_openai.reply_pieces(20))
    stats = await _load.fetch(url, _load.HttpRequest("GET", "/stats"))
    assert json.loads(stats.body) == {"served": 1}
    missing = await _load.fetch(url, _load.HttpRequest("GET", "/nope"))
    assert missing.status == 404


async def test_roost_openai_model_reads_the_fake_reply(
    fake_server: tuple[str, subprocess.Popen[str]],
) -> None:
    """The fake speaks the protocol a real OpenAI client expects (Roost's own provider)."""
    from roost.core import Msg
    from roost.models.openai import OpenAIChatModel

    url, _ = fake_server
    model = OpenAIChatModel("fake-model", base_url=url + "/v1", api_key="k", max_retries=0)
    reply = await model.complete([Msg.user("hi")])
    assert reply.msg.text == "".join(fake_openai.reply_pieces(20))
    assert reply.usage.output_tokens == 20
    assert reply.stop_reason == "end_turn"


async def test_load_generator_reports_every_run_and_percentiles(
    fake_server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = fake_server
    report = await _load.run_load(
        url,
        STREAM_REQUEST,
        total=120,
        concurrency=8,
        validate=lambda response: len(_content(response.sse_data())) == 20,
    )
    assert (report.ok, report.errors, report.requests) == (120, 0, 120)
    assert report.events_per_run == 24  # role chunk + 20 content + finish + usage + [DONE]
    assert 0 < report.p50_ms <= report.p90_ms <= report.p99_ms
    assert report.throughput_rps > 0


async def test_load_generator_counts_failed_validation_as_errors(
    fake_server: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = fake_server
    report = await _load.run_load(
        url, STREAM_REQUEST, total=10, concurrency=2, validate=lambda response: False
    )
    assert report.ok == 0 and report.errors == 10
    assert report.first_error is not None and report.first_error.startswith("HTTP 200")


async def test_load_generator_reads_chunked_keep_alive_responses() -> None:
    """Servers under test (uvicorn) stream with chunked encoding; two runs share a socket."""
    connections = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for event in (b"data: one\n\n", b"data: two\n\n"):
                writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        report = await _load.run_load(
            f"http://127.0.0.1:{port}",
            _load.HttpRequest("GET", "/"),
            total=5,
            concurrency=1,
            validate=lambda response: response.sse_data() == [b"one", b"two"],
        )
    assert report.ok == 5 and report.errors == 0
    assert connections == 1


async def test_load_generator_reports_refused_connections() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    report = await _load.run_load(
        f"http://127.0.0.1:{port}", _load.HttpRequest("GET", "/"), total=2, concurrency=1
    )
    assert report.ok == 0 and report.errors == 2
    assert report.first_error is not None and "connection" in report.first_error.lower()


async def test_scenario_runs_several_requests_per_run_on_one_connection(
    fake_server: tuple[str, subprocess.Popen[str]],
) -> None:
    """A run may be several requests (create a session, then stream in it); all are timed."""
    url, _ = fake_server
    models = _load.HttpRequest("GET", "/v1/models")

    async def two_steps(conn: _load.Connection, index: int) -> _load.HttpResponse:
        first = await conn.send(models)
        assert json.loads(first.body)["data"][0]["id"] == "fake-model"
        return await conn.send(STREAM_REQUEST)

    report = await _load.run_load(
        url,
        scenario=two_steps,
        total=6,
        concurrency=3,
        validate=lambda response: response.sse_data()[-1] == b"[DONE]",
    )
    assert report.ok == 6
    stats = await _load.fetch(url, _load.HttpRequest("GET", "/stats"))
    assert json.loads(stats.body) == {"served": 6}
    with pytest.raises(ValueError, match="exactly one"):
        await _load.run_load(url, STREAM_REQUEST, scenario=two_steps, total=1, concurrency=1)


TEST_KEY = "rk_test_key_0123456789abcdef"


@pytest.fixture
def roost_bench_server(
    fake_server: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """bench.apps.roost as a real server process: (its URL, the fake model URL, process)."""
    url, _ = fake_server
    port = harness.free_port()
    env = {**os.environ, "ROOST_HOME": str(tmp_path), roost_app.ADMIN_KEY_ENV: TEST_KEY}
    command = [sys.executable, "-m", "bench.apps.roost", "--port", str(port)]
    command += ["--model-url", url + "/v1", "--store", "file"]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
    )
    try:
        yield f"http://127.0.0.1:{port}", url + "/v1", server
    finally:
        harness.stop(server)


async def test_roost_bench_app_streams_complete_runs_and_keeps_auth_on(
    roost_bench_server: tuple[str, str, subprocess.Popen[bytes]],
) -> None:
    """Roost's side of the comparison works end to end against the fake model."""
    base, model_url, server = roost_bench_server
    await harness.wait_healthy(base, roost_app.HEALTH_PATH, server, limit=60)
    report = await _load.run_load(
        base,
        scenario=roost_app.scenario("hi", key=TEST_KEY),
        total=3,
        concurrency=1,
        validate=roost_app.valid_run,
    )
    assert (report.ok, report.errors) == (3, 0)
    assert await harness.model_calls(model_url) == 3
    refused = await _load.run_load(
        base, scenario=roost_app.scenario("hi", key="wrong"), total=1, concurrency=1
    )
    assert refused.errors == 1
    assert refused.first_error is not None and refused.first_error.startswith("HTTP 401")


def test_percentile_interpolates() -> None:
    assert _load.percentile([1, 2, 3, 4], 50) == 2.5
    assert _load.percentile([5], 99) == 5
    assert _load.percentile(list(range(101)), 99) == 99


def test_procstat_charges_cpu_to_the_process_tree() -> None:
    """A child burning CPU is counted in its parent's tree sample."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time\\nt=time.process_time()\\nwhile time.process_time()-t<0.3: pass\\n"
            "time.sleep(30)'])",
        ]
    )
    try:
        deadline = 200
        while deadline and harness.sample(parent.pid).cpu_s < 0.3:
            deadline -= 1
            subprocess.run(["sleep", "0.05"])
        tree = harness.sample(parent.pid)
        assert tree.processes == 2
        assert tree.cpu_s >= 0.3
        assert tree.rss_bytes > harness.sample(parent.pid).rss_bytes // 2 > 0
    finally:
        for pid in harness.tree(parent.pid)[1:]:
            subprocess.run(["kill", str(pid)])
        parent.wait(10)


@pytest.mark.parametrize("side", ["roost", "floor"])
def test_inprocess_bench_runs_both_sides(side: str, tmp_path: Path) -> None:
    # the socket-free harness drives the same app and checks every stream it gets
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.inprocess",
            *("--side", side, "--runs", "20", "--warmup", "5", "--concurrency", "4"),
        ],
        env={**os.environ, "ROOST_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=REPO,
    )
    assert out.stdout.startswith(f"{side}: ") and "ms CPU per run" in out.stdout


async def test_db_floor_streams_like_the_floor_and_keeps_every_row(tmp_path: Path) -> None:
    """The persisting floor (decision 0109) streams what the floor streams and writes the
    rows a persisted run must keep, on Roost's tables, before its stream ends."""
    import sqlite3

    from bench import server as bench_server

    port = harness.free_port()
    proc = bench_server.start("dbfloor", port, str(tmp_path), observe=False)
    try:
        base = f"http://127.0.0.1:{port}"
        await harness.wait_healthy(base, "/healthz", proc, limit=60)
        report = await _load.run_load(
            base,
            scenario=bench_server.scenario(bench_server.ADMIN_KEY),
            total=3,
            concurrency=2,
            validate=bench_server.valid,
        )
        assert (report.ok, report.errors) == (3, 0)
    finally:
        harness.stop(proc)
    db = sqlite3.connect(tmp_path / "floor.db")
    count = {
        t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("sessions", "runs", "messages", "run_events", "agent_states")
    }
    assert count == {"sessions": 3, "runs": 3, "messages": 6, "run_events": 66, "agent_states": 3}
    assert db.execute("SELECT DISTINCT status FROM runs").fetchall() == [("succeeded",)]
    roles = db.execute("SELECT role, seq FROM messages ORDER BY session_id, seq").fetchall()
    assert roles == [("user", 1), ("assistant", 2)] * 3
