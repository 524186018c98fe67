"""Shared plumbing of the HTTP providers: one client per event loop, typed errors,
retries, secret redaction and cost accounting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol

from roost.core import (
    ConfigError,
    ModelBadResponse,
    ModelError,
    ModelTimeout,
    ModelUnavailable,
    Msg,
    Usage,
)
from roost.models.base import BaseChatModel, StreamAccumulator
from roost.models.pricing import PriceTable, default_price_table
from roost.models.retry import RetryPolicy, error_for_status

if TYPE_CHECKING:
    import httpx

    from roost.models._aiohttp import AiohttpPoster

_MAX_ERROR_TEXT = 500


class StreamedResponse(Protocol):
    """What the providers read of a response: ``httpx.Response`` or the aiohttp path's."""

    status_code: int

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def aread(self) -> bytes: ...

    def aiter_lines(self) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class HttpChatModel(BaseChatModel):
    """Base of providers that stream over HTTP; subclasses build bodies and parse events."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None,
        provider: str,
        timeout: float,
        max_retries: int,
        headers: Mapping[str, str] | None,
        prices: PriceTable | None,
        client: httpx.AsyncClient | None,
        retry: RetryPolicy | None,
    ) -> None:
        self.model_name = model
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.__api_key = api_key
        self.timeout = timeout
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        self.extra_headers = dict(headers or {})
        self.prices = prices if prices is not None else default_price_table()
        self._given_client = client
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._poster: AiohttpPoster | Literal[False] | None = None  # False: the httpx path
        self._poster_loop: asyncio.AbstractEventLoop | None = None

    # -- secrets --------------------------------------------------------------------------
    def _api_key(self) -> str | None:
        return self.__api_key

    def redact(self, text: str) -> str:
        """Remove the API key from text that goes into errors or logs."""
        key = self.__api_key
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text

    def __repr__(self) -> str:
        key = "***" if self.__api_key else None
        return (
            f"{type(self).__name__}(model={self.model_name!r}, provider={self.provider!r}, "
            f"base_url={self.base_url!r}, api_key={key!r})"
        )

    # -- client ---------------------------------------------------------------------------
    def _http(self) -> httpx.AsyncClient:
        if self._given_client is not None:
            return self._given_client
        import httpx  # not at start: the aiohttp path is the default (decision 0103)

        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop or self._client.is_closed:
            # A pooled connection belongs to the loop that opened it: a model reused from
            # another loop (tests, sync wrappers) gets a fresh client.
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
            )
            self._client_loop = loop
        return self._client

    def _fast(self) -> AiohttpPoster | None:
        """The aiohttp poster of this loop, or None for the httpx path: a client given by
        the caller, no aiohttp installed, or ``ROOST_MODEL_HTTP=httpx`` (decision 0103)."""
        if self._poster is False:
            return None
        loop = asyncio.get_running_loop()
        if self._poster is None or self._poster_loop is not loop or self._poster.closed:
            self._poster = False if self._given_client is not None else _new_poster(self)
            self._poster_loop = loop
        return self._poster or None

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client, self._client = self._client, None
        if client is not None and self._client_loop is loop:
            await client.aclose()
        poster, self._poster = self._poster, None
        if poster and self._poster_loop is loop:
            await poster.aclose()

    # -- requests -------------------------------------------------------------------------
    @asynccontextmanager
    async def post_stream(
        self, url: str, body: dict[str, Any], headers: Mapping[str, str]
    ) -> AsyncIterator[StreamedResponse]:
        """POST ``body`` and yield the streaming response; HTTP errors become typed errors."""
        poster = self._fast()
        headers = {**self.extra_headers, **headers}
        inject_trace_context(headers)
        response: StreamedResponse
        if poster is not None:
            with self.translate_errors():
                response = await poster.post(url, body, headers)
        else:
            client = self._http()
            request = client.build_request("POST", url, json=body, headers=headers)
            with self.translate_errors():
                response = await client.send(request, stream=True)
        try:
            if response.status_code >= 400:
                with self.translate_errors():
                    raw = await response.aread()
                raise error_for_status(
                    response.status_code,
                    self.redact(_error_text(raw)),
                    response.headers,
                    provider=self.provider,
                )
            ctype = response.headers.get("content-type", "")
            if ctype and "event-stream" not in ctype and "json" not in ctype:
                raise ModelBadResponse(
                    f"{self.provider} at {url} answered {ctype!r} instead of an event stream",
                    hint="the base URL points at something else than the model API (it usually ends in /v1)",
                )
            yield response
        finally:
            await response.aclose()

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        """httpx failures → ``ModelTimeout`` / ``ModelUnavailable`` / ``ModelBadResponse``
        (the aiohttp path raises the same httpx errors)."""
        import httpx  # loaded by then: by the client, or by the aiohttp path's error mapping

        try:
            yield
        except httpx.TimeoutException as exc:
            raise ModelTimeout(
                f"{self.provider} model {self.model_name} did not answer within {self.timeout}s "
                f"({type(exc).__name__})",
                hint="raise the model timeout or check the server load",
            ) from None
        except httpx.TransportError as exc:
            raise ModelUnavailable(
                f"{self.provider} at {self.base_url} failed: {self.redact(str(exc)) or type(exc).__name__}",
                hint="check that the server is running and the base URL is right",
            ) from None
        except httpx.RequestError as exc:  # undecodable body, redirect loop
            raise ModelBadResponse(
                f"{self.provider} at {self.base_url} sent an unusable response: "
                f"{self.redact(str(exc)) or type(exc).__name__}",
                hint="check the base URL: it should point at the API root (…/v1)",
            ) from None

    # -- results --------------------------------------------------------------------------
    def priced(self, usage: Usage) -> Usage:
        return self.prices.cost(self.model_name, usage)

    def attach_partial(self, err: ModelError, acc: StreamAccumulator) -> None:
        """Keep what was streamed before a failure on the error (``partial_text``)."""
        partial = acc.build()
        if partial.text:
            err.details.setdefault("partial_text", partial.text)
        if partial.thinking:
            err.details.setdefault("partial_thinking", partial.thinking)

    def finish_metadata(self, msg: Msg, *, estimated: bool) -> None:
        msg.metadata["model"] = self.model_name
        msg.metadata["provider"] = self.provider
        if estimated:
            msg.metadata["usage_estimated"] = True


def _new_poster(model: HttpChatModel) -> AiohttpPoster | Literal[False]:
    from roost.core.settings import get_settings

    choice = get_settings().model_http.strip().lower()
    if choice not in ("", "aiohttp", "httpx"):
        raise ConfigError(
            f"ROOST_MODEL_HTTP={choice!r} is not a model HTTP client",
            hint="use 'aiohttp' (the default with roost[fast]) or 'httpx', or unset it",
        )
    if choice == "httpx":
        return False
    try:
        from roost.models._aiohttp import AiohttpPoster
    except ImportError:  # the ``fast`` extra is not installed
        if choice == "aiohttp":
            raise ConfigError(
                "ROOST_MODEL_HTTP=aiohttp but aiohttp is not installed",
                hint="pip install 'roost[fast]', or unset ROOST_MODEL_HTTP",
            ) from None
        return False
    return AiohttpPoster(model.timeout, min(model.timeout, 10.0))


def bad_chunk(provider: str, data: str, reason: str) -> ModelBadResponse:
    snippet = data if len(data) <= 200 else data[:200] + "…"
    return ModelBadResponse(
        f"{provider} sent a malformed stream chunk ({reason}): {snippet!r}",
        hint="the server does not speak this protocol correctly; check the base URL and server version",
    )


def estimate_tokens(chars: int) -> int:
    """Rough token count (4 characters per token) for servers that report no usage."""
    return max(1, chars // 4) if chars else 0


def _error_text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_MAX_ERROR_TEXT]
    message: Any = data
    if isinstance(data, dict):
        message = data.get("error", data.get("message", data.get("detail", data)))
        if isinstance(message, dict):
            message = message.get("message", message)
    return str(message)[:_MAX_ERROR_TEXT]


def inject_trace_context(headers: dict[str, str]) -> None:
    """Add the current span's W3C ``traceparent``/``tracestate``, so the model server's
    trace joins the caller's (nothing when no span is recording)."""
    from opentelemetry import trace

    if not trace.get_current_span().get_span_context().is_valid:
        return
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    TraceContextTextMapPropagator().inject(headers)
