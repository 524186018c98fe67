"""``FallbackModel``: try the next model when one is unavailable, before any output.

A model that already streamed part of its answer is never swapped mid-reply (the caller
would see two half answers); its error is raised as is.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence

from roost.core import (
    ConfigError,
    Event,
    ModelError,
    ModelNotInstalled,
    ModelResponse,
    Msg,
)
from roost.models.base import BaseChatModel, ChatModel, ModelRequest
from roost.models.retry import is_retryable

logger = logging.getLogger("roost.models")


def should_fall_back(err: BaseException) -> bool:
    """Rate limits, 5xx, timeouts, unreachable servers and a missing local model."""
    return isinstance(err, ModelNotInstalled) or (isinstance(err, ModelError) and is_retryable(err))


def _label(model: ChatModel) -> str:
    return f"{model.provider}:{model.model_name}"


class FallbackModel(BaseChatModel):
    """A chain of models: ``primary`` first, then each of ``fallbacks`` in order.

    The final :class:`ModelResponse` says who answered in ``msg.metadata["answered_by"]``
    and, when earlier models failed, why in ``msg.metadata["fallback_errors"]``;
    ``last_model`` holds the model that answered the most recent call.
    """

    provider = "fallback"

    def __init__(
        self,
        primary: ChatModel,
        *fallbacks: ChatModel,
        fall_back_on: Callable[[BaseException], bool] = should_fall_back,
    ) -> None:
        if not fallbacks:
            raise ConfigError(
                "FallbackModel needs at least one fallback model",
                hint="FallbackModel(primary, fallback, ...)",
            )
        self.models: list[ChatModel] = [primary, *fallbacks]
        self.model_name = primary.model_name
        self.fall_back_on = fall_back_on
        self.last_model: ChatModel | None = None

    def __repr__(self) -> str:
        return f"FallbackModel({', '.join(_label(m) for m in self.models)})"

    async def request_stream(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> AsyncIterator[Event]:
        failures: list[dict[str, str]] = []
        for position, model in enumerate(self.models):
            yielded = False
            try:
                async for event in model.stream(messages, request):
                    if isinstance(event, ModelResponse):
                        event.msg.metadata["answered_by"] = _label(model)
                        if failures:
                            event.msg.metadata["fallback_errors"] = list(failures)
                        self.last_model = model
                    yielded = True
                    yield event
                return
            except Exception as err:
                last = position == len(self.models) - 1
                if yielded or last or not self.fall_back_on(err):
                    if failures and isinstance(err, ModelError):
                        err.details.setdefault("fallback_errors", failures)
                    raise
                code = err.code if isinstance(err, ModelError) else type(err).__name__
                failures.append({"model": _label(model), "code": code, "message": str(err)})
                logger.warning(
                    "model %s failed with %s; falling back to %s",
                    _label(model),
                    code,
                    _label(self.models[position + 1]),
                )

    async def aclose(self) -> None:
        for model in self.models:
            close = getattr(model, "aclose", None)
            if close is not None:
                await close()
