"""``Tool`` and the ``@tool`` decorator: a Python callable described for a model."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from pydantic import BaseModel, ValidationError

from roost.core import ToolArgumentsInvalid, ToolSpec
from roost.tools._schema import arguments_model, json_schema

ApprovalPolicy = bool | Callable[[dict[str, Any]], bool]
"""``True`` to always ask, or a predicate on the call's arguments (ask when it is true)."""


@dataclass
class Tool:
    """A callable the agent may call. ``func`` is sync, async or an async generator
    (a streaming tool: each yielded chunk becomes a ``tool.progress`` event)."""

    name: str
    func: Callable[..., Any]
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    timeout: float | None = None
    requires_approval: ApprovalPolicy = False
    source: Literal["python", "mcp"] | str = "python"
    args_model: type[BaseModel] | None = None
    """Validates the model's arguments; ``None`` for tools validated elsewhere (MCP)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (decorated tools stay usable as code)."""
        return self.func(*args, **kwargs)

    @property
    def kind(self) -> Literal["sync", "async", "stream"]:
        if inspect.isasyncgenfunction(self.func):
            return "stream"
        if inspect.iscoroutinefunction(self.func) or inspect.iscoroutinefunction(
            getattr(self.func, "__call__", None)  # noqa: B004 - async callable objects
        ):
            return "async"
        return "sync"

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    def needs_approval(self, arguments: dict[str, Any]) -> bool:
        policy = self.requires_approval
        return bool(policy(arguments)) if callable(policy) else bool(policy)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validate arguments; raise ``ToolArgumentsInvalid`` with a message a model can act on."""
        if self.args_model is None:
            return dict(arguments)
        try:
            parsed = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            problems = []
            for err in exc.errors(include_url=False):
                where = ".".join(str(p) for p in err["loc"]) or "(arguments)"
                problems.append(f"{where}: {err['msg']}")
            raise ToolArgumentsInvalid(
                f"invalid arguments for tool '{self.name}': " + "; ".join(problems),
                hint=f"call '{self.name}' again with arguments matching its schema",
                errors=problems,
            ) from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        requires_approval: ApprovalPolicy = False,
    ) -> Tool:
        tool_name = name or getattr(func, "__name__", None)
        if not tool_name or tool_name == "<lambda>":
            raise ValueError("a tool needs a name: pass name=... for lambdas and partials")
        model, doc_description = arguments_model(func, tool_name)
        return cls(
            name=tool_name,
            func=func,
            description=description if description is not None else doc_description,
            parameters=json_schema(model),
            timeout=timeout,
            requires_approval=requires_approval,
            args_model=model,
        )


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: ApprovalPolicy = False,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = None,
    requires_approval: ApprovalPolicy = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a function into a :class:`Tool`; the schema comes from its type hints and
    its docstring (``Args:`` section) describes each parameter."""

    def wrap(fn: Callable[..., Any]) -> Tool:
        return Tool.from_function(
            fn,
            name=name,
            description=description,
            timeout=timeout,
            requires_approval=requires_approval,
        )

    return wrap(func) if func is not None else wrap
