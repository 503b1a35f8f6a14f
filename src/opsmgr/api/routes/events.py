"""Operations Manager event routes (ops-manager-api §5.3, issue #3 scope 7): the event definitions, and
the stream of job and task state changes as server-sent events."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from opsmgr.api.deps import require, state
from opsmgr.api.envelope import ok
from opsmgr.domain.access import Principal
from opsmgr.services import events

router = APIRouter(prefix="/operations-manager", tags=["events"])

POLL_SECONDS = 0.2  # how often an idle stream looks at the outbox


@router.get("/events")
async def get_events(caller: Principal = Depends(require("getEvents"))) -> JSONResponse:
    return ok("Successfully retrieved event definitions", events.definitions())


@router.get("/events/stream")
async def stream_events(
    request: Request,
    after: str | None = None,
    limit: int | None = Query(None, ge=0, description="end the stream after this many events"),
    timeout: float | None = Query(None, ge=0, description="end the stream after this many seconds"),
    caller: Principal = Depends(require("streamEvents")),
) -> StreamingResponse:
    """Server-sent events: `id:` the outbox id, `event:` the topic, `data:` the event as JSON. Starts after
    the `Last-Event-ID` header (or `?after=`), else with the events that come next; only events of jobs
    the caller may see. Ends when the client goes away (or at `limit` / `timeout`); a client resumes
    with `Last-Event-ID`, so every event is delivered, in order, at least once. A client that does not
    accept `text/event-stream` (EventSource always does) gets the events there are now, then the end."""
    st = state(request)
    start = events.parse_after(request.headers.get("last-event-id"), after)
    if start < 0:
        start = await st.run(events.latest_id, st.db)
    cursor = events.Cursor(start)
    deadline = None if timeout is None else time.monotonic() + timeout
    follow = "text/event-stream" in request.headers.get("accept", "")

    async def body() -> AsyncIterator[str]:
        sent = 0
        yield ": stream of @itential/app-operations_manager events\n\n"
        while (limit is None or sent < limit) and (deadline is None or time.monotonic() < deadline):
            if await request.is_disconnected():
                return
            rows = await st.run(events.events_after, st.db, caller, cursor.last)
            batch = cursor.advance(rows, time.monotonic())
            for event in batch[: None if limit is None else limit - sent]:
                data = json.dumps(event, separators=(",", ":"))
                yield f"id: {event['id']}\nevent: {event['topic']}\ndata: {data}\n\n"
                sent += 1
            if len(rows) < events.PAGE:
                if not follow:
                    return  # caught up, and the client is no event stream reader
                await anyio.sleep(POLL_SECONDS)

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@router.get("/events/{source:path}/{topic}")
async def get_event_definition(
    source: str, topic: str, caller: Principal = Depends(require("getEventDefinition"))
) -> JSONResponse:
    return JSONResponse(events.definition(source, topic))
