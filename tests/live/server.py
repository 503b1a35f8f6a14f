"""A live opsmgr server for tests: `python -m tests.live.server`, configured by OPSMGR_* variables.

The test session has already migrated the database; this process only builds the app on the same
database URL and serves it with uvicorn on the given loopback port until it receives SIGTERM.
"""

from __future__ import annotations

import uvicorn

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.store.database import Database


def main() -> None:
    settings = Settings()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    uvicorn.run(
        create_app(settings, db), host=settings.host, port=settings.port, log_level="warning",
        access_log=False, timeout_graceful_shutdown=5,
        # race tests open their keep-alive connections while the other users are still being created; with
        # uvicorn's default 5 s, an idle one could be closed just as the race sends on it
        timeout_keep_alive=120,
    )


if __name__ == "__main__":
    main()
