"""Benchmark the embedded local model as an agent: quality and speed on a fixed task set.

Runs 24 tasks (direct questions, arithmetic that needs a calculator, a lookup tool, and
two-step lookup + arithmetic) through ``ReActAgent`` + ``LocalModel`` in decision mode and
reports task success rate, tool-call validity (well-formed decisions naming a real tool
with valid arguments), mean model calls per task, generation tokens/s, time to first
token, time to ready and server RSS.

    python -m bench.local_model --model qwen2.5-coder-0.5b [--threads 2] [--json out.json]

The model must be installed (``roost model install NAME``) under ``ROOST_HOME``.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import operator
import re
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from roost.agents import ReActAgent
from roost.core import Event, ModelResponse, Msg, TextDelta, ToolResultEvent, ToolSpec
from roost.models.local import LocalModel
from roost.tools import Toolkit

# --- tools ------------------------------------------------------------------------------
_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}

EMPLOYEES = {
    "marta kowalski": {"extension": "4417", "office": "Lisbon", "team": "payments"},
    "devon okafor": {"extension": "2093", "office": "Nairobi", "team": "search"},
    "yuki tanabe": {"extension": "3862", "office": "Osaka", "team": "infra"},
    "lena fischer": {"extension": "1508", "office": "Hamburg", "team": "security"},
    "rafael souza": {"extension": "2771", "office": "Recife", "team": "mobile"},
    "amira haddad": {"extension": "3349", "office": "Tunis", "team": "data"},
}


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression with + - * / and parentheses.

    Args:
        expression: the arithmetic expression to evaluate.
    """

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"unsupported expression: {expression}")

    value = ev(ast.parse(expression, mode="eval").body)
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def lookup_employee(name: str) -> str:
    """Look up an employee of ACME Corp in the company directory.

    Args:
        name: the employee's full name.
    """
    record = EMPLOYEES.get(name.strip().lower())
    if record is None:
        return f"no employee named {name!r}"
    return json.dumps({"name": name, **record})


# --- tasks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    kind: str
    prompt: str
    expect: tuple[str, ...]
    """The answer must contain one of these (case-insensitive, commas ignored)."""


TASKS: list[Task] = [
    Task("direct", "What is the capital of France?", ("paris",)),
    Task("direct", "What is the capital of Japan?", ("tokyo",)),
    Task("direct", "Which planet is known as the Red Planet?", ("mars",)),
    Task("direct", "What is the chemical symbol of gold?", ("au",)),
    Task("direct", "How many days are there in a week?", ("7", "seven")),
    Task("direct", "Which language is spoken in Brazil?", ("portuguese",)),
    Task("arithmetic", "What is 1234 * 5678?", ("7006652",)),
    Task("arithmetic", "What is 98765 - 43210?", ("55555",)),
    Task("arithmetic", "What is 4821 * 377?", ("1817517",)),
    Task("arithmetic", "Compute (125 + 375) * 16.", ("8000",)),
    Task("arithmetic", "What is 7 * 8 * 9 * 11?", ("5544",)),
    Task("arithmetic", "What is 123456 + 654321?", ("777777",)),
    Task("lookup", "What is the phone extension of Marta Kowalski?", ("4417",)),
    Task("lookup", "In which office does Devon Okafor work?", ("nairobi",)),
    Task("lookup", "Which team is Yuki Tanabe on?", ("infra",)),
    Task("lookup", "What is Lena Fischer's phone extension?", ("1508",)),
    Task("lookup", "Where is Rafael Souza's office?", ("recife",)),
    Task("lookup", "Which team does Amira Haddad work in?", ("data",)),
    Task(
        "two-step",
        "Look up Marta Kowalski's extension and multiply it by 3.",
        ("13251",),
    ),
    Task(
        "two-step",
        "Look up Devon Okafor's extension and add 1000 to it.",
        ("3093",),
    ),
    Task(
        "two-step",
        "What is Yuki Tanabe's extension divided by 2?",
        ("1931",),
    ),
    Task(
        "two-step",
        "Look up Lena Fischer's extension and multiply it by 4.",
        ("6032",),
    ),
    Task("two-step", "What is Amira Haddad's extension minus 349?", ("3000",)),
    Task("two-step", "Add 29 to Rafael Souza's extension.", ("2800",)),
]


# Example values in tool descriptions get copied by small models ("Jane Doe"), so the
# tools above describe their arguments plainly.
SYS_PROMPT = (
    "You are a concise assistant. Answer general-knowledge questions directly. Use the "
    "calculator for arithmetic and the directory for questions about ACME employees."
)


# --- instrumentation --------------------------------------------------------------------
@dataclass
class CallStats:
    ttft: list[float] = field(default_factory=list)
    gen_seconds: float = 0.0
    gen_tokens: int = 0
    calls: int = 0
    decisions: int = 0
    valid_decisions: int = 0
    tool_decisions: int = 0


