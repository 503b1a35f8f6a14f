"""`getJobs` / `getTasks` (app OperationsManager): Operations Manager search from inside a workflow.

Incoming `queryParameters` is the workflow-task form of the search syntax (ops-manager-api §4.2): an
object of operator → {field: value} (`{"equals": {"status": "running"}, "in": {"status": ["running",
"paused"]}}`; a nested object stands for a dotted field, `{"gt": {"metrics": {"start_time": …}}}` =
`gt[metrics.start_time]`), plus `limit`, `skip`, `sort`, `order`, `include`, `exclude` at the top level.
It becomes the `(key, value)` pairs of `GET /operations-manager/jobs|tasks` (lists joined with commas,
booleans as true/false) and runs through the same service, as the task's actor: that account's roles
must allow getJobs/getTasks, and it sees only the jobs its groups may see (GBAC).

Outgoing `response`: `{data, metadata}`, as the API answers (`metadata` = total, skip, limit, …). A bad
query (unknown operator or field, bad value) ends the task in `error` with the API's 400 message.
These tasks read the database, so they are never inline; `TaskContext.database` is the Engine's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from opsmgr.engine.library import bad, type_name
from opsmgr.engine.registry import Outcome, TaskContext
from opsmgr.errors import OpsmgrError
from opsmgr.services import auth
from opsmgr.services import jobs as job_service
from opsmgr.services import tasks as task_service
from opsmgr.store.database import Database

APP = "OperationsManager"
PLAIN = ("limit", "skip", "sort", "order", "include", "exclude", "dereference")
Search = Callable[[Database, Any, Iterable[tuple[str, str]]], tuple[list[dict[str, Any]], dict[str, Any]]]


class QueryError(ValueError):
    pass


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def _fields(prefix: str, value: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for name, inner in value.items():
        path = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(inner, Mapping):
            if not inner:
                raise QueryError(f"{path} needs a value, got an empty object")
            yield from _fields(path, inner)
        else:
            yield path, inner


def query_pairs(parameters: Any) -> list[tuple[str, str]]:
    """`queryParameters` → the query-string pairs of the API search; QueryError when malformed."""
    if parameters is None:
        return []
    if not isinstance(parameters, Mapping):
        raise QueryError(f"must be an object, got {type_name(parameters)}")
    pairs: list[tuple[str, str]] = []
    for key, value in parameters.items():
        if key in PLAIN:
            pairs.append((key, _text(value)))
        elif isinstance(value, Mapping):
            try:
                pairs.extend((f"{key}[{field}]", _text(inner)) for field, inner in _fields("", value))
            except QueryError as exc:
                raise QueryError(f"{key}: {exc}") from None
        else:
            raise QueryError(f"{key} must be an object of field: value (or one of {', '.join(PLAIN)})")
    return pairs


def _search_as(db: Database, account_id: str, method: str, search: Search,
               pairs: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    principal = auth.load_principal(db, account_id)
    if principal is None:
        raise QueryError(f"the task's actor {account_id} is unknown or inactive")
    if not principal.may_call(method):
        raise QueryError(f"{principal.username} lacks a role for {method}")
    return search(db, principal, pairs)


async def _run(ctx: TaskContext, method: str, search: Search) -> Outcome:
    try:
        pairs = query_pairs(ctx.incoming.get("queryParameters"))
    except QueryError as exc:
        return bad(method, "queryParameters", str(exc))
    if ctx.database is None or ctx.actor is None or ctx.actor.account_id is None:
        return Outcome("error", error={"message": f"{method}: needs the engine's database and a resolved actor"})
    try:
        docs, metadata = await run_in_threadpool(
            _search_as, ctx.database, ctx.actor.account_id, method, search, pairs
        )
    except (QueryError, OpsmgrError) as exc:
        return Outcome("error", error={"message": f"{method}: {exc}"})
    return Outcome(outputs={"response": {"data": docs, "metadata": metadata}})


async def get_jobs(ctx: TaskContext) -> Outcome:
    return await _run(ctx, "getJobs", job_service.search_jobs)


async def get_tasks(ctx: TaskContext) -> Outcome:
    return await _run(ctx, "getTasks", task_service.search_tasks)
