"""The peer: AgentScope Runtime in its own virtualenv (``python -m bench.peer.setup``)."""
