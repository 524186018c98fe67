"""Durable background work on huey: ``@app.task`` handlers and background runs.

huey runs in its embedded single-node mode (``SqliteHuey``, a file under ``ROOST_HOME``)
or on Redis (``RedisHuey``) when ``ROOST_REDIS_URL`` is set; its consumer runs as
threads inside the server process and hands coroutines to the server's event loop.

huey removes a message from the queue when a worker takes it, so a task *running* when
the process is killed would be lost. Roost therefore keeps a journal: background runs
are journaled by the ``runs`` table itself, ``@app.task`` calls by a record in huey's
key-value storage (status, owner, heartbeat). At start-up — and, with Redis, every 30 s
for replicas that stopped heart-beating — unfinished work is queued again (decision 0060).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from roost.core import RoostError, new_id
from roost.core.settings import Settings
from roost.server.errors import TaskNotFound

if TYPE_CHECKING:
    from roost.server.app import AgentApp
    from roost.server.auth import Principal

log = logging.getLogger("roost.server.tasks")

_JOURNAL = "roost:task:"
_STALE_AFTER = 45.0
_HEARTBEAT = 10.0


class TaskQueue:
    """The app's huey instance, its in-process consumer, and the task journal."""

    def __init__(self, app: AgentApp, settings: Settings, workers: int = 4) -> None:
        self.app = app
        self.settings = settings
        self.workers = workers
        self.redis_url = app.redis_url or settings.redis_url
        self.path = Path(settings.home) / f"queue-{app.name}.db"
        self.huey: Any = None
        self._consumer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._run_task: Any = None
        self._call_task: Any = None
        self._start_lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, force: bool = False) -> None:
        """Start the consumer now if work may be waiting; otherwise at the first enqueue."""
        self._loop = asyncio.get_running_loop()
        if force or self.app.tasks or self.redis_url or self.path.exists():
            await self._ensure_started()
            await self._recover_tasks()
            if self.redis_url:
                self._sweeper = asyncio.create_task(self._sweep_loop())

    async def _ensure_started(self) -> None:
        async with self._start_lock:
            if self._consumer is not None:
                return
            await asyncio.to_thread(self._start_consumer)

    def _start_consumer(self) -> None:
        from huey import RedisHuey, SqliteHuey
        from huey.consumer import Consumer

        name = f"roost-{self.app.name}"
        if self.redis_url:
            self.huey = RedisHuey(name, url=self.redis_url, results=False)
        else:
            self.settings.ensure_home()
            self.huey = SqliteHuey(name, filename=str(self.path), results=False)
        self._run_task = self.huey.task(name="roost.run")(self._execute_run)
        self._call_task = self.huey.task(name="roost.call")(self._execute_call)

        class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
            def _set_signal_handlers(self) -> None:
                """The server owns the signals; uvicorn's handlers must stay in place."""

        consumer = _EmbeddedConsumer(
            self.huey,
            workers=self.workers,
            periodic=False,
            initial_delay=0.05,
            max_delay=0.5,
            worker_type="thread",
            check_worker_health=False,
        )
        consumer.start()
        self._consumer = consumer

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await asyncio.to_thread(consumer.stop, True)
            with contextlib.suppress(Exception):
                self.huey.storage.close()

    # -- background runs ---------------------------------------------------------------
    async def enqueue_run(self, run_id: str) -> None:
        await self._ensure_started()
        await asyncio.to_thread(self._run_task, run_id)

    def _execute_run(self, run_id: str) -> None:
        """In a huey worker thread: run it on the server's loop and wait."""
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(
            self.app.executor.resume_queued(run_id), self._loop
        )
        future.result()

    async def requeue_orphaned_runs(self) -> list[str]:
        """Mark background runs a dead process had taken as ``queued`` again; the caller
        enqueues the returned ids once orphaned interactive runs have been failed."""
        store = self.app.store
        page = await store.list_runs(status=["running", "waiting_approval"], limit=500)
        ids = []
        if not self.redis_url:
            # single node: a queued run's huey message may have been taken by a worker that
            # was waiting for the session lock when the process died; queue it again (a
            # duplicate delivery is skipped by resume_queued)
            queued = await store.list_runs(status="queued", limit=500)
            ids += [r.id for r in reversed(queued.items) if r.metadata.get("background")]
        for run in page.items:
            if not run.metadata.get("background"):
                continue
            if self.redis_url and not _stale(run.heartbeat_at, _STALE_AFTER):
                continue  # its replica is alive
            with contextlib.suppress(RoostError):
                await store.set_run_status(run.id, "queued", owner=self.app.instance_id)
                ids.append(run.id)
                log.info("background run %s queued again after its server stopped", run.id)
        return ids

    # -- @app.task calls ---------------------------------------------------------------
    async def enqueue_call(self, name: str, payload: Any, principal: Principal) -> dict[str, Any]:
        await self._ensure_started()
        task_id = new_id("task")
        record = {
            "id": task_id,
            "name": name,
            "status": "queued",
            "payload": payload,
            "user_id": principal.user_id,
            "tenant_id": principal.tenant_id,
            "owner": None,
            "heartbeat": time.time(),
            "result": None,
            "error": None,
        }
        await asyncio.to_thread(self._put, record)
        await asyncio.to_thread(self._call_task, task_id)
        return record

    async def get_call(self, task_id: str, principal: Principal) -> dict[str, Any]:
        if self._consumer is None and not self.path.exists() and not self.redis_url:
            raise TaskNotFound(f"no task {task_id!r}")
        await self._ensure_started()
        record = await asyncio.to_thread(self._get, task_id)
        if record is None or not principal.can_access(record["user_id"], record["tenant_id"]):
            raise TaskNotFound(f"no task {task_id!r}")
        return record

    def _execute_call(self, task_id: str) -> None:
        record = self._get(task_id)
        if record is None or record["status"] in ("completed", "failed"):
            return
        spec = self.app.tasks.get(record["name"])
        record.update(status="running", owner=self.app.instance_id, heartbeat=time.time())
        self._put(record)
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(task_id, done), daemon=True)
        beat.start()
        try:
            if spec is None:
                raise TaskNotFound(f"task {record['name']!r} is not registered on this app")
            result = self._call(spec.fn, record["payload"])
            record.update(status="completed", result=result)
        except RoostError as exc:
            record.update(status="failed", error={"code": exc.code, "message": exc.message})
        except Exception as exc:
            log.exception("task %s (%s) failed", task_id, record["name"])
            record.update(
                status="failed",
                error={"code": "task_failed", "message": f"the task raised {type(exc).__name__}"},
            )
        finally:
            done.set()
        self._put(record)

    def _call(self, fn: Any, payload: Any) -> Any:
        if inspect.iscoroutinefunction(fn):
            assert self._loop is not None
            return asyncio.run_coroutine_threadsafe(fn(payload), self._loop).result()
        value = fn(payload)
        if inspect.isawaitable(value):
            assert self._loop is not None
            return asyncio.run_coroutine_threadsafe(_await(value), self._loop).result()
        return value

    def _beat(self, task_id: str, done: threading.Event) -> None:
        while not done.wait(_HEARTBEAT):
            record = self._get(task_id)
            if record is None or record["status"] != "running":
                return
            record["heartbeat"] = time.time()
            self._put(record)

    async def _recover_tasks(self) -> None:
        records = await asyncio.to_thread(self._journal)
        for record in records:
            if record["status"] != "running":
                continue
            if self.redis_url and not _stale(record["heartbeat"], _STALE_AFTER):
                continue  # its replica is alive
            record.update(status="queued", owner=None)
            await asyncio.to_thread(self._put, record)
            await asyncio.to_thread(self._call_task, record["id"])
            log.info("task %s queued again after its server stopped", record["id"])

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(30)
            try:
                await self._recover_tasks()
                for run_id in await self.requeue_orphaned_runs():
                    await self.enqueue_run(run_id)
            except Exception:
                log.exception("queue sweep failed")

    # -- journal -----------------------------------------------------------------------
    def _put(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, default=str).encode()
        self.huey.storage.put_data(_JOURNAL + record["id"], data)

    def _get(self, task_id: str) -> dict[str, Any] | None:
        from huey.constants import EmptyData

        raw = self.huey.storage.peek_data(_JOURNAL + task_id)
        if raw is EmptyData or raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return value

    def _journal(self) -> list[dict[str, Any]]:
        out = []
        for key, raw in self.huey.storage.result_items().items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            if name.startswith(_JOURNAL):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(raw))
        return out


async def _await(value: Any) -> Any:
    return await value


def _stale(stamp: Any, seconds: float) -> bool:
    if stamp is None:
        return True
    ts = stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)
    return time.time() - ts > seconds
