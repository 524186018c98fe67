"""Supervisor → workers → reviewer, the multi-agent pattern most teams start with.

The supervisor splits a task into subtasks (structured output), workers solve them in
parallel (fan-out, each with tools), and a reviewer accepts the combined answer or sends
it back once with notes. Runs offline with scripted models; pass ``--model SPEC`` (e.g.
``local``, ``openai:gpt-4o-mini``) to use a real one.

    python examples/supervisor_worker_reviewer.py
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from pydantic import BaseModel

from roost.agents import MsgHub, ReActAgent
from roost.core import Msg
from roost.models import ChatModel, ScriptedModel
from roost.tools import Toolkit
from roost.tools.builtin import calculator


class Plan(BaseModel):
    subtasks: list[str]


class Review(BaseModel):
    approved: bool
    notes: str = ""


TASK = "A shop sells 17 boxes of 23 apples and 12 boxes of 9 pears. How many fruits in total?"


def scripted_models() -> dict[str, Callable[[], ChatModel]]:
    """Deterministic stand-ins so the example runs anywhere (and as a test)."""
    return {
        "supervisor": lambda: ScriptedModel(
            [
                ScriptedModel.structured(
                    Plan(subtasks=["count apples: 17 * 23", "count pears: 12 * 9"])
                )
            ]
        ),
        "worker-1": lambda: ScriptedModel(
            [ScriptedModel.tool_call("calculator", {"expression": "17 * 23"}), "391 apples"]
        ),
        "worker-2": lambda: ScriptedModel(
            [ScriptedModel.tool_call("calculator", {"expression": "12 * 9"}), "108 pears"]
        ),
        "reviewer": lambda: ScriptedModel(
            [
                ScriptedModel.structured(
                    Review(approved=False, notes="Give the total, not only parts.")
                ),
                ScriptedModel.structured(Review(approved=True)),
            ]
        ),
        "writer": lambda: ScriptedModel(
            [
                ScriptedModel.tool_call("calculator", {"expression": "391 + 108"}),
                "391 apples + 108 pears = 499 fruits.",
            ]
        ),
    }


async def solve(task: str, models: dict[str, Callable[[], ChatModel]]) -> tuple[str, int]:
    """Returns (final answer, review rounds)."""
    tools = Toolkit([calculator])
    supervisor = ReActAgent(
        "supervisor", models["supervisor"](), sys_prompt="Split the task into independent subtasks."
    )
    workers = [
        ReActAgent(
            f"worker-{i}",
            models[f"worker-{i}"](),
            tools,
            sys_prompt="Solve your subtask with the calculator.",
        )
        for i in (1, 2)
    ]
    reviewer = ReActAgent(
        "reviewer", models["reviewer"](), sys_prompt="Check the answer answers the task."
    )
    writer = ReActAgent(
        "writer", models["writer"](), tools, sys_prompt="Combine the parts into the final answer."
    )

    plan = await supervisor.structured(task, Plan)
    # fan out: each worker solves its own subtask, concurrently
    parts = await asyncio.gather(
        *(worker(Msg.user(sub)) for worker, sub in zip(workers, plan.subtasks, strict=False))
    )
    answer = "; ".join(p.text for p in parts)
    rounds = 0
    async with MsgHub([reviewer, writer], announcement=f"Task: {task}\nDraft: {answer}"):
        for rounds in range(1, 3):  # noqa: B007 - the count is reported after the loop
            review = await reviewer.structured("Review the latest draft.", Review)
            if review.approved:
                break
            answer = (await writer(f"Revise the draft. Reviewer notes: {review.notes}")).text
    return answer, rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="use a real model for every role")
    args = parser.parse_args()
    models = scripted_models()
    if args.model:
        from roost.models.resolve import resolve_model

        models = {role: (lambda: resolve_model(args.model)) for role in models}
    answer, rounds = asyncio.run(solve(TASK, models))
    print(f"answer after {rounds} review round(s): {answer}")


if __name__ == "__main__":
    main()
