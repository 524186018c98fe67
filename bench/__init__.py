"""Roost's benchmarks, run from the repository root as ``python -m bench.<name>``
(``harness``: processes and /proc; ``load``: the load generator; ``apps``: the servers
under test; ``peer``: the AgentScope Runtime side). docs/benchmarks.md has the figures."""
