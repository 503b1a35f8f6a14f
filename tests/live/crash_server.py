"""A live opsmgr server WITH engine workers, for the crash-recovery test: `python -m tests.live.crash_server`.

Configured by OPSMGR_* variables like `tests.live.server`. On top of the built-in tasks it registers
`CrashTest.hold`, an automatic task that keeps its lease for `seconds` (an asyncio sleep inside the
implementation, unlike `delay`, which gives the lease back while it waits).

If OPSMGR_CRASH_GATE names a file and that file exists, the next STUCK hold tasks to finish their sleep
never return: each writes `<gate>.<task id>` and waits for SIGKILL. The process keeps those tasks leased
and unrecorded, so "a task was running when the process died" is certain rather than a matter of
timing, while its other workers go on working.
"""

from __future__ import annotations

import asyncio
import os

import uvicorn

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.engine.registry import Outcome, TaskContext, default_registry
from opsmgr.store.database import Database

APP = "CrashTest"
STUCK = 2
_stuck = 0  # hold tasks blocked on the gate (the event loop is single-threaded)


async def hold(ctx: TaskContext) -> Outcome:
    """Sleep `seconds` while holding the lease, then output `token` as `held`."""
    await asyncio.sleep(float(ctx.incoming.get("seconds") or 0))
    global _stuck
    gate = os.environ.get("OPSMGR_CRASH_GATE")
    if gate and os.path.exists(gate) and _stuck < STUCK:
        _stuck += 1
        with open(f"{gate}.{ctx.task_id}", "w"):
            pass
        while True:  # until SIGKILL
            await asyncio.sleep(1)
    return Outcome(outputs={"held": ctx.incoming.get("token")})


def main() -> None:
    settings = Settings()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    registry = default_registry()
    registry.register(APP, "hold", hold)
    uvicorn.run(
        create_app(settings, db, registry), host=settings.host, port=settings.port, log_level="warning",
        access_log=False, timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