class MeasuredModel:
    """Wraps LocalModel to time each call and check each decision it produces."""

    preferred_tool_mode = "decision"

    def __init__(self, inner: LocalModel, tools: dict[str, set[str]], stats: CallStats) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.provider = inner.provider
        self.tools = tools
        self.stats = stats

    async def stream(
        self, messages: Sequence[Msg], *, tools: Sequence[ToolSpec] | None = None, **kw: Any
    ) -> AsyncIterator[Event]:
        start = time.perf_counter()
        first: float | None = None
        async for event in self.inner.stream(messages, tools=tools, **kw):
            if isinstance(event, TextDelta) and first is None:
                first = time.perf_counter()
                self.stats.ttft.append(first - start)
            if isinstance(event, ModelResponse):
                end = time.perf_counter()
                self.stats.calls += 1
                tokens = event.usage.output_tokens
                if first is not None and tokens > 1:
                    self.stats.gen_seconds += end - first
                    self.stats.gen_tokens += tokens - 1
                if kw.get("response_format") is not None:
                    self._check(event.msg.text)
            yield event

    async def complete(self, messages: Sequence[Msg], **kw: Any) -> ModelResponse:
        final = None
        async for event in self.stream(messages, **kw):
            if isinstance(event, ModelResponse):
                final = event
        assert final is not None
        return final

    def _check(self, text: str) -> None:
        self.stats.decisions += 1
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return
        if isinstance(value, dict) and isinstance(value.get("answer"), str):
            self.stats.valid_decisions += 1
            return
        if not isinstance(value, dict) or "tool" not in value:
            return
        self.stats.tool_decisions += 1
        required = self.tools.get(str(value["tool"]))
        args = value.get("arguments")
        if required is not None and isinstance(args, dict) and required <= set(args):
            self.stats.valid_decisions += 1


@dataclass
class TaskResult:
    task: Task
    ok: bool
    answer: str
    tool_calls: int
    tool_errors: int
    seconds: float


async def run_task(
    model: MeasuredModel, toolkit: Toolkit, task: Task, max_iters: int
) -> TaskResult:
    agent = ReActAgent(
        "bench",
        model,  # type: ignore[arg-type]
        toolkit,
        sys_prompt=SYS_PROMPT,
        max_iters=max_iters,
        model_options={"temperature": 0, "max_tokens": 160},
    )
    start = time.perf_counter()
    answer, calls, errors = "", 0, 0
    try:
        async for event in agent.reply(Msg.user(task.prompt)):
            if isinstance(event, ToolResultEvent):
                calls += 1
                errors += int(event.result.is_error)
            if type(event).__name__ == "ReplyFinished":
                answer = event.msg.text  # type: ignore[attr-defined]
    except Exception as exc:  # a benchmark reports failures, it does not stop on them
        answer = f"<error {type(exc).__name__}: {exc}>"
    normalized = answer.lower().replace(",", "")
    ok = any(re.search(rf"(?<![\w.]){re.escape(e)}(?![\w]|\.\d)", normalized) for e in task.expect)
    return TaskResult(task, ok, answer, calls, errors, time.perf_counter() - start)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    local = LocalModel(args.model, n_threads=args.threads, n_parallel=1)
    t0 = time.perf_counter()
    server = await local.start()
    ready = time.perf_counter() - t0

    # Raw speed first: one unconstrained generation (decision steps add grammar cost).
    plain = CallStats()
    plain_model = MeasuredModel(local, {}, plain)
    await plain_model.complete(
        [Msg.user("Write a short paragraph about the sea.")],
        temperature=0,
        max_tokens=128,
        ignore_eos=True,
    )

    toolkit = Toolkit()
    toolkit.register(calculator)
    toolkit.register(lookup_employee)
    required = {s.name: set(s.parameters.get("required", [])) for s in toolkit.specs()}
    stats = CallStats()
    model = MeasuredModel(local, required, stats)

    results: list[TaskResult] = []
    tasks = TASKS[: args.limit] if args.limit else TASKS
    if args.kinds:
        kinds = set(args.kinds.split(","))
        tasks = [t for t in tasks if t.kind in kinds]
    for task in tasks:
        result = await run_task(model, toolkit, task, args.max_iters)
        results.append(result)
        mark = "ok " if result.ok else "BAD"
        print(
            f"{mark} {task.kind:10} {result.seconds:5.1f}s tools={result.tool_calls} "
            f"{task.prompt[:50]!r} -> {result.answer[:70]!r}",
            file=sys.stderr,
            flush=True,
        )
    rss = server.rss_bytes() or 0
    await LocalModel.shutdown_all()

    by_kind: dict[str, list[bool]] = {}
    for r in results:
        by_kind.setdefault(r.task.kind, []).append(r.ok)
    report = {
        "model": local.model_name,
        "threads": local.config.n_threads,
        "tasks": len(results),
        "success_rate": sum(r.ok for r in results) / len(results),
        "success_by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in by_kind.items()},
        "decision_validity": stats.valid_decisions / max(1, stats.decisions),
        "decisions": stats.decisions,
        "tool_calls": sum(r.tool_calls for r in results),
        "tool_errors": sum(r.tool_errors for r in results),
        "mean_model_calls_per_task": stats.calls / len(results),
        "plain_generation_tok_s": plain.gen_tokens / plain.gen_seconds
        if plain.gen_seconds
        else 0.0,
        "plain_ttft_s": plain.ttft[0] if plain.ttft else None,
        "decision_generation_tok_s": (
            stats.gen_tokens / stats.gen_seconds if stats.gen_seconds else 0.0
        ),
        "ttft_median_s": statistics.median(stats.ttft) if stats.ttft else None,
        "ttft_p90_s": statistics.quantiles(stats.ttft, n=10)[-1] if len(stats.ttft) > 2 else None,
        "ready_s": ready,
        "server_rss_mb": rss / 1e6,
        "mean_task_s": statistics.mean(r.seconds for r in results),
    }
    return report


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--limit", type=int, default=0, help="run only the first N tasks")
    parser.add_argument(
        "--kinds", default="", help="comma-separated task kinds to run (direct,arithmetic,...)"
    )
    parser.add_argument("--max-iters", type=int, default=4)
    parser.add_argument("--json", default=None, help="also write the report here")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _parse()
    out = asyncio.run(main(arguments))
    text = json.dumps(out, indent=2)
    print(text)
    if arguments.json:
        with open(arguments.json, "w") as fh:
            fh.write(text + "\n")
