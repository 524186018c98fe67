"""The aiohttp transport under httpx (decision 0103), against real servers on loopback."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fake_providers import AppServer, FakeOpenAIServer, Reply
from roost.core import Msg
from roost.models import OpenAIChatModel
from roost.models._aiohttp import AiohttpTransport
from roost.models._http import default_transport


async def _echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "body": body.decode(),
            "content_type": request.headers.get("content-type"),
            "transfer_encoding": request.headers.get("transfer-encoding"),
            "query": request.url.query,
        }
    )


async def _gzipped(request: Request) -> Response:
    return Response(gzip.compress(b"hello " * 100), headers={"content-encoding": "gzip"})


async def _slow(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"first "
        await asyncio.sleep(3)
        yield b"never"

    return StreamingResponse(body())


async def _long(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(200):
            yield b"x" * 1000
            await asyncio.sleep(0.001)

    return StreamingResponse(body())


APP = Starlette(
    routes=[
        Route("/echo", _echo, methods=["GET", "POST"]),
        Route("/gzip", _gzipped),
        Route("/slow", _slow),
        Route("/long", _long),
    ]
)


@pytest.fixture(scope="module")
def server() -> AppServer:
    with AppServer(APP) as srv:
        yield srv  # type: ignore[misc]


def test_the_fast_extra_puts_aiohttp_under_the_model_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ROOST_MODEL_HTTP", raising=False)
    assert isinstance(default_transport(), AiohttpTransport)
    monkeypatch.setenv("ROOST_MODEL_HTTP", "httpx")
    assert default_transport() is None


async def test_a_model_streams_over_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROOST_MODEL_HTTP", raising=False)
    with FakeOpenAIServer() as fake:
        fake.script(Reply(text="over aiohttp"))
        model = OpenAIChatModel("m", base_url=fake.url, api_key="k")
        try:
            assert (await model.complete([Msg.user("hi")])).msg.text == "over aiohttp"
            assert isinstance(model._http()._transport, AiohttpTransport)
        finally:
            await model.aclose()


async def test_bodies_query_and_headers_go_through_unchanged(server: AppServer) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        posted = await client.post(f"{server.base}/echo?a=1&b=x%20y", json={"k": "v"})
        assert posted.status_code == 200
        echoed = posted.json()
        assert echoed["body"] == '{"k":"v"}' or echoed["body"] == '{"k": "v"}'
        assert echoed["content_type"] == "application/json"
        assert echoed["query"] == "a=1&b=x%20y"

        plain = (await client.get(f"{server.base}/echo")).json()
        assert plain["content_type"] is None  # aiohttp adds none of its own

        async def chunks() -> AsyncIterator[bytes]:
            yield b"part1,"
            yield b"part2"

        streamed = (await client.post(f"{server.base}/echo", content=chunks())).json()
        assert streamed["body"] == "part1,part2"
        assert streamed["transfer_encoding"] == "chunked"


async def test_compressed_bodies_are_decoded_by_httpx(server: AppServer) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        response = await client.get(f"{server.base}/gzip")
        assert response.headers["content-encoding"] == "gzip"
        assert response.text == "hello " * 100


async def test_errors_are_the_httpx_errors_httpcore_raises(server: AppServer) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{closed_port}/")
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://127.0.0.1/")
    async with (
        httpx.AsyncClient(
            transport=AiohttpTransport(), timeout=httpx.Timeout(5.0, read=0.3)
        ) as client,
        client.stream("GET", f"{server.base}/slow") as response,
    ):
        with pytest.raises(httpx.ReadTimeout):
            async for _ in response.aiter_bytes():
                pass


async def test_an_abandoned_stream_does_not_poison_the_pool(server: AppServer) -> None:
    transport = AiohttpTransport(limits=httpx.Limits(max_connections=1))
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(3):  # one connection: each abandoned stream must give it back
            async with client.stream("GET", f"{server.base}/long") as response:
                async for _ in response.aiter_bytes():
                    break
        assert (await client.get(f"{server.base}/echo")).json()["method"] == "GET"
        whole = await client.get(f"{server.base}/long")  # read to the end: reused after
        assert len(whole.content) == 200_000
        assert (await client.get(f"{server.base}/echo")).status_code == 200
