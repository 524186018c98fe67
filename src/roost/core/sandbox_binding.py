"""``SandboxBinding``: which sandbox serves which session, owned by which manager.

A plain record shared by the sandbox layer (which creates and reaps sandboxes) and the
store (which persists bindings so a restarted manager finds what a crashed one left);
it lives here so neither layer imports the other.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, Field


class SandboxBinding(BaseModel):
    sandbox_id: str
    session_id: str | None = None
    type: str = "base"
    backend: str
    owner: str
    """The manager instance that created the sandbox (``new_owner_id()``)."""
    created_at: float = Field(default_factory=time.time)
    last_used_at: float = Field(default_factory=time.time)
    detail: dict[str, Any] = Field(default_factory=dict)
    """What a reaper needs to clean up without the live object (workdir, cgroups, uid)."""
