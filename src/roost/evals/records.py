"""Eval and release rows in the Roost database, through the store's backend (decision
0220): the same literal SQL on SQLite and PostgreSQL, one transaction per method."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roost.core import new_id
from roost.evals.cases import Case
from roost.evals.errors import DatasetNotFound, ExperimentNotFound
from roost.store import Store
from roost.store.backend import Row, Tx, in_list, one
from roost.store.rows import created, document, now, stamp


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    id: str
    name: str
    description: str | None
    user_id: str | None
    tenant_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    cases: int = 0


@dataclass(frozen=True, slots=True)
class ExperimentRecord:
    id: str
    dataset_id: str
    agent: str
    status: str
    config: dict[str, Any]
    summary: dict[str, Any]
    user_id: str | None
    tenant_id: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """One case × repetition of an experiment: its run, status and scores (``body``)."""

    experiment_id: str
    case_id: str
    repetition: int
    run_id: str | None
    status: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReleaseEventRecord:
    id: str
    agent: str
    kind: str
    actor: str | None
    detail: dict[str, Any]
    created_at: datetime


def _dataset(row: Row) -> DatasetRecord:
    return DatasetRecord(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        metadata=document(row["metadata"]) or {},
        created_at=created(row["created_at"]),
        cases=int(row.get("cases") or 0),
    )


def _experiment(row: Row) -> ExperimentRecord:
    return ExperimentRecord(
        id=row["id"],
        dataset_id=row["dataset_id"],
        agent=row["agent"],
        status=row["status"],
        config=document(row["config"]) or {},
        summary=document(row["summary"]) or {},
        user_id=row["user_id"],
        tenant_id=row["tenant_id"],
        created_at=created(row["created_at"]),
        finished_at=stamp(row["finished_at"]),
    )


def _result(row: Row) -> ResultRecord:
    return ResultRecord(
        experiment_id=row["experiment_id"],
        case_id=row["case_id"],
        repetition=int(row["repetition"]),
        run_id=row["run_id"],
        status=row["status"],
        body=document(row["body"]) or {},
    )


_DATASET_COLS = "d.id, d.name, d.description, d.user_id, d.tenant_id, d.metadata, d.created_at"
_EXP_COLS = (
    "id, dataset_id, agent, status, config, summary, user_id, tenant_id, created_at, finished_at"
)


def _owner_where(
    user_id: str | None, tenant_id: str | None, params: dict[str, Any], prefix: str = ""
) -> str:
    """The listing filter of a principal: ``(None, None)`` is an admin's (everything)."""
    if user_id is None and tenant_id is None:
        return ""
    params.update(user_id=user_id, tenant_id=tenant_id)
    tenant = (
        f"{prefix}tenant_id = :tenant_id" if tenant_id is not None else f"{prefix}tenant_id IS NULL"
    )
    return f" WHERE {prefix}user_id = :user_id AND {tenant}"


