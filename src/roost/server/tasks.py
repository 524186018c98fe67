"""Durable background work on huey: ``@app.task`` handlers and background runs.

huey runs in its embedded single-node mode (``SqliteHuey``, a file under ``ROOST_HOME``)
or on Redis (``RedisHuey``) when ``ROOST_REDIS_URL`` is set; its consumer runs as
threads inside the server process and hands coroutines to the server's event loop.

Single node: huey removes a message from the queue when a worker takes it, so work
*running* when the process is killed would be lost. Roost therefore keeps a journal:
background runs are journaled by the ``runs`` table itself, ``@app.task`` calls by a
record in huey's key-value storage (status, owner, heartbeat), and at start-up
unfinished work is queued again (decision 0060).

Runs of one session start in the order they were submitted, whichever worker takes
which message first: a worker whose run has older runs of its session pending waits for
them, and hands its message back to the end of the queue if they stay queued (their
messages may be behind it), so waiting workers never hold up the runs they wait for.

Redis (several replicas): a taken message stays in the replica's in-flight list until
its work is settled, under a lease the replica renews (:mod:`roost.server._queue_storage`).
When a replica dies, a live one moves its in-flight messages back to the queue within
``lease_ttl`` (+ one sweep) and marks their runs ``queued``; any replica then resumes
them. A run is never executed twice at once: it runs only under its session's Redis
lock, and a replica that cannot renew its lease for 2/3 of ``lease_ttl`` abandons its
background runs itself, before any replica may reclaim them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import itertools
import json
import logging
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from roost.core import ConfigError, RoostError, new_id
from roost.core.settings import Settings
from roost.server.errors import ServerShuttingDown, TaskNotFound

if TYPE_CHECKING:
    from roost.server._queue_storage import LeasedRedisStorage
    from roost.server.auth import Principal
    from roost.server.engine import Resumed, RunExecutor
    from roost.server.registry import TaskSpec
    from roost.store import RunRecord, Store

log = logging.getLogger("roost.server.tasks")

_JOURNAL = "roost:task:"
_STALE_AFTER = 45.0
_HEARTBEAT = 10.0
_BACKSTOP_EVERY = 30.0
_RETRY_DELAY = 1.0

Settle = Literal["ack", "keep", "requeue", "retry", "defer"]
"""What a worker does with its message: done; leave it in flight (moved back at stop);
put it back next in line (abandoned, not stopping); put it back last (transient error);
put it back last at once (older runs of its session go first)."""


class TaskQueue:
    """The app's huey instance, its in-process consumer, and the task journal.

    ``lease_ttl`` (Redis only): seconds after which a replica that stopped renewing its
    lease is taken for dead and its in-flight work is resumed by a live replica.
    """

    lease_ttl: float = 15.0

    def __init__(
        self,
        *,
        name: str,
        store: Store,
        executor: RunExecutor,
        tasks: dict[str, TaskSpec],
        settings: Settings,
        redis_url: str | None,
        instance_id: str,
        workers: int = 4,
    ) -> None:
        self.name = name
        self.store = store
        self.executor = executor
        executor.queue = self  # its background runs wait here
        self.tasks = tasks
        self.settings = settings
        self.workers = workers
        self.redis_url = redis_url
        self.instance_id = instance_id
        self.path = Path(settings.home) / f"queue-{name}.db"
        if self.lease_ttl < 3.0:
            raise ConfigError(f"TaskQueue.lease_ttl must be >= 3 s, got {self.lease_ttl}")
        self.huey: Any = None
        self._consumer: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._run_task: Any = None
        self._call_task: Any = None
        self._start_lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._lease_stop = threading.Event()
        self._leaser: threading.Thread | None = None
        self._waiting: set[concurrent.futures.Future[Any]] = set()
        """Run resumptions handed to the loop by worker threads (canceled at stop)."""

    @property
    def storage(self) -> LeasedRedisStorage | None:
        """The reliable Redis storage, or ``None`` on the single-node SQLite queue."""
        return self.huey.storage if self.redis_url and self.huey is not None else None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, force: bool = False) -> None:
        """Start the consumer now if work may be waiting; otherwise at the first enqueue."""
        self._loop = asyncio.get_running_loop()
        if force or self.tasks or self.redis_url or self.path.exists():
            await self._ensure_started()
            if self.redis_url:
                self._sweeper = asyncio.create_task(self._sweep_loop())
            else:
                await self._recover_tasks()

    async def _ensure_started(self) -> None:
        async with self._start_lock:
            if self._consumer is not None:
                return
            await asyncio.to_thread(self._start_consumer)

    def _start_consumer(self) -> None:
        from huey import RedisHuey, SqliteHuey
        from huey.consumer import Consumer

        name = f"roost-{self.name}"
        if self.redis_url:
            from roost.server._queue_storage import LeasedRedisStorage

            self.huey = RedisHuey(
                name,
                url=self.redis_url,
                results=False,
                storage_class=LeasedRedisStorage,
                consumer_id=self.instance_id,
                lease_ttl=self.lease_ttl,
            )
            try:
                self.huey.storage.renew()
            except Exception as exc:  # the lease thread keeps trying; nothing is taken meanwhile
                log.warning("queue lease: Redis unreachable at start (%s)", exc)
            self._leaser = threading.Thread(
                target=self._lease_loop, name="roost-queue-lease", daemon=True
            )
            self._leaser.start()
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
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for future in list(self._waiting):
            future.cancel()  # runs still waiting for their session's lock: resumed later
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await asyncio.to_thread(consumer.stop, True)  # the lease is renewed meanwhile
            self._lease_stop.set()
            if self._leaser is not None:
                await asyncio.to_thread(self._leaser.join, 10)
            storage = self.storage
            if storage is not None:
                # work taken but not finished goes back to the queue for another replica
                # (or this one, restarted) at once, instead of after the lease expires
                try:
                    moved = await asyncio.to_thread(storage.release_own)
                    await self._mark_requeued(moved, self.instance_id)
                except Exception as exc:
                    log.warning("queue: could not hand back in-flight work (%s)", exc)
            with contextlib.suppress(Exception):
                self.huey.storage.close()

    # -- background runs ---------------------------------------------------------------
    async def enqueue_run(self, run_id: str) -> None:
        await self._ensure_started()
        await asyncio.to_thread(self._run_task, run_id)

    def _execute_run(self, run_id: str) -> None:
        """In a huey worker thread: run it on the server's loop, wait, settle the message."""
        outcome: Settle = "keep"
        try:
            resumed: Resumed = self._on_loop(self._resume(run_id))
            if resumed == "done":
                outcome = "ack"
            elif self._stopping.is_set():
                outcome = "keep"
            else:
                outcome = "defer" if resumed == "later" else "requeue"
        except (concurrent.futures.CancelledError, ServerShuttingDown):
            outcome = "keep"  # stop() hands it back
        except Exception as exc:  # transient (store or Redis unreachable)
            log.warning("background run %s: %s; trying again", run_id, exc)
            outcome = "retry"
        finally:
            self._settle(outcome, "roost.run", run_id)

    async def _resume(self, run_id: str) -> Resumed:
        """Resume the run (see ``RunExecutor.resume_queued``). An error that retrying
        cannot fix (the agent is gone …) fails the run with its code instead."""
        storage = self.storage
        if storage is not None and storage.lease_age() > self.lease_ttl / 2:
            return "abandoned"  # our lease may lapse: leave the run to a replica that has one
        try:
            return await self.executor.resume_queued(run_id)
        except RoostError as exc:
            if exc.retryable or isinstance(exc, ServerShuttingDown):
                raise  # the store or Redis is unreachable: try again later
            log.error("background run %s cannot run: %s", run_id, exc)
            code, message = exc.code, exc.message
        except Exception as exc:
            log.exception("background run %s could not be resumed", run_id)
            code, message = "internal_error", f"resuming the run raised {type(exc).__name__}"
        with contextlib.suppress(RoostError):
            await self.store.set_run_status(
                run_id, "failed", error_code=code, error_message=message
            )
        return "done"

    def _on_loop(self, coro: Coroutine[Any, Any, Any]) -> Any:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        self._waiting.add(future)
        try:
            if self._stopping.is_set():
                future.cancel()
            return future.result()
        finally:
            self._waiting.discard(future)

    def _settle(self, outcome: Settle, task: str, arg: str) -> None:
        """Ack, keep or put back the message this worker thread took (see ``Settle``)."""
        storage = self.storage
        if storage is None:  # SQLite: the message is gone already; queue a new one
            if outcome == "defer" or (outcome == "retry" and not self._stopping.wait(_RETRY_DELAY)):
                task_fn = self._run_task if task == "roost.run" else self._call_task
                task_fn(arg)
            return
        data = storage.current()
        storage.settled()
        if data is None or outcome == "keep":
            return
        if outcome == "retry":
            self._stopping.wait(_RETRY_DELAY)
        for attempt in itertools.count():
            try:
                if outcome == "ack":
                    storage.ack(data)
                else:
                    storage.put_back(data, head=outcome == "requeue")
                return
            except Exception as exc:  # Redis unreachable: the message stays in flight
                if attempt == 0:
                    log.warning("queue: cannot settle %s %s yet (%s)", task, arg, exc)
                if self._stopping.wait(_RETRY_DELAY):
                    return  # stop() or a replica's reclaim hands it back

    async def requeue_orphaned_runs(self) -> list[str]:
        """Mark background runs a dead process had taken as ``queued`` again; the caller
        enqueues the returned ids (oldest first) once orphaned interactive runs have been
        failed."""
        store = self.store
        page = await store.list_runs(status=["running", "waiting_approval"], limit=500)
        again: list[RunRecord] = []
        if not self.redis_url:
            # single node: a queued run's huey message may have been taken by a worker that
            # was waiting for its turn when the process died; queue it again (a duplicate
            # delivery is skipped by resume_queued)
            queued = await store.list_runs(status="queued", limit=500)
            again += [run for run in queued.items if run.metadata.get("background")]
            # streamed runs still waiting for their session: their clients went with the
            # process (left queued, they would stay so for good)
            await store.fail_orphaned_runs(
                run_ids=[r.id for r in queued.items if not r.metadata.get("background")],
                statuses=("queued",),
                message="the server stopped before the queued run started",
            )
        for run in page.items:
            if not run.metadata.get("background"):
                continue
            if self.redis_url and not _stale(run.heartbeat_at, _STALE_AFTER):
                continue  # its replica is alive
            with contextlib.suppress(RoostError):
                await store.set_run_status(run.id, "queued", owner=self.instance_id)
                again.append(run)
                log.info("background run %s queued again after its server stopped", run.id)
        # in submission order, so workers mostly take them in the order they may start
        again.sort(key=lambda r: (r.created_at, r.id))
        for run in again:
            if run.session_id is not None:
                self.executor.note_queued(run.session_id, run.id)
        return [r.id for r in again]

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
        outcome: Settle = "keep"
        try:
            self._call_once(task_id)
            outcome = "ack"
        except Exception as exc:  # the journal could not be read or written (Redis)
            log.warning("task %s: %s; trying again", task_id, exc)
            outcome = "retry"
        finally:
            self._settle(outcome, "roost.call", task_id)

    def _call_once(self, task_id: str) -> None:
        record = self._get(task_id)
        if record is None or record["status"] in ("completed", "failed"):
            return
        spec = self.tasks.get(record["name"])
        record.update(status="running", owner=self.instance_id, heartbeat=time.time())
        self._put(record)
        done = threading.Event()
        writing = threading.Lock()
        beat = threading.Thread(target=self._beat, args=(task_id, done, writing), daemon=True)
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
            with writing:  # a heartbeat in flight must not write "running" over the end
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

    def _beat(self, task_id: str, done: threading.Event, writing: threading.Lock) -> None:
        while not done.wait(_HEARTBEAT):
            with writing:
                if done.is_set():
                    return
                record = self._get(task_id)
                if record is None or record["status"] != "running":
                    return
                record["heartbeat"] = time.time()
                self._put(record)

    async def _recover_tasks(self) -> None:
        """Single node, at start-up: calls the dead process was running are queued again
        (on Redis their messages are still in flight and are reclaimed instead)."""
        records = await asyncio.to_thread(self._journal)
        for record in records:
            if record["status"] != "running":
                continue
            record.update(status="queued", owner=None)
            await asyncio.to_thread(self._put, record)
            await asyncio.to_thread(self._call_task, record["id"])
            log.info("task %s queued again after its server stopped", record["id"])

    # -- Redis: the lease and reclaiming the work of dead replicas -----------------------
    def _lease_loop(self) -> None:
        """Renew this replica's lease; stop our background runs if it may have lapsed."""
        storage = self.storage
        assert storage is not None and self._loop is not None
        fenced = False
        while not self._lease_stop.wait(self.lease_ttl / 3):
            try:
                storage.renew()
                fenced = False
            except Exception as exc:
                log.warning("queue lease: renewal failed (%s)", exc)
            if not fenced and storage.lease_age() > self.lease_ttl * 2 / 3:
                # a replica may reclaim our in-flight runs once the lease expires: stop
                # them first, so that no run ever executes in two places at once
                fenced = True
                log.error("queue lease lapsing: abandoning this replica's background runs")
                self._loop.call_soon_threadsafe(self.executor.abandon_background)

    async def _sweep_loop(self) -> None:
        storage = self.storage
        assert storage is not None
        backstop_at = time.monotonic() + _BACKSTOP_EVERY
        while True:
            try:
                for dead, messages in (await asyncio.to_thread(storage.reclaim_dead)).items():
                    log.warning(
                        "queue: replica %s stopped renewing its lease; %d message(s) "
                        "it had taken are queued again",
                        dead,
                        len(messages),
                    )
                    await self._mark_requeued(messages, dead)
                if time.monotonic() >= backstop_at:
                    # runs whose message was lost some other way (Redis lost its data)
                    backstop_at = time.monotonic() + _BACKSTOP_EVERY
                    for run_id in await self.requeue_orphaned_runs():
                        await self.enqueue_run(run_id)
            except Exception as exc:
                log.warning("queue sweep failed: %s", exc)
            await asyncio.sleep(self.lease_ttl / 3)

    async def _mark_requeued(self, messages: list[bytes], owner: str) -> None:
        """Runs ``owner`` was executing are ``queued`` again (not ``running``, so no
        sweeper fails them as orphans while they wait for a worker). The run cannot have
        restarted meanwhile: ``owner`` still holds its session lock until the lock's TTL.
        (A task call's journal keeps saying ``running`` until a worker takes it again.)"""
        for data in messages:
            try:
                task = self.huey.deserialize_task(data)
                if task.name != "roost.run":
                    continue
                run_id = str(task.args[0])
                run = await self.store.get_run(run_id)
                if run.status in ("running", "waiting_approval") and run.owner == owner:
                    await self.store.set_run_status(run_id, "queued")
            except Exception as exc:
                log.warning("queue: could not mark a reclaimed run as queued (%s)", exc)

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
