"""The engine loop: a few asyncio workers in the server process (or in `opsmgr worker`).

A worker leases due tasks, awaits their implementations and records the outcome. Waiting tasks
(delay, manual tasks) hold no worker: a delay goes back to the queue with a due time. Workers sleep
until work is queued in this process (a wake-up callback) or the next due time, polling at most every
`engine_poll_seconds` for work queued by other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from opsmgr.config import Settings
from opsmgr.domain.documents import now_ms
from opsmgr.engine.registry import Actor, Outcome, Registry, TaskContext, TaskSpec
from opsmgr.services import engine as service
from opsmgr.services import event_triggers, events, progress, schedules, webhooks
from opsmgr.store.database import Database

log = logging.getLogger("opsmgr.engine")
BATCH = 8


class Engine:
    def __init__(self, db: Database, settings: Settings, registry: Registry) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self._workers: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self._unsubscribe = None
        self._stop_inline: Callable[[], None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        self._wake = wake
        def wake_up() -> None:
            loop.call_soon_threadsafe(wake.set)

        self._unsubscribe = progress.on_work_queued(wake_up)  # type: ignore[assignment]
        self._stop_inline = progress.use_inline_runner(self.run_inline)
        self._workers = [
            asyncio.create_task(self._work(), name=f"opsmgr-worker-{i}") for i in range(self.settings.engine_workers)
        ]
        if self.settings.engine_workers and self.settings.schedule_poll_seconds > 0:
            self._workers.append(asyncio.create_task(self._schedule(), name="opsmgr-scheduler"))
        if self.settings.engine_workers and self.settings.event_poll_seconds > 0:
            # the trigger cursor exists before the server serves: no event of its first requests is missed
            await run_in_threadpool(event_triggers.ensure, self.db)
            self._workers.append(asyncio.create_task(self._event_triggers(), name="opsmgr-event-triggers"))
            self._workers.append(asyncio.create_task(self._webhooks(), name="opsmgr-webhooks"))

    async def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._stop_inline:
            self._stop_inline()
            self._stop_inline = None
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []

    def run_inline(self, row: Mapping[str, Any], job: Mapping[str, Any]) -> progress.InlineResult | None:
        """Run a pure task to completion right now, on the calling thread (services.progress, ADR 0008).

        None when it cannot finish at once: not registered as inline, it wants to wait (delay), or its
        coroutine actually awaits something; the task then takes the work queue as usual."""
        spec = self.registry.get(row["app"], row["name"])
        if spec is None or spec.impl is None or not spec.inline:
            return None
        ctx = TaskContext(
            job_id=row["job_id"],
            task_id=row["id"],
            task_key=row["task_key"],
            incoming=row["variables"]["incoming"],
            job_variables=job["variables"],
            task_outputs=progress.task_outputs(job["progress"]),
            runtime={},
            now_ms=now_ms(),
        )
        outcome = _run_now(spec, ctx, row["app"], row["name"])
        if outcome is None or outcome.wait_until is not None:
            return None
        return progress.InlineResult(outcome.finish_state, outcome.outputs, outcome.error, outcome.job_variables,
                                     outcome.job_description, self.settings.server_id)

    async def _work(self) -> None:
        assert self._wake is not None
        while True:
            try:
                wait = await run_in_threadpool(service.seconds_until_due, self.db)
                if wait is not None and wait <= 0:
                    items = await run_in_threadpool(
                        service.lease_work, self.db, self.settings.server_id, self.settings.lease_seconds, BATCH
                    )
                    # concurrently: one slow task (a restCall waiting on a device) must not hold the others
                    # of the batch, whose leases are ticking
                    await asyncio.gather(*(self.execute(item) for item in items))
                    if items:
                        continue
                    wait = None
                self._wake.clear()
                poll = self.settings.engine_poll_seconds
                timeout = poll if wait is None else min(wait, poll)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("engine worker failed; continuing")
                await asyncio.sleep(self.settings.engine_poll_seconds)

    async def _schedule(self) -> None:
        """Fire due schedule triggers every `schedule_poll_seconds`, at the real time; every process
        may run this: a conditional UPDATE lets one of them win each due time (services.schedules)."""
        known = self.registry.known()
        while True:
            try:
                await run_in_threadpool(schedules.fire_due, self.db, now_ms(), known)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler failed; continuing")
            await asyncio.sleep(self.settings.schedule_poll_seconds)

    async def _event_triggers(self) -> None:
        """Fire eventSystem triggers on new events (services.event_triggers); the cursor's lease lets one
        process at a time do it."""
        known = self.registry.known()
        consumer = events.Consumer(event_triggers.CONSUMER, self.settings.server_id,
                                   int(self.settings.event_lease_seconds * 1000))
        while True:
            try:
                await run_in_threadpool(event_triggers.fire, self.db, consumer, known)
                if consumer.more:
                    continue  # a backlog: read on without sleeping
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("eventSystem triggers failed; continuing")
            await asyncio.sleep(self.settings.event_poll_seconds)

    async def _webhooks(self) -> None:
        """Deliver events to webhooks (services.webhooks), each webhook's cursor leased by one process."""
        deliveries = webhooks.Deliveries(self.db, self.settings, self.settings.server_id,
                                         int(self.settings.event_lease_seconds * 1000))
        try:
            while True:
                try:
                    await deliveries.round()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook delivery failed; continuing")
                await asyncio.sleep(self.settings.event_poll_seconds)
        finally:
            await deliveries.close()

    async def execute(self, item: service.WorkItem) -> None:
        spec = self.registry.get(item.app, item.name)
        ctx = TaskContext(
            job_id=item.job_id,
            task_id=item.task_id,
            task_key=item.task_key,
            incoming=item.incoming,
            job_variables=item.job_variables,
            task_outputs=item.task_outputs,
            runtime=item.runtime,
            now_ms=now_ms(),
            actor=Actor(item.actor["_id"], item.actor["username"]) if item.actor else None,
            database=self.db,  # for tasks that read through services (getJobs/getTasks)
        )
        if item.actor_error:
            outcome = Outcome("error", error={"message": item.actor_error})
        elif spec is None or spec.impl is None:
            outcome = Outcome("error", error={"message": f"no implementation for {item.app}.{item.name} ({item.type})"})
        else:
            try:
                outcome = await spec.impl(ctx)
            except Exception as exc:  # a task's own failure is its error outcome, not ours
                log.info("task %s (%s.%s) of job %s raised: %s", item.task_key, item.app, item.name, item.job_id, exc)
                outcome = Outcome("error", error={"message": str(exc), "type": type(exc).__name__})
        recompute = None
        if spec is not None and spec.inline and outcome.job_variables and outcome.wait_until is None:
            recompute = functools.partial(self._recompute, spec, item, ctx)
        await run_in_threadpool(
            service.record_work,
            self.db,
            item,
            outcome.finish_state,
            outcome.outputs,
            outcome.error,
            outcome.job_variables,
            outcome.wait_until,
            outcome.runtime,
            outcome.job_description,
            recompute,
        )

    @staticmethod
    def _recompute(
        spec: TaskSpec, item: service.WorkItem, ctx: TaskContext, job_variables: dict[str, Any]
    ) -> tuple[str, dict[str, Any], Any, dict[str, Any] | None] | None:
        """Run a pure task again, synchronously, on `job_variables` as they are now (services.engine.record_work)."""
        outcome = _run_now(spec, dataclasses.replace(ctx, job_variables=job_variables), item.app, item.name)
        if outcome is None:
            return None
        return outcome.finish_state, outcome.outputs, outcome.error, outcome.job_variables


def _run_now(spec: TaskSpec, ctx: TaskContext, app: str, name: str) -> Outcome | None:
    """Drive a pure task's coroutine to its end on the calling thread; None if it actually awaits something.
    A task's own exception is its error outcome, not ours."""
    assert spec.impl is not None
    coroutine = spec.impl(ctx)
    try:
        coroutine.send(None)  # type: ignore[attr-defined]
    except StopIteration as done:
        return done.value
    except Exception as exc:
        log.info("task %s (%s.%s) of job %s raised: %s", ctx.task_key, app, name, ctx.job_id, exc)
        return Outcome("error", error={"message": str(exc), "type": type(exc).__name__})
    coroutine.close()  # type: ignore[attr-defined]
    return None
