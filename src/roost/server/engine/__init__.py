"""The run engine: runs executed as tasks (:mod:`.executor`), their events numbered,
persisted and fanned out (:mod:`.recorder`, :mod:`.codec`), started in submission order
per session (:mod:`.turns`) and followed by streams (:mod:`.follower`)."""

from roost.server.config import BusyPolicy
from roost.server.engine.executor import Resumed, RunExecutor, RunQueue
from roost.server.engine.handle import RunHandle

__all__ = ["BusyPolicy", "Resumed", "RunExecutor", "RunHandle", "RunQueue"]
