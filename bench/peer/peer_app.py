"""The peer's side of the workload: AgentScope Runtime's ``AgentApp`` serving an AgentScope
2.0 ``Agent`` whose model is the fake OpenAI-compatible server.

Runs only inside the peer venv (``python -m bench.peer.setup``)::

    bench/peer/.venv/bin/python -m bench.peer.peer_app --port 8091 \
        --model-url http://127.0.0.1:PORT/v1

The documented ``@app.query(framework="agentscope")`` path is broken with agentscope 2.0
(``cannot import name 'ToolUseBlock'``, inside an HTTP 200), so the handler streams the
agent's text deltas through the runtime's ``text`` adapter, which builds the same response
objects (created → in_progress → content deltas → message completed → response completed).
Like Roost's side, each request gets a fresh agent (its own state) while the model client
and its connection pool are shared by the process.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from agentscope.agent import Agent
from agentscope.credential import OpenAICredential
from agentscope.event import TextBlockDeltaEvent
from agentscope.message import Msg, TextBlock
from agentscope.model import OpenAIChatModel
from agentscope_runtime.engine.app import AgentApp
from agentscope_runtime.engine.runner import Runner

SYS_PROMPT = "You are a helpful assistant."


class BenchRunner(Runner):
    """A runner whose handler streams the agent's text through the ``text`` adapter."""

    def __init__(self, model_url: str) -> None:
        super().__init__()
        self.framework_type = "text"
        self.model = OpenAIChatModel(
            credential=OpenAICredential(api_key="bench-key", base_url=model_url),
            model="fake-model",
            stream=True,
            max_retries=0,
        )

    async def query_handler(  # type: ignore[override]
        self, request: Any = None, response: Any = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        text = _user_text(request)
        agent = Agent(name="assistant", system_prompt=SYS_PROMPT, model=self.model)
        msg = Msg(name="user", role="user", content=[TextBlock(text=text)])
        async for event in agent.reply_stream(msg):
            if isinstance(event, TextBlockDeltaEvent):
                yield event.delta


def _user_text(request: Any) -> str:
    for message in reversed(request.input or []):
        for block in message.content or []:
            text = getattr(block, "text", None)
            if text:
                return str(text)
    return ""


def build_app(model_url: str) -> AgentApp:
    """The AgentApp with the bench runner; ``/process`` streams SSE, ``/health`` is built in."""
    return AgentApp(
        app_name="bench",
        app_description="peer benchmark app",
        runner=BenchRunner(model_url),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="peer benchmark app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-url", required=True, help="fake server base URL ending in /v1")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    uvicorn.run(
        build_app(args.model_url),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
