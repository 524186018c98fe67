"""The providers' aiohttp path (decision 0103), against real servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fake_providers import AppServer, FakeOpenAIServer, Reply
from roost.core import Msg
from roost.core.settings import get_settings
from roost.models import OpenAIChatModel
from roost.models._aiohttp import AiohttpPoster

# Lines ending in \n, \r\n and \r, with chunk boundaries inside "\r\n" and inside a
# multi-byte character.
_PIECES = [b"data: one\r", b"\ndata: two \xc3", b"\xa9\n\ndata: t", b"h\rlast"]


async def _echo(request: Request) -> Response:
    return JSONResponse(
        {
            "body": (await request.body()).decode(),
            "content_type": request.headers.getlist("content-type"),
            "x_key": request.headers.get("x-key"),
        }
    )


async def _lines(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for piece in _PIECES:
            yield piece
            await asyncio.sleep(0.01)  # separate chunks on the wire

    return StreamingResponse(body(), media_type="text/event-stream")


async def _gzipped(request: Request) -> Response:
    return Response(
        gzip.compress(b'{"ok": true}'),
        media_type="application/json",
        headers={"content-encoding": "gzip"},
    )


async def _slow(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.sleep(3)
        yield b"never\n"

    return StreamingResponse(body())


async def _long(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b"x" * 999 + b"\n"
            await asyncio.sleep(0.001)

    return StreamingResponse(body())


APP = Starlette(
    routes=[
        Route("/echo", _echo, methods=["POST"]),
        Route("/lines", _lines, methods=["POST"]),
        Route("/gzip", _gzipped, methods=["POST"]),
        Route("/slow", _slow, methods=["POST"]),
        Route("/long", _long, methods=["POST"]),
    ]
)


@pytest.fixture(scope="module")
def server() -> AppServer:
    with AppServer(APP) as srv:
        yield srv  # type: ignore[misc]


async def _lines_of(poster: AiohttpPoster, url: str) -> list[str]:
    response = await poster.post(url, {}, {})
    try:
        return [line async for line in response.aiter_lines()]
    finally:
        await response.aclose()


async def test_a_model_uses_aiohttp_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ROOST_MODEL_HTTP", raising=False)
    with FakeOpenAIServer() as fake:
        fake.script(Reply(text="over aiohttp"), Reply(text="over httpx"), Reply(text="given"))
        model = OpenAIChatModel("m", base_url=fake.url, api_key="k")
        assert (await model.complete([Msg.user("hi")])).msg.text == "over aiohttp"
        assert isinstance(model._fast(), AiohttpPoster)
        await model.aclose()

        monkeypatch.setenv("ROOST_MODEL_HTTP", "httpx")
        get_settings.cache_clear()  # settings are read once per process
        model = OpenAIChatModel("m", base_url=fake.url, api_key="k")
        assert (await model.complete([Msg.user("hi")])).msg.text == "over httpx"
        assert model._fast() is None
        await model.aclose()

        monkeypatch.delenv("ROOST_MODEL_HTTP")
        get_settings.cache_clear()
        async with httpx.AsyncClient() as client:  # a caller's own client is used as given
            model = OpenAIChatModel("m", base_url=fake.url, api_key="k", client=client)
            assert (await model.complete([Msg.user("hi")])).msg.text == "given"
            assert model._fast() is None


async def test_an_unknown_model_http_setting_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from roost.core import ConfigError

    monkeypatch.setenv("ROOST_MODEL_HTTP", "curl")
    get_settings.cache_clear()
    model = OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", api_key="k", max_retries=0)
    with pytest.raises(ConfigError) as info:
        await model.complete([Msg.user("hi")])
    assert "ROOST_MODEL_HTTP" in info.value.message and "httpx" in (info.value.hint or "")


async def test_the_body_is_httpx_json_and_headers_are_one_per_name(server: AppServer) -> None:
    poster = AiohttpPoster(5.0, 5.0)
    try:
        response = await poster.post(
            f"{server.base}/echo",
            {"text": "é", "n": [1, 2]},
            {"Content-Type": "application/json; charset=utf-8", "X-Key": "v"},
        )
        echoed = json.loads(await response.aread())
        await response.aclose()
        assert echoed["body"] == '{"text":"é","n":[1,2]}'
        assert echoed["content_type"] == ["application/json; charset=utf-8"]
        assert echoed["x_key"] == "v"
        with pytest.raises(ValueError):  # as httpx: no NaN in JSON
            await poster.post(f"{server.base}/echo", {"x": float("nan")}, {})
    finally:
        await poster.aclose()


async def test_lines_split_on_every_line_ending_across_chunks(server: AppServer) -> None:
    poster = AiohttpPoster(5.0, 5.0)
    try:
        lines = await _lines_of(poster, f"{server.base}/lines")
    finally:
        await poster.aclose()
    expected = b"".join(_PIECES).decode().replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert lines == expected == ["data: one", "data: two é", "", "data: th", "last"]


async def test_compressed_bodies_are_decoded(server: AppServer) -> None:
    poster = AiohttpPoster(5.0, 5.0)
    try:
        response = await poster.post(f"{server.base}/gzip", {}, {})
        assert json.loads(await response.aread()) == {"ok": True}
        await response.aclose()
    finally:
        await poster.aclose()


async def test_errors_are_the_httpx_errors_httpcore_raises(server: AppServer) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    poster = AiohttpPoster(0.3, 5.0)
    try:
        with pytest.raises(httpx.ConnectError):
            await poster.post(f"http://127.0.0.1:{closed_port}/", {}, {})
        with pytest.raises(httpx.UnsupportedProtocol):
            await poster.post("ftp://127.0.0.1/", {}, {})
        with pytest.raises(httpx.ReadTimeout):
            await _lines_of(poster, f"{server.base}/slow")
    finally:
        await poster.aclose()


async def test_an_abandoned_stream_does_not_poison_the_pool(server: AppServer) -> None:
    poster = AiohttpPoster(5.0, 5.0)
    try:
        for _ in range(3):
            response = await poster.post(f"{server.base}/long", {}, {})
            async for _ in response.aiter_lines():
                break
            await response.aclose()  # half-read: its connection is closed, not reused
        assert len(await _lines_of(poster, f"{server.base}/long")) == 200
        response = await poster.post(f"{server.base}/echo", {"again": True}, {})
        assert json.loads(await response.aread())["body"] == '{"again":true}'
        await response.aclose()
    finally:
        await poster.aclose()


def test_proxies_come_from_the_environment_once_per_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.internal:3128")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1,.corp")
    monkeypatch.delenv("http_proxy", raising=False)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    poster = AiohttpPoster(5.0, 5.0)
    assert poster.proxy_for("https://api.openai.com/v1/chat/completions") == (
        "http://proxy.internal:3128"
    )
    assert poster.proxy_for("https://llm.corp/v1/chat/completions") is None
    assert poster.proxy_for("http://127.0.0.1:8080/v1/chat/completions") is None
    assert poster.proxy_for("http://api.example.com/v1") is None  # no http_proxy set
    monkeypatch.setenv("https_proxy", "http://other:1")
    assert poster.proxy_for("https://api.openai.com/v1/chat/completions") == (
        "http://proxy.internal:3128"  # looked up once
    )


_DROPPED_MODEL = """
import asyncio, gc, sys, warnings
warnings.simplefilter("default")
sys.path.insert(0, sys.argv[1])
from fake_providers import FakeOpenAIServer, Reply
from roost.core import Msg
from roost.models import OpenAIChatModel

