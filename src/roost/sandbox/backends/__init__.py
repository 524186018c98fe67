"""Sandbox backends: local bubblewrap (the default) and unsafe-process, Docker and
Kubernetes containers, and a remote sandbox service. Each is a ``Sandbox`` class that
the registry (:mod:`roost.sandbox.registry`) creates by name."""
