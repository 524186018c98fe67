"""Constrained decision mode for small models.

Each step the model must emit JSON matching a schema — ``{"tool": <one of the real tool
names>, "arguments": {...}}`` or ``{"answer": "..."}`` — through ``response_format``
json_schema, so every tool call is well-formed even when the model cannot do native
tool calls (see docs/decisions/0003-decision-mode.md).
"""

from __future__ import annotations

import json
import re
from typing import Any

from roost.core import Msg, TextBlock, ToolSpec

_PROMPT = """Reply with exactly one JSON object, in one of two forms:
{{"thought": "<one short sentence>", "tool": "<tool name>", "arguments": {{...}}}}
{{"thought": "<one short sentence>", "answer": "<your final answer>"}}

In "thought", first say what the question needs. Then:
- Call a tool only when the question needs what that tool does (exact arithmetic, running
  code, files, the current time, a person, a record). Never guess values a tool can give
  you, and never do arithmetic in your head when a tool can compute it.
- When the user asks for a tool or for code to run ("use the calculator", "using
  Python"), call that tool and answer with its result, not with code.
- Do NOT call a tool for greetings, thanks, opinions or general knowledge that no tool
  provides (geography, science, history, language, definitions): answer directly.
- Some questions need several tools in turn, e.g. look a value up, then calculate with
  it. After each tool result, decide again: call the next tool if the question still
  needs it, otherwise answer using the results.
- When a tool result answers the question, answer at once. Never repeat a call that
  already returned a result.
- When a tool returns an error, correct the arguments and call it again, or explain the
  problem in your answer.
{answer_rules}
Tools:
{tools}"""

_ANSWER_ONLY = """Reply with exactly one JSON object:
{{"thought": "<one short sentence>", "answer": "<your final answer>"}}
{answer_rules}"""

_ANSWER_RULES = """The "answer" states the result itself (the number, the name, the text), not
a description of what you did. The user sees only the answer, never the thought: put
everything the answer needs in it. Follow the format the user asks for (one word, a
number only, yes or no). Answer in the language of the user's question.
"""

THOUGHT_MAX_CHARS = 160
ANSWER_MAX_CHARS = 2000
ARGUMENT_MAX_CHARS = 400
"""String caps compiled into the grammar: a small model that starts a runaway number or
repetition inside a string is cut off cleanly instead of hitting ``max_tokens``."""


def decision_prompt(specs: list[ToolSpec]) -> str:
    """The instructions of decision mode; without tools, those of an answer alone."""
    if not specs:
        return _ANSWER_ONLY.format(answer_rules=_ANSWER_RULES)
    lines = []
    for spec in specs:
        params = json.dumps(spec.parameters.get("properties", {}), ensure_ascii=False)
        lines.append(f"- {spec.name}: {spec.description or '(no description)'} arguments: {params}")
    return _PROMPT.format(tools="\n".join(lines), answer_rules=_ANSWER_RULES)


def _simple(schema: dict[str, Any]) -> bool:
    text = json.dumps(schema)
    return "$ref" not in text and "$defs" not in text


def decision_schema(
    specs: list[ToolSpec],
    *,
    allow_tools: bool = True,
    allow_answer: bool = True,
    answer_pattern: str | None = None,
) -> dict[str, Any]:
    """The response_format for one step. ``allow_tools=False`` forces an answer,
    ``allow_answer=False`` a tool call (ignored without tools: a step must be able to
    end); ``answer_pattern`` constrains the answer's text (e.g. to start in the user's
    script)."""
    answer_text: dict[str, Any] = (
        {"type": "string", "pattern": answer_pattern}
        if answer_pattern
        else {"type": "string", "maxLength": ANSWER_MAX_CHARS}
    )
    answer = {
        "type": "object",
        "properties": {
            "thought": {"type": "string", "maxLength": THOUGHT_MAX_CHARS},
            "answer": answer_text,
        },
        "required": ["thought", "answer"],
        "additionalProperties": False,
    }
    branches: list[dict[str, Any]] = []
    if allow_tools:
        for spec in specs:
            params = spec.parameters if _simple(spec.parameters) else {"type": "object"}
            params = _cap_strings({k: v for k, v in params.items() if k != "additionalProperties"})
            branches.append(
                {
                    "type": "object",
                    "properties": {
                        "thought": {"type": "string", "maxLength": THOUGHT_MAX_CHARS},
                        "tool": {"const": spec.name},
                        "arguments": params,
                    },
                    "required": ["thought", "tool", "arguments"],
                    "additionalProperties": False,
                }
            )
    if allow_answer or not branches:
        branches.append(answer)
    schema = branches[0] if len(branches) == 1 else {"anyOf": branches}
    return {
        "type": "json_schema",
        "json_schema": {"name": "decision", "strict": True, "schema": schema},
    }


