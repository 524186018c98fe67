"""Privacy routing: the model gateway's private/public split.

A prompt that contains sensitive data (the DLP detectors), or that comes from a tenant
marked confidential, goes only to a model marked private — the local model, an
on-premise vLLM or Ollama, any endpoint on a loopback or private address — and never to
a public endpoint. :class:`PrivacyRouter` wraps the model an agent uses; what it decided
is a ``policy.applied`` event in the run's stream (``rerouted``, ``redacted`` or
``refused``), and a refusal ends the model call with ``prompt_blocked_by_policy``.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

from roost.core import Event, Msg, PolicyApplied, TextBlock, ToolResultBlock
from roost.govern.dlp import Redactor
from roost.govern.errors import PromptBlocked
from roost.models.base import BaseChatModel, ChatModel, ModelRequest
from roost.models.fallback import FallbackModel

PRIVATE_PROVIDERS = frozenset({"local", "scripted", "ollama"})
_PRIVATE_SUFFIXES = (".local", ".internal", ".lan", ".svc", ".cluster.local", ".intranet")


@dataclass(frozen=True)
class TenantScope:
    """The data protection of the tenant a run belongs to, for the models it calls."""

    confidential: bool = False
    redactor: Redactor | None = None


_scope: ContextVar[TenantScope | None] = ContextVar("roost_tenant_scope", default=None)


@contextlib.contextmanager
def tenant_scope(scope: TenantScope | None) -> Iterator[None]:
    """Within: routers that were not given a policy use this tenant's (the server sets
    it around each run, so an app's agent needs no change)."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


def enter_tenant_scope(scope: TenantScope | None) -> None:
    """Set the scope for the rest of the current task (a run's own task)."""
    _scope.set(scope)


def is_private(model: ChatModel) -> bool:
    """Is ``model`` private: declared so (``model.private = True``), a local provider, or
    an endpoint whose host is loopback, a private address or an internal name? A chain
    is private when every model in it is."""
    declared = getattr(model, "private", None)
    if isinstance(declared, bool):
        return declared
    if isinstance(model, FallbackModel):
        return all(is_private(m) for m in model.models)
    if model.provider in PRIVATE_PROVIDERS:
        return True
    base = getattr(model, "base_url", None)
    if not isinstance(base, str):
        return False
    host = (urlsplit(base).hostname or "").lower()
    if host == "localhost" or host.endswith(_PRIVATE_SUFFIXES):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local


def _label(model: ChatModel) -> str:
    if isinstance(model, FallbackModel):
        return ",".join(_label(m) for m in model.models if not is_private(m))
    return f"{model.provider}:{model.model_name}"


def prompt_text(messages: Sequence[Msg]) -> str:
    """What a provider would read: the text of every message and tool result."""
    parts: list[str] = []
    for msg in messages:
        for block in msg.content:
            if isinstance(block, TextBlock):
                parts.append(block.text)
            elif isinstance(block, ToolResultBlock):
                parts += [b.text for b in block.content if isinstance(b, TextBlock)]
    return "\n".join(parts)


def _redacted(messages: Sequence[Msg], redactor: Redactor) -> list[Msg]:
    out = []
    for msg in messages:
        blocks = []
        for block in msg.content:
            if isinstance(block, TextBlock):
                block = block.model_copy(update={"text": redactor.redact(block.text, "prompts")})
            elif isinstance(block, ToolResultBlock):
                inner = [
                    b.model_copy(update={"text": redactor.redact(b.text, "prompts")})
                    if isinstance(b, TextBlock)
                    else b
                    for b in block.content
                ]
                block = block.model_copy(update={"content": inner})
            blocks.append(block)
        out.append(msg.model_copy(update={"content": blocks}))
    return out


class PrivacyRouter(BaseChatModel):
    """Sends each prompt to ``model`` or, when the policy requires, to ``private``.

    ``model`` may itself be private (then nothing changes) or a fallback chain holding a
    private model (which is then the one used for sensitive prompts).
    """

    def __init__(
        self,
        model: ChatModel,
        private: ChatModel | None = None,
        *,
        redactor: Redactor | None = None,
        confidential: bool | None = None,
    ) -> None:
        self.model = model
        if private is None and isinstance(model, FallbackModel):
            private = next((m for m in model.models if is_private(m)), None)
        self.private = private if private is not None else (model if is_private(model) else None)
        self.redactor = redactor
        self.confidential = confidential
        """None: the run's tenant decides (:func:`tenant_scope`)."""
        self._default = Redactor()
        self.model_name = model.model_name
        self.provider = model.provider

    def __repr__(self) -> str:
        private = _label(self.private) if self.private is not None else None
        return f"PrivacyRouter({_label(self.model)}, private={private})"

    async def request_stream(
        self, messages: Sequence[Msg], request: ModelRequest
    ) -> AsyncIterator[Event]:
        target, sent = self.model, list(messages)
        scope = _scope.get()
        redactor = self.redactor or (scope.redactor if scope else None) or self._default
        confidential = self.confidential
        if confidential is None:
            confidential = scope.confidential if scope is not None else False
        if not is_private(self.model):
            action = redactor.action("prompts")
            kinds = sorted({f.kind for f in redactor.detector.find(prompt_text(messages))})
            reason = "confidential_tenant" if confidential else "sensitive_data"
            if confidential or (kinds and action == "route"):
                if self.private is None:
                    yield PolicyApplied(
                        action="refused", reason=reason, kinds=kinds, avoided=_label(self.model)
                    )
                    raise PromptBlocked(
                        "this prompt may only go to a private model and none is configured"
                        + (f" (detected: {', '.join(kinds)})" if kinds else ""),
                        hint="add a private model (local, an on-premise endpoint) to the chain",
                        kinds=kinds,
                    )
                target = self.private
                yield PolicyApplied(
                    action="rerouted",
                    reason=reason,
                    kinds=kinds,
                    model=_label(target),
                    avoided=_label(self.model),
                )
            elif kinds and action in ("mask", "hash", "drop"):
                sent = _redacted(messages, redactor)
                yield PolicyApplied(
                    action="redacted", reason="sensitive_data", kinds=kinds, model=_label(target)
                )
        async for event in target.stream(sent, request):
            yield event

    async def aclose(self) -> None:
        for model in {id(m): m for m in (self.model, self.private) if m is not None}.values():
            close = getattr(model, "aclose", None)
            if close is not None:
                await close()