fake = FakeOpenAIServer().__enter__()
fake.script(Reply(text="one"), Reply(text="two"), Reply(text="three"))
kept = OpenAIChatModel("m", base_url=fake.url, api_key="k")  # lives until exit


async def dropped() -> None:
    model = OpenAIChatModel("m", base_url=fake.url, api_key="k")
    print((await model.complete([Msg.user("x")])).msg.text)
    del model
    gc.collect()


asyncio.run(dropped())
print(asyncio.run(kept.complete([Msg.user("y")])).msg.text)
print(asyncio.run(kept.complete([Msg.user("z")])).msg.text)  # another loop: another pool
"""


def test_a_model_never_closed_leaves_no_unclosed_session_errors(tmp_path: Path) -> None:
    """Scripts rarely ``aclose()`` a model: its aiohttp pool closes quietly, as httpx's
    does, instead of aiohttp logging "Unclosed client session" errors."""
    out = subprocess.run(
        [sys.executable, "-c", _DROPPED_MODEL, str(Path(__file__).parent.parent)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["one", "two", "three"]
    assert "Unclosed" not in out.stderr and "never awaited" not in out.stderr, out.stderr


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (key, cert), made with the openssl CLI."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = str(folder / "key.pem"), str(folder / "cert.pem")
    args = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert]
    args += ["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(["openssl", *args], check=True, capture_output=True)
    return key, cert


def _wait_started(server: Any) -> None:
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)


async def test_tls_trusts_what_httpx_trusts_on_both_paths(
    model_http: str, tls_files: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import uvicorn

    from roost.core import ModelUnavailable

    key, cert = tls_files
    with FakeOpenAIServer() as fake:
        fake.script(Reply(text="over TLS"))  # the untrusted attempt never gets through
        config = uvicorn.Config(
            fake._app._server.config.app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            ssl_keyfile=key,
            ssl_certfile=cert,
        )
        tls = uvicorn.Server(config)
        thread = threading.Thread(target=tls.run, daemon=True)
        thread.start()
        _wait_started(tls)
        port = tls.servers[0].sockets[0].getsockname()[1]
        base = f"https://127.0.0.1:{port}/v1"
        try:
            untrusted = OpenAIChatModel("m", base_url=base, api_key="k", max_retries=0)
            with pytest.raises(ModelUnavailable):  # self-signed: not in certifi's CAs
                await untrusted.complete([Msg.user("hi")])
            await untrusted.aclose()
            monkeypatch.setenv("SSL_CERT_FILE", cert)  # an internal CA, as companies have
            trusted = OpenAIChatModel("m", base_url=base, api_key="k", max_retries=0)
            assert (await trusted.complete([Msg.user("hi")])).msg.text == "over TLS"
            await trusted.aclose()
        finally:
            tls.should_exit = True
            thread.join(timeout=10)


async def test_requests_go_through_the_environments_proxy_on_both_paths(
    model_http: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``http_proxy`` is used, end to end: the fake server plays the proxy (uvicorn takes the
    absolute-form request line), and the model's own host does not even resolve."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FakeOpenAIServer() as proxy:
        proxy.script(Reply(text="via the proxy"))
        monkeypatch.setenv("http_proxy", proxy.base)
        model = OpenAIChatModel("m", base_url="http://model.invalid/v1", api_key="k", max_retries=0)
        try:
            assert (await model.complete([Msg.user("hi")])).msg.text == "via the proxy"
        finally:
            await model.aclose()
        assert len(proxy.requests) == 1
