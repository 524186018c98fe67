"""Pure builder of the ``docker.containers.create`` arguments of a Docker sandbox.

Kept free of the docker SDK so the locked-down container spec is testable on a host
without an engine.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roost.core import ConfigError, get_settings
from roost.sandbox.base import SandboxSpec

WORKDIR = "/workspace"
KEEPER = "import signal\nsignal.pause()\n"
"""PID 1 of a container or pod: waits for a signal; the kernel runs through ``exec``."""
LABEL_MANAGED = "roost.dev/managed-by"
LABEL_ID = "roost.dev/sandbox-id"


def json_object(value: Any) -> Any:
    """A dict field given as a JSON object in an environment variable."""
    return json.loads(value) if isinstance(value, str) else value


class DockerConfig(BaseModel):
    """Engine address and container defaults; :meth:`from_settings` reads them from the
    ``ROOST_SANDBOX_DOCKER_*`` variables. ``runtime`` may name ``runsc`` (gVisor) or
    ``kata-runtime`` where the engine has them."""

    model_config = ConfigDict(extra="ignore")

    base_url: str | None = None
    """``None``: ``DOCKER_HOST`` or the local socket."""
    image: str = "python:3.12-slim"
    runtime: str | None = None
    user: str = "65532:65532"
    python: str = "python3"
    tmp_mb: int = 64
    labels: dict[str, str] = Field(default_factory=dict)
    network_name: str = "bridge"
    """Network joined when the sandbox is created with ``network=True``."""

    @classmethod
    def from_settings(cls, **overrides: Any) -> DockerConfig:
        return cls.model_validate({**get_settings().sandbox_docker, **overrides})

    _labels = field_validator("labels", mode="before")(json_object)


def container_name(sandbox_id: str) -> str:
    return "roost-" + sandbox_id.replace("_", "-")


def build_create_kwargs(sandbox_id: str, spec: SandboxSpec, config: DockerConfig) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create``: no network, no capabilities,
    no new privileges, the engine's default seccomp profile, read-only root, tmpfs
    workdir, memory/pids/cpu limits."""
    limits = spec.limits
    if limits.memory_mb <= 0 or limits.pids <= 0 or limits.cpu <= 0 or limits.disk_mb <= 0:
        raise ConfigError(
            "sandbox limits must be positive",
            hint="set memory_mb, pids, cpu and disk_mb to values > 0",
        )
    uid = config.user.split(":", 1)[0]
    kwargs: dict[str, Any] = {
        "image": spec.image or config.image,
        "command": [config.python, "-c", KEEPER],
        "name": container_name(sandbox_id),
        "detach": True,
        "labels": {**config.labels, LABEL_MANAGED: "roost", LABEL_ID: sandbox_id},
        "user": config.user,
        "working_dir": WORKDIR,
        "environment": {
            "HOME": WORKDIR,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "MPLBACKEND": "Agg",
            **spec.env,
        },
        "network_mode": config.network_name if spec.network else "none",
        "cap_drop": ["ALL"],
        # No "seccomp=..." entry: the engine's default profile applies (never unconfined).
        "security_opt": ["no-new-privileges:true"],
        "read_only": True,
        "tmpfs": {
            WORKDIR: f"rw,nosuid,nodev,size={limits.disk_mb}m,uid={uid},mode=0700",
            "/tmp": f"rw,nosuid,nodev,noexec,size={config.tmp_mb}m,mode=1777",
        },
        "mem_limit": f"{limits.memory_mb}m",
        "memswap_limit": f"{limits.memory_mb}m",
        "pids_limit": limits.pids,
        "nano_cpus": int(limits.cpu * 1_000_000_000),
        "ipc_mode": "private",
        "privileged": False,
        "init": True,
        "stdin_open": False,
        "tty": False,
    }
    if config.runtime:
        kwargs["runtime"] = config.runtime
    return kwargs