def _cap_strings(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    if not isinstance(props, dict):
        return schema
    capped = {
        name: {**prop, "maxLength": ARGUMENT_MAX_CHARS}
        if isinstance(prop, dict) and prop.get("type") == "string" and "maxLength" not in prop
        else prop
        for name, prop in props.items()
    }
    return {**schema, "properties": capped}


def repeat_note(name: str, result: str, *, missing: str | None = None) -> str:
    """Told to a model that decided to repeat a call it already has the result of; with
    ``missing`` (the question, when it still needs a tool step) it is sent to that step
    instead of to the answer."""
    done = f"You already called {name} with these arguments and got: {result[:1500]}\n"
    if missing is not None:
        return (
            done + f"Do not repeat it. The question is not done yet: {missing}\n"
            "Call the tool for the step that is still missing."
        )
    return done + "Do not call it again. Give the final answer now, using this result."


RESULT_HINT = "If this answers the question, give the final answer now."
"""(A two-sided hint, "call the next tool or answer", was tried on every question:
multistep tasks got worse, 2 of 3 wrong where this one had them right.)"""
STEP_LEFT_HINT = (
    "The question is not done yet: {question}\n"
    "Call the tool for the step that is still missing (a file to write, read or list, "
    "code to run, a calculation)."
)
"""Told with a result when the question needs more tool steps than were made: the
grammar then allows only a tool call, and the hint says why."""
ERROR_HINT = "Correct the arguments and call the tool again, or explain the problem in your answer."
RETRY_HINT = (
    "The question is not done yet: {question}\n"
    "Correct the arguments and call the tool again, or first call the tool for a step "
    "that is missing (e.g. create a file before running it)."
)
"""``ERROR_HINT`` when the question still needs a successful call: no answer allowed."""

TRUNCATED_NOTE = (
    "Your previous reply was cut off before the JSON object was complete. "
    "Reply again with one short, complete JSON object."
)


def parse_decision(text: str) -> dict[str, Any] | None:
    """Parse the model's JSON decision; ``None`` when it is not a valid decision."""
    raw = text.strip()
    if raw.startswith("```"):
        raw = re.sub(r"^```(?:json)?\s*|\s*```$", "", raw)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("answer"), str):
        return {"answer": value["answer"]}
    if isinstance(value.get("tool"), str):
        args = value.get("arguments")
        return {"tool": value["tool"], "arguments": args if isinstance(args, dict) else {}}
    return None


def render_history(
    msgs: list[Msg], *, result_hint: str = RESULT_HINT, error_hint: str = ERROR_HINT
) -> list[Msg]:
    """Render tool calls and results as plain text turns for models without native tools;
    the latest result ends with what to do with it."""
    out: list[Msg] = []
    for i, msg in enumerate(msgs):
        if msg.tool_uses:
            parts = [msg.text] if msg.text else []
            for call in msg.tool_uses:
                parts.append(json.dumps({"tool": call.name, "arguments": call.input}))
            out.append(Msg(id=msg.id, role="assistant", content="\n".join(parts)))
        elif msg.tool_results:
            lines = []
            for res in msg.tool_results:
                label = "error" if res.is_error else "result"
                lines.append(f"Tool {res.name} {label}: {res.text}")
            if i == len(msgs) - 1:  # the step after a result: say what to do with it
                failed = any(
                    r.is_error and r.code != "repeated_tool_call" for r in msg.tool_results
                )
                lines.append(error_hint if failed else result_hint)
            out.append(Msg(id=msg.id, role="user", content="\n".join(lines)))
        elif msg.role == "assistant" and msg.text:
            out.append(Msg(id=msg.id, role="assistant", content=[TextBlock(text=msg.text)]))
        else:
            out.append(msg)
    return out


class AnswerStreamer:
    """Extracts the ``answer`` string from a streaming ``{"answer": "..."}`` so the user
    sees text as it is generated, not after the whole JSON arrived."""

    _OPEN = re.compile(r'(?<!\\)"answer"\s*:\s*"')

    def __init__(self) -> None:
        self.buffer = ""
        self._start: int | None = None
        self._emitted = 0
        self._closed = False

    def feed(self, delta: str) -> str:
        self.buffer += delta
        if self._closed:
            return ""
        if self._start is None:
            match = self._OPEN.search(self.buffer)
            if not match:
                return ""
            self._start = match.end()
        decoded, closed = _decode_partial(self.buffer[self._start :])
        self._closed = closed
        new = decoded[self._emitted :]
        self._emitted = len(decoded)
        return new


def _decode_partial(body: str) -> tuple[str, bool]:
    """Decode a JSON string body that may be cut anywhere; returns (text, closed)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            return "".join(out), True
        if ch == "\\":
            if i + 1 >= len(body):
                break
            nxt = body[i + 1]
            if nxt == "u":
                if i + 6 > len(body):
                    break
                try:
                    out.append(chr(int(body[i + 2 : i + 6], 16)))
                except ValueError:
                    out.append(body[i : i + 6])
                i += 6
                continue
            out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out), False
