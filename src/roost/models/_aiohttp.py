"""Model requests over aiohttp: the HTTP providers' fast path (decision 0103).

httpx with its default transport (httpcore, h11's pure-Python parser, anyio's cancel
scopes) cost ~1 ms of CPU per streamed model reply, a third of the server's CPU per run;
httpx on an aiohttp transport still spent half of that building requests, URLs and
cookie jars. A streamed model request needs none of it: this module POSTs with aiohttp
(C parser, asyncio-native pool) and hands the providers a response with the four things
they read (status, headers, body, lines).

aiohttp's errors become the httpx errors httpcore raises in the same situation, so the
providers' typed errors (``ModelTimeout``, ``ModelUnavailable`` …) do not depend on the
path. Proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY`` …) as with httpx,
looked up once per URL: aiohttp's own ``trust_env`` also reads ``~/.netrc`` in a worker
thread on every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from multidict import CIMultiDict

# Most specific first: the first class that matches decides.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol),
    (aiohttp.ClientConnectionError, httpx.ReadError),
    (aiohttp.ClientError, httpx.TransportError),
    (TimeoutError, httpx.ReadTimeout),
)


@contextlib.contextmanager
def httpx_errors() -> Iterator[None]:
    """Re-raise aiohttp's errors as the httpx error for the same failure."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError) as exc:
        for cls, mapped in _ERRORS:
            if isinstance(exc, cls):
                raise mapped(str(exc) or type(exc).__name__) from exc
        raise  # pragma: no cover - _ERRORS ends with both caught classes


class AiohttpResponse:
    """A streamed response, read the way the providers read ``httpx.Response``."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers: Mapping[str, str] = response.headers

    async def aread(self) -> bytes:
        with httpx_errors():
            return await self._response.read()

    async def aiter_lines(self) -> AsyncIterator[str]:
        """Lines without their ending; ``\\n``, ``\\r\\n`` and ``\\r`` all end a line, also
        when a chunk boundary falls between ``\\r`` and ``\\n``."""
        pending = b""
        with httpx_errors():
            async for chunk in self._response.content.iter_any():
                data = pending + chunk if pending else chunk
                if not data:
                    continue
                lines = data.splitlines(keepends=True)
                pending = lines.pop() if not lines[-1].endswith(b"\n") else b""
                for line in lines:
                    yield line.rstrip(b"\r\n").decode("utf-8", "replace")
        if pending:
            yield pending.rstrip(b"\r").decode("utf-8", "replace")

    async def aclose(self) -> None:
        response = self._response
        if response.content.at_eof():
            response.release()  # the connection goes back to the pool
        else:
            response.close()  # abandoned half-way: the connection cannot be reused


class AiohttpPoster:
    """One aiohttp session (connection pool) for a model, opened on the first request:
    it belongs to the running event loop, as an httpx client's pool does."""

    def __init__(self, timeout: float, connect_timeout: float) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=connect_timeout, sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxies: dict[str, str | None] = {}

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url`` (``None``: direct), as httpx's
        ``trust_env`` reads it; one lookup per URL (a model posts to one or two)."""
        try:
            return self._proxies[url]
        except KeyError:
            pass
        parts = urlsplit(url)
        proxy = None
        if parts.hostname and not urllib.request.proxy_bypass(parts.hostname):
            proxy = urllib.request.getproxies().get(parts.scheme)
        self._proxies[url] = proxy
        return proxy

    @property
    def closed(self) -> bool:
        return self._session is not None and self._session.closed

    async def post(
        self, url: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> AiohttpResponse:
        session = self._session
        if session is None:
            self._loop = asyncio.get_running_loop()
            session = self._session = aiohttp.ClientSession(
                # httpx's TLS settings: certifi's CAs, SSL_CERT_FILE / SSL_CERT_DIR honoured
                connector=aiohttp.TCPConnector(ssl=httpx.create_ssl_context()),
                cookie_jar=aiohttp.DummyCookieJar(),  # an API client keeps no cookies
                timeout=self._timeout,
            )
        # the JSON httpx would send for ``json=body``
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        sent: CIMultiDict[str] = CIMultiDict({"content-type": "application/json"})
        for name, value in headers.items():
            sent[name] = value  # one header per name, whatever its case
        with httpx_errors():
            response = await session.post(
                url,
                data=data.encode(),
                headers=sent,
                allow_redirects=False,
                proxy=self.proxy_for(url),
            )
        return AiohttpResponse(response)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def __del__(self) -> None:
        # A model dropped without ``aclose()`` (the usual case in scripts) closes its pool
        # quietly, as an httpx client's would be, instead of aiohttp logging "Unclosed
        # client session" and "Unclosed connector" as errors.
        session, loop = self._session, self._loop
        if session is None or session.closed or loop is None:
            return
        connector = session.connector
        session.detach()  # the session now counts as closed
        if connector is None or connector.closed:
            return
        close = connector._close  # closes the transports now; nothing to await
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop.is_closed() or running is loop or not loop.is_running():
            close()
        else:  # the pool's loop runs in another thread: close it there
            loop.call_soon_threadsafe(close)
