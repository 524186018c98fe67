"""LLM-as-judge: a model grades the reply against a rubric and says why.

The judge is asked for one JSON object ``{"score": 0..1, "reasoning": "..."}``; its
reasoning is stored with the score. Any configured model works (the local model
offline). A reply that is not such an object is a scorer error, counted apart from
failed cases, never a pass.
"""

from __future__ import annotations

import json
import re
from typing import Any

from roost.core import Msg, RoostError
from roost.evals.cases import Case
from roost.evals.errors import ScorerFailed
from roost.evals.score import Outcome, Score

_PROMPT = """You are grading an AI assistant's reply.

Rubric:
{rubric}

Conversation (last user turn last):
{conversation}
{reference}
The assistant replied:
<<<
{output}
>>>

Answer with ONE JSON object and nothing else:
{{"score": <a number from 0 to 1>, "reasoning": "<one or two sentences>"}}"""

_OBJECT = re.compile(r"\{.*\}", re.S)


def parse_verdict(text: str) -> tuple[float, str]:
    """``(score, reasoning)`` from the judge's reply, or ``ScorerFailed``."""
    match = _OBJECT.search(text or "")
    if match is None:
        raise ScorerFailed(f"the judge did not answer JSON: {text[:120]!r}")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        raise ScorerFailed(f"the judge answered invalid JSON: {text[:120]!r}") from None
    score = data.get("score") if isinstance(data, dict) else None
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise ScorerFailed(f"the judge's score is not a number from 0 to 1: {score!r}")
    return float(score), str(data.get("reasoning", ""))[:2000]


class Judge:
    """A scoring function ``(case, outcome) -> Score`` backed by a chat model."""

    def __init__(self, model: Any, rubric: str, threshold: float = 0.5) -> None:
        self.model = model
        self.rubric = rubric
        self.threshold = threshold

    async def __call__(self, case: Case, outcome: Outcome) -> Score:
        conversation = "\n".join(f"{m.role}: {m.text}" for m in case.messages)
        reference = ""
        if case.expected:
            reference += f"\nReference answer: {case.expected}\n"
        if case.facts:
            reference += "\nFacts the reply should state:\n" + "\n".join(
                f"- {f}" for f in case.facts
            )
        prompt = _PROMPT.format(
            rubric=self.rubric,
            conversation=conversation,
            reference=reference,
            output=outcome.output,
        )
        try:
            response = await self.model.complete([Msg.user(prompt)], temperature=0.0)
        except RoostError as exc:
            raise ScorerFailed(f"the judge model failed: {exc.code}") from None
        score, reasoning = parse_verdict(response.msg.text if response.msg else "")
        return Score("judge", score >= self.threshold, score, reasoning)
