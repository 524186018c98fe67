"""Agents of other frameworks behind Roost's ``Agent`` protocol, so ``AgentApp`` serves
them with the same sessions, persistence, streaming, cancel, tracing and protocols.

Each adapter imports its framework lazily (optional extra ``interop``).
"""

from roost.agents.adapters.langchain import LangChainAgent

__all__ = ["LangChainAgent"]
