"""A model call's request: its tools, tool choice, output format and options in one
object, or the keyword parameters that describe it."""

from __future__ import annotations

import pytest

from roost.core import Msg, ToolSpec
from roost.models import ModelRequest, ScriptedModel


async def test_a_request_is_given_whole_or_as_keyword_parameters_not_both() -> None:
    search = ToolSpec(name="search", description="Search.", parameters={"type": "object"})
    model = ScriptedModel(["a", "b"])
    await model.complete([Msg.user("x")], ModelRequest(tools=(search,), options={"seed": 7}))
    await model.complete([Msg.user("y")], tools=[search], seed=7)
    first, second = model.calls
    assert (first.tools, first.options) == (second.tools, second.options) == ([search], {"seed": 7})
    with pytest.raises(TypeError):
        await model.complete([Msg.user("z")], ModelRequest(), seed=7)