class EvalRecords:
    """Datasets, cases, experiments and results of one store."""

    def __init__(self, store: Store) -> None:
        self._backend = store.backend

    # -- datasets ----------------------------------------------------------------------
    async def create_dataset(
        self,
        name: str,
        cases: list[Case],
        *,
        description: str | None = None,
        user_id: str | None = None,
        tenant_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> DatasetRecord:
        """A dataset and its cases, one commit."""
        at = now()
        dataset_id = new_id("ds")
        values: dict[str, Any] = {
            "id": dataset_id,
            "name": name,
            "description": description,
            "user_id": user_id,
            "tenant_id": tenant_id,
            "metadata": metadata or {},
            "created_at": at,
        }

        def body(tx: Tx) -> None:
            tx.run(
                "INSERT INTO eval_datasets (id, name, description, user_id, tenant_id, metadata,"
                " created_at) VALUES (:id, :name, :description, :user_id, :tenant_id,"
                " :metadata, :created_at)",
                values,
            )
            _insert_cases(tx, dataset_id, cases, 0, at)

        await self._backend.write(body)
        return _dataset({**values, "cases": len(cases)})

    async def add_cases(self, dataset_id: str, cases: list[Case]) -> int:
        """Append cases; the dataset's size afterwards."""

        def body(tx: Tx) -> int:
            last = one(
                tx,
                "SELECT COALESCE(MAX(seq), 0) AS n FROM eval_cases WHERE dataset_id = :d",
                {"d": dataset_id},
            )
            start = int(last["n"]) if last else 0
            _insert_cases(tx, dataset_id, cases, start, now())
            return start + len(cases)

        await self.get_dataset(dataset_id)
        return await self._backend.write(body)

    async def get_dataset(self, dataset_id: str) -> DatasetRecord:
        params = {"id": dataset_id}
        stmt = (
            f"SELECT {_DATASET_COLS}, (SELECT COUNT(*) FROM eval_cases c"
            " WHERE c.dataset_id = d.id) AS cases FROM eval_datasets d WHERE d.id = :id"
        )
        row = await self._backend.read(lambda tx: one(tx, stmt, params))
        if row is None:
            raise DatasetNotFound(
                f"no dataset {dataset_id!r}", hint="list them: GET /v1/evals/datasets"
            )
        return _dataset(row)

    async def find_dataset(self, name: str) -> DatasetRecord | None:
        """The newest dataset of that name (CLI and API accept a name or an id)."""
        stmt = f"SELECT {_DATASET_COLS} FROM eval_datasets d WHERE d.name = :n ORDER BY d.created_at DESC"
        row = await self._backend.read(lambda tx: one(tx, stmt, {"n": name}))
        return _dataset(row) if row else None

    async def list_datasets(
        self, *, user_id: str | None = None, tenant_id: str | None = None, limit: int = 100
    ) -> list[DatasetRecord]:
        params: dict[str, Any] = {"limit": limit}
        where = _owner_where(user_id, tenant_id, params, "d.")
        stmt = (
            f"SELECT {_DATASET_COLS}, (SELECT COUNT(*) FROM eval_cases c"
            f" WHERE c.dataset_id = d.id) AS cases FROM eval_datasets d{where}"
            " ORDER BY d.created_at DESC LIMIT :limit"
        )
        return [_dataset(r) for r in await self._backend.read(lambda tx: tx.rows(stmt, params))]

    async def delete_dataset(self, dataset_id: str) -> None:
        await self.get_dataset(dataset_id)

        def body(tx: Tx) -> None:
            tx.run("DELETE FROM eval_cases WHERE dataset_id = :id", {"id": dataset_id})
            tx.run("DELETE FROM eval_datasets WHERE id = :id", {"id": dataset_id})

        await self._backend.write(body)

    async def cases(self, dataset_id: str) -> list[Case]:
        stmt = "SELECT body FROM eval_cases WHERE dataset_id = :d ORDER BY seq"
        found = await self._backend.read(lambda tx: tx.rows(stmt, {"d": dataset_id}))
        return [Case.model_validate(document(r["body"])) for r in found]

    # -- experiments -------------------------------------------------------------------
    async def create_experiment(
        self,
        dataset_id: str,
        agent: str,
        config: dict[str, Any],
        *,
        user_id: str | None = None,
        tenant_id: str | None = None,
    ) -> ExperimentRecord:
        values = {
            "id": new_id("exp"),
            "dataset_id": dataset_id,
            "agent": agent,
            "status": "running",
            "config": config,
            "summary": {},
            "user_id": user_id,
            "tenant_id": tenant_id,
            "created_at": now(),
            "finished_at": None,
        }
        await self._backend.write(
            lambda tx: tx.run(
                f"INSERT INTO eval_experiments ({_EXP_COLS}) VALUES (:id, :dataset_id, :agent,"
                " :status, :config, :summary, :user_id, :tenant_id, :created_at, :finished_at)",
                values,
            )
        )
        return _experiment(values)

    async def finish_experiment(
        self, experiment_id: str, status: str, summary: dict[str, Any]
    ) -> None:
        params = {"id": experiment_id, "status": status, "summary": summary, "at": now()}
        await self._backend.write(
            lambda tx: tx.run(
                "UPDATE eval_experiments SET status = :status, summary = :summary,"
                " finished_at = :at WHERE id = :id",
                params,
            )
        )

    async def get_experiment(self, experiment_id: str) -> ExperimentRecord:
        stmt = f"SELECT {_EXP_COLS} FROM eval_experiments WHERE id = :id"
        row = await self._backend.read(lambda tx: one(tx, stmt, {"id": experiment_id}))
        if row is None:
            raise ExperimentNotFound(
                f"no experiment {experiment_id!r}", hint="list them: GET /v1/evals/experiments"
            )
        return _experiment(row)

    async def list_experiments(
        self,
        *,
        user_id: str | None = None,
        tenant_id: str | None = None,
        dataset_id: str | None = None,
        limit: int = 100,
    ) -> list[ExperimentRecord]:
        params: dict[str, Any] = {"limit": limit}
        where = _owner_where(user_id, tenant_id, params)
        if dataset_id is not None:
            params["dataset_id"] = dataset_id
            where += (" AND" if where else " WHERE") + " dataset_id = :dataset_id"
        stmt = (
            f"SELECT {_EXP_COLS} FROM eval_experiments{where} ORDER BY created_at DESC LIMIT :limit"
        )
        return [_experiment(r) for r in await self._backend.read(lambda tx: tx.rows(stmt, params))]

    async def save_results(self, results: list[ResultRecord]) -> None:
        """Store results, a batch per commit (the runner buffers them)."""
        if not results:
            return
        values = [
            {
                "experiment_id": r.experiment_id,
                "case_id": r.case_id,
                "repetition": r.repetition,
                "run_id": r.run_id,
                "status": r.status,
                "body": r.body,
            }
            for r in results
        ]
        await self._backend.write(
            lambda tx: tx.many(
                "INSERT INTO eval_results (experiment_id, case_id, repetition, run_id, status,"
                " body) VALUES (:experiment_id, :case_id, :repetition, :run_id, :status, :body)",
                values,
            )
        )

    async def results(self, experiment_id: str) -> list[ResultRecord]:
        stmt = (
            "SELECT experiment_id, case_id, repetition, run_id, status, body FROM eval_results"
            " WHERE experiment_id = :e ORDER BY case_id, repetition"
        )
        return [
            _result(r)
            for r in await self._backend.read(lambda tx: tx.rows(stmt, {"e": experiment_id}))
        ]

    async def runs_of(self, agent: str, since: datetime) -> list[Row]:
        """The runs of ``agent`` (a version) created since ``since``: what guards measure."""
        stmt = (
            "SELECT id, session_id, status, started_at, finished_at, cost FROM runs"
            " WHERE agent = :agent AND created_at >= :since"
        )
        params = {"agent": agent, "since": since}
        return await self._backend.read(lambda tx: tx.rows(stmt, params))

    async def sessions_agents(self, session_ids: list[str]) -> dict[str, str | None]:
        """Each session's agent (version): what stickiness is checked against."""
        if not session_ids:
            return {}
        params: dict[str, Any] = {}
        stmt = "SELECT id, agent FROM sessions WHERE id IN " + in_list("s", session_ids, params)
        return {
            r["id"]: r["agent"] for r in await self._backend.read(lambda tx: tx.rows(stmt, params))
        }


def _insert_cases(tx: Tx, dataset_id: str, cases: list[Case], start: int, at: datetime) -> None:
    if cases:
        tx.many(
            "INSERT INTO eval_cases (id, dataset_id, seq, body, created_at)"
            " VALUES (:id, :dataset_id, :seq, :body, :created_at)",
            [
                {
                    "id": new_id("ec"),
                    "dataset_id": dataset_id,
                    "seq": start + i + 1,
                    "body": case.model_dump(mode="json", exclude_none=True),
                    "created_at": at,
                }
                for i, case in enumerate(cases)
            ],
        )


class ReleaseRecords:
    """Release policies per agent (with a revision) and the history of their changes."""

    def __init__(self, store: Store) -> None:
        self._backend = store.backend

    async def get_policy(self, agent: str) -> tuple[dict[str, Any], int] | None:
        stmt = "SELECT policy, revision FROM release_policies WHERE agent = :agent"
        row = await self._backend.read(lambda tx: one(tx, stmt, {"agent": agent}))
        return (document(row["policy"]), int(row["revision"])) if row else None

    async def all_policies(self) -> dict[str, tuple[dict[str, Any], int]]:
        stmt = "SELECT agent, policy, revision FROM release_policies"
        found = await self._backend.read(lambda tx: tx.rows(stmt))
        return {r["agent"]: (document(r["policy"]), int(r["revision"])) for r in found}

    async def put_policy(
        self,
        agent: str,
        policy: dict[str, Any],
        *,
        kind: str,
        actor: str | None,
        detail: dict[str, Any],
    ) -> int:
        """Store the policy and its audit event in one commit; the new revision."""
        at = now()

        def body(tx: Tx) -> int:
            row = one(tx, "SELECT revision FROM release_policies WHERE agent = :a", {"a": agent})
            revision = (int(row["revision"]) if row else 0) + 1
            params = {"agent": agent, "policy": policy, "revision": revision, "at": at}
            if row:
                tx.run(
                    "UPDATE release_policies SET policy = :policy, revision = :revision,"
                    " updated_at = :at WHERE agent = :agent",
                    params,
                )
            else:
                tx.run(
                    "INSERT INTO release_policies (agent, policy, revision, updated_at)"
                    " VALUES (:agent, :policy, :revision, :at)",
                    params,
                )
            _event(tx, agent, kind, actor, {**detail, "revision": revision}, at)
            return revision

        return await self._backend.write(body)

    async def delete_policy(self, agent: str, actor: str | None) -> None:
        def body(tx: Tx) -> None:
            tx.run("DELETE FROM release_policies WHERE agent = :a", {"a": agent})
            _event(tx, agent, "deleted", actor, {}, now())

        await self._backend.write(body)

    async def events(self, agent: str, limit: int = 100) -> list[ReleaseEventRecord]:
        stmt = (
            "SELECT id, agent, kind, actor, detail, created_at FROM release_events"
            " WHERE agent = :a ORDER BY created_at DESC, id DESC LIMIT :limit"
        )
        found = await self._backend.read(lambda tx: tx.rows(stmt, {"a": agent, "limit": limit}))
        return [
            ReleaseEventRecord(
                id=r["id"],
                agent=r["agent"],
                kind=r["kind"],
                actor=r["actor"],
                detail=document(r["detail"]) or {},
                created_at=created(r["created_at"]),
            )
            for r in found
        ]


def _event(
    tx: Tx, agent: str, kind: str, actor: str | None, detail: dict[str, Any], at: datetime
) -> None:
    tx.run(
        "INSERT INTO release_events (id, agent, kind, actor, detail, created_at)"
        " VALUES (:id, :agent, :kind, :actor, :detail, :at)",
        {
            "id": new_id("rel"),
            "agent": agent,
            "kind": kind,
            "actor": actor,
            "detail": detail,
            "at": at,
        },
    )
