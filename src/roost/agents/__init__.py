"""Agents: the ``Agent`` protocol, ``ReActAgent``, memory, ``MsgHub`` and pipelines."""

from roost.agents._guidance import ToolFilter, keyword_filter
from roost.agents.base import Agent
from roost.agents.hub import MsgHub
from roost.agents.memory import InMemoryMemory, Memory
from roost.agents.pipelines import fanout_pipeline, sequential_pipeline
from roost.agents.react import STATE_VERSION, AgentBusy, ReActAgent, ToolMode

__all__ = [
    "STATE_VERSION",
    "Agent",
    "AgentBusy",
    "InMemoryMemory",
    "Memory",
    "MsgHub",
    "ReActAgent",
    "ToolFilter",
    "ToolMode",
    "fanout_pipeline",
    "keyword_filter",
    "sequential_pipeline",
]
