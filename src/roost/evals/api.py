"""``/v1/evals/…``: datasets, cases (also from a stored run), experiments, comparisons,
reports; ``/v1/runs/{id}/replay``. Everything belongs to its creator's (tenant, user)
and is 404 to anyone else (decision 0130); admins see all."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from roost.evals.cases import MAX_CASES, Case, content_id, unique_ids
from roost.evals.compare import compare, evaluate_gate, parse_gate
from roost.evals.errors import DatasetNotFound, ExperimentNotFound
from roost.evals.experiment import ExperimentConfig
from roost.evals.records import DatasetRecord, ExperimentRecord
from roost.server._http import json_response, parse_body
from roost.server.auth import Principal
from roost.server.openapi import query
from roost.server.router import Doc, api_route
from roost.server.routes._common import load_run, load_session

if TYPE_CHECKING:
    from roost.evals.host import EvalHost


class DatasetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(min_length=1, max_length=128)
    description: str | None = Field(None, max_length=2000)
    cases: list[Case] = Field(default_factory=list, max_length=MAX_CASES)
    metadata: dict[str, Any] = Field(default_factory=dict)


class CasesAdd(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    cases: list[Case] = Field(min_length=1, max_length=MAX_CASES)


class CaseFromRun(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    run_id: str = Field(min_length=1, max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=32)


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    dataset: str = Field(min_length=1, max_length=128, description="a dataset id or name")
    agent: str = Field(min_length=1, max_length=128, description="name@version")
    scorers: list[Any] | None = Field(None, max_length=32)
    concurrency: int = Field(4, ge=1, le=64)
    repetitions: int = Field(1, ge=1, le=20)
    seed: int | None = Field(None, ge=0, le=2**31)
    baseline: str | None = Field(None, max_length=64)
    gate: str | None = Field(None, max_length=500)
    timeout_s: float = Field(300.0, gt=0, le=3600)


class ReplayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    against: str | None = Field(None, min_length=1, max_length=128)


def dataset_out(d: DatasetRecord) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "cases": d.cases,
        "metadata": d.metadata,
        "user_id": d.user_id,
        "tenant_id": d.tenant_id,
        "created_at": d.created_at.timestamp(),
    }


def experiment_out(e: ExperimentRecord) -> dict[str, Any]:
    return {
        "id": e.id,
        "dataset_id": e.dataset_id,
        "agent": e.agent,
        "status": e.status,
        "config": e.config,
        "summary": e.summary,
        "user_id": e.user_id,
        "tenant_id": e.tenant_id,
        "created_at": e.created_at.timestamp(),
        "finished_at": e.finished_at.timestamp() if e.finished_at else None,
    }


def _finished(evals: EvalHost, experiment_id: str, task: asyncio.Task[Any]) -> None:
    """Forget a background experiment; log why it failed (its status says ``failed``)."""
    evals.running.pop(experiment_id, None)
    if not task.cancelled() and task.exception() is not None:
        log.error("experiment %s failed", experiment_id, exc_info=task.exception())


def _with_ids(cases: list[Case], request: Request) -> list[Case]:
    """Cases sent without an id get one from their content (stable across imports)."""
    for case in cases:
        if "id" not in case.model_fields_set:
            case.id = content_id(case)
    return unique_ids(cases)


log = logging.getLogger("roost.evals")

_OBJECT = {"type": "object"}
_LIST = {"type": "object", "properties": {"data": {"type": "array", "items": _OBJECT}}}


def routes(evals: EvalHost) -> list[BaseRoute]:
    async def dataset(principal: Principal, ref: str) -> DatasetRecord:
        records = evals.records
        try:
            found = await records.get_dataset(ref)
        except DatasetNotFound:
            named = await records.find_dataset(ref)
            if named is None:
                raise
            found = named
        if not principal.can_access(found.user_id, found.tenant_id):
            raise DatasetNotFound(f"no dataset {ref!r}")
        return found

    async def experiment(principal: Principal, ref: str) -> ExperimentRecord:
        found = await evals.records.get_experiment(ref)
        if not principal.can_access(found.user_id, found.tenant_id):
            raise ExperimentNotFound(f"no experiment {ref!r}")
        return found

    async def create_dataset(request: Request, principal: Principal) -> Response:
        body = await parse_body(request, DatasetCreate)
        cases = _with_ids(body.cases, request)
        made = await evals.records.create_dataset(
            body.name,
            cases,
            description=body.description,
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            metadata=body.metadata,
        )
        return json_response(dataset_out(made), status=201)

    async def list_datasets(request: Request, principal: Principal) -> Response:
        user_id, tenant_id = principal.listing_filter()
        found = await evals.records.list_datasets(user_id=user_id, tenant_id=tenant_id)
        data = [dataset_out(d) for d in found if principal.can_access(d.user_id, d.tenant_id)]
        return json_response({"data": data})

    async def get_dataset(request: Request, principal: Principal) -> Response:
        found = await dataset(principal, request.path_params["dataset_id"])
        cases = await evals.records.cases(found.id)
        out = dataset_out(found)
        out["data"] = [
            c.model_dump(mode="json", exclude_none=True, exclude={"recorded"}) for c in cases
        ]
        return json_response(out)

    async def delete_dataset(request: Request, principal: Principal) -> Response:
        found = await dataset(principal, request.path_params["dataset_id"])
        await evals.records.delete_dataset(found.id)
        return Response(status_code=204)

    async def add_cases(request: Request, principal: Principal) -> Response:
        found = await dataset(principal, request.path_params["dataset_id"])
        body = await parse_body(request, CasesAdd)
        size = await evals.records.add_cases(found.id, _with_ids(body.cases, request))
        return json_response({"dataset_id": found.id, "cases": size}, status=201)

    async def case_from_run(request: Request, principal: Principal) -> Response:
        from roost.evals.traffic import case_from_run as make_case

        found = await dataset(principal, request.path_params["dataset_id"])
        body = await parse_body(request, CaseFromRun)
        run = await load_run(evals.services, principal, body.run_id)
        case = await make_case(evals.services.store, run, tags=body.tags)
        size = await evals.records.add_cases(found.id, [case])
        out = case.model_dump(mode="json", exclude_none=True, exclude={"recorded"})
        return json_response({"dataset_id": found.id, "cases": size, "case": out}, status=201)

    async def create_experiment(request: Request, principal: Principal) -> Response:
        body = await parse_body(request, ExperimentCreate)
        found = await dataset(principal, body.dataset)
        if body.gate:
            parse_gate(body.gate)
        if body.baseline:
            await experiment(principal, body.baseline)
        cases = await evals.records.cases(found.id)
        scorers = evals.build_scorers(body.scorers, cases, trusted=principal.is_admin)
        config = ExperimentConfig(
            agent=body.agent,
            concurrency=body.concurrency,
            repetitions=body.repetitions,
            seed=body.seed,
            scorers=body.scorers,
            timeout_s=body.timeout_s,
            baseline=body.baseline,
        )
        from roost.evals.experiment import ExperimentRunner

        record = await ExperimentRunner(evals.services).start(
            found.id, config, user_id=principal.user_id, tenant_id=principal.tenant_id
        )
        task = evals.services.spawn(
            evals.run_experiment(found.id, config, scorers, gate=body.gate, experiment=record)
        )
        evals.running[record.id] = task
        task.add_done_callback(lambda t: _finished(evals, record.id, t))
        return json_response(experiment_out(record), status=202)

    async def list_experiments(request: Request, principal: Principal) -> Response:
        user_id, tenant_id = principal.listing_filter()
        dataset_id = request.query_params.get("dataset")
        if dataset_id is not None and not 0 < len(dataset_id) <= 64:
            from roost.core import InvalidRequest

            raise InvalidRequest("query parameter 'dataset' is 1 to 64 characters")
        found = await evals.records.list_experiments(
            user_id=user_id, tenant_id=tenant_id, dataset_id=dataset_id
        )
        data = [experiment_out(e) for e in found if principal.can_access(e.user_id, e.tenant_id)]
        return json_response({"data": data})

    async def get_experiment(request: Request, principal: Principal) -> Response:
        return json_response(
            experiment_out(await experiment(principal, request.path_params["experiment_id"]))
        )

    async def experiment_results(request: Request, principal: Principal) -> Response:
        found = await experiment(principal, request.path_params["experiment_id"])
        results = await evals.records.results(found.id)
        data = [
            {
                "case_id": r.case_id,
                "repetition": r.repetition,
                "run_id": r.run_id,
                "status": r.status,
                **r.body,
            }
            for r in results
        ]
        return json_response({"data": data})

    async def compare_experiments(request: Request, principal: Principal) -> Response:
        found = await experiment(principal, request.path_params["experiment_id"])
        base_ref = request.query_params.get("baseline") or found.config.get("baseline")
        if not base_ref:
            from roost.core import InvalidRequest

            raise InvalidRequest("which baseline?", hint="pass ?baseline=EXPERIMENT_ID")
        base = await experiment(principal, str(base_ref))
        records = evals.records
        diff = compare(
            base.id, await records.results(base.id), found.id, await records.results(found.id)
        )
        out = diff.as_dict()
        gate = request.query_params.get("gate")
        if gate:
            out["gate"] = [c.as_dict() for c in evaluate_gate(gate, found.summary, diff)]
        return json_response(out)

    async def experiment_report(request: Request, principal: Principal) -> Response:
        from roost.evals.report import render

        found = await experiment(principal, request.path_params["experiment_id"])
        records = evals.records
        results = await records.results(found.id)
        diff = None
        if found.config.get("baseline"):
            base = await records.get_experiment(str(found.config["baseline"]))
            diff = compare(base.id, await records.results(base.id), found.id, results)
        return Response(
            render(found, results, comparison=diff), media_type="text/html; charset=utf-8"
        )

    async def replay(request: Request, principal: Principal) -> Response:
        from roost.evals.replay import replay_run

        run = await load_run(evals.services, principal, request.path_params["run_id"])
        body = await parse_body(request, ReplayCreate)
        return json_response(await replay_run(evals.services, run, against=body.against))

    async def replay_session(request: Request, principal: Principal) -> Response:
        from roost.evals.replay import replay_session as replay_all

        session = await load_session(evals.services, principal, request.path_params["session_id"])
        body = await parse_body(request, ReplayCreate)
        return json_response(await replay_all(evals.services, session.id, against=body.against))

    async def replay_case(request: Request, principal: Principal) -> Response:
        from roost.evals.errors import ReplayImpossible
        from roost.evals.replay import replay_events

        found = await dataset(principal, request.path_params["dataset_id"])
        case_id = request.path_params["case_id"]
        case = next((c for c in await evals.records.cases(found.id) if c.id == case_id), None)
        if case is None:
            raise DatasetNotFound(f"no case {case_id!r} in dataset {found.id!r}")
        body = await parse_body(request, ReplayCreate)
        recorded = case.recorded or {}
        if not recorded.get("events"):
            raise ReplayImpossible(
                f"case {case_id!r} has no recorded run",
                hint="cases made from real traffic (cases/from-run) replay",
            )
        result = await replay_events(
            evals.services,
            list(recorded["events"]),
            case.messages,
            agent=recorded.get("agent"),
            against=body.against,
            model=recorded.get("model"),
            run_id=recorded.get("run_id"),
            owner=(principal.user_id, principal.tenant_id),
        )
        return json_response({"case_id": case.id, **result})

    ds = "/v1/evals/datasets"
    ex = "/v1/evals/experiments"
    html = {"text/html": {"schema": {"type": "string"}}}
    return [
        api_route(
            ds,
            create_dataset,
            ["POST"],
            Doc(
                "Create a dataset with its cases",
                body=DatasetCreate,
                response=_OBJECT,
                status=201,
                permission="evals.run",
            ),
        ),
        api_route(
            ds,
            list_datasets,
            ["GET"],
            Doc("The caller's datasets", response=_LIST, permission="evals.read"),
        ),
        api_route(
            f"{ds}/{{dataset_id}}",
            get_dataset,
            ["GET"],
            Doc(
                "A dataset and its cases (by id or name)", response=_OBJECT, permission="evals.read"
            ),
        ),
        api_route(
            f"{ds}/{{dataset_id}}",
            delete_dataset,
            ["DELETE"],
            Doc("Delete a dataset and its cases", status=204, permission="evals.run"),
        ),
        api_route(
            f"{ds}/{{dataset_id}}/cases",
            add_cases,
            ["POST"],
            Doc(
                "Append cases", body=CasesAdd, response=_OBJECT, status=201, permission="evals.run"
            ),
        ),
        api_route(
            f"{ds}/{{dataset_id}}/cases/from-run",
            case_from_run,
            ["POST"],
            Doc(
                "Turn a stored run into a case (its tool results kept for replay)",
                body=CaseFromRun,
                response=_OBJECT,
                status=201,
                permission="evals.run",
            ),
        ),
        api_route(
            ex,
            create_experiment,
            ["POST"],
            Doc(
                "Run a dataset against an agent version (in the background)",
                body=ExperimentCreate,
                response=_OBJECT,
                status=202,
                errors={"404": "no such dataset, baseline or agent"},
                permission="evals.run",
            ),
        ),
        api_route(
            f"{ds}/{{dataset_id}}/cases/{{case_id}}/replay",
            replay_case,
            ["POST"],
            Doc(
                "Replay a case made from real traffic, its recorded tool results fed back",
                body=ReplayCreate,
                response=_OBJECT,
                errors={"409": "the case has no recorded run"},
                permission="evals.run",
            ),
        ),
        api_route(
            ex,
            list_experiments,
            ["GET"],
            Doc(
                "The caller's experiments",
                response=_LIST,
                params=(
                    query(
                        "dataset",
                        "only this dataset's",
                        {"type": "string", "minLength": 1, "maxLength": 64},
                    ),
                ),
                permission="evals.read",
            ),
        ),
        api_route(
            f"{ex}/{{experiment_id}}",
            get_experiment,
            ["GET"],
            Doc("An experiment and its summary", response=_OBJECT, permission="evals.read"),
        ),
        api_route(
            f"{ex}/{{experiment_id}}/results",
            experiment_results,
            ["GET"],
            Doc("Every case's result, scores and run", response=_LIST, permission="evals.read"),
        ),
        api_route(
            f"{ex}/{{experiment_id}}/compare",
            compare_experiments,
            ["GET"],
            Doc(
                "Case by case against a baseline: what got better, what got worse",
                response=_OBJECT,
                params=(
                    query(
                        "baseline",
                        "the baseline experiment (default: the one it ran with)",
                        {"type": "string", "maxLength": 64},
                    ),
                    query(
                        "gate",
                        "checks, e.g. pass_rate>=0.9,regressions==0",
                        {"type": "string", "maxLength": 500},
                    ),
                ),
                permission="evals.read",
            ),
        ),
        api_route(
            f"{ex}/{{experiment_id}}/report",
            experiment_report,
            ["GET"],
            Doc("The HTML report", response=html, permission="evals.read"),
        ),
        api_route(
            "/v1/runs/{run_id}/replay",
            replay,
            ["POST"],
            Doc(
                "Replay a stored run (or against another version) and diff",
                body=ReplayCreate,
                response=_OBJECT,
                errors={"409": "the run has not ended, or its events are gone"},
                permission="evals.run",
            ),
        ),
        api_route(
            "/v1/sessions/{session_id}/replay",
            replay_session,
            ["POST"],
            Doc(
                "Replay every finished run of a session, oldest first",
                body=ReplayCreate,
                response=_OBJECT,
                errors={"409": "the session has no finished run"},
                permission="evals.run",
            ),
        ),
    ]
