"""Connections and transactions for SQLite and PostgreSQL (architecture guide "Storage", decisions §8).

`Database.write()` is the one way to change data: one transaction per use case, committed on exit.
SQLite runs in WAL mode with synchronous=FULL (an acknowledged write survives power loss) and write
transactions start with BEGIN IMMEDIATE. In-process, SQLite writers also queue on a lock: SQLite's own
busy handler sleeps in growing steps, which ruins tail latency when 32 requests want to write at once,
while a queue hands the write lock over at once. The lock is only an orderly queue; the database still
decides every conflict (BEGIN IMMEDIATE + busy_timeout guard other processes).

Group commit (SQLite): writers that queue up while one works share its transaction. Each use case runs
in its own SAVEPOINT (released on success, rolled back on error, so it stays atomic on its own), and
the last writer of the queue commits for all; every `write()` block returns only after that COMMIT,
so nothing is acknowledged before it is durable. One fsync then serves many use cases, and the write
lock is held for less than a whole commit per use case. If the COMMIT fails, every member fails.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.pool import StaticPool

from opsmgr.errors import Conflict, Invalid, StoreBusy

BUSY_TIMEOUT_MS = 10_000
GROUP_COMMIT_MAX = 32  # use cases per shared transaction: bounds the wait of its first member


class _Batch:
    """One SQLite write transaction shared by consecutive use cases."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.members = 0  # use cases that succeeded and wait for the COMMIT
        self.done = threading.Event()
        self.error: BaseException | None = None


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """An engine plus the transaction discipline of one dialect."""

    def __init__(self, url: str, pool_size: int = 16) -> None:
        self.url = normalize_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        self._write_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queued = 0  # threads waiting for the write lock
        self._batch: _Batch | None = None
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(pool_size)
        else:
            self.engine = create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    def _sqlite_engine(self, pool_size: int) -> Engine:
        memory = self.url in ("sqlite://", "sqlite:///:memory:")
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}}
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        engine = create_engine(self.url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")

        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an exception."""
        if self.dialect == "sqlite":
            with self._sqlite_write() as conn:
                yield conn
        else:
            with self.engine.connect() as conn, _translated(), conn.begin():
                yield conn

    @contextmanager
    def _sqlite_write(self) -> Iterator[Connection]:
        with self._queue_lock:
            self._queued += 1
        self._write_lock.acquire()
        with self._queue_lock:
            self._queued -= 1
        batch: _Batch | None = None
        try:
            batch = self._batch or self._open_batch()
            conn = batch.conn
            conn.exec_driver_sql("SAVEPOINT use_case")
            try:
                with _translated():
                    yield conn
            except BaseException:
                try:
                    conn.exec_driver_sql("ROLLBACK TO use_case")
                    conn.exec_driver_sql("RELEASE use_case")
                except Exception as exc:  # the transaction is unusable: end it with all its members
                    batch.error = exc
                raise
            conn.exec_driver_sql("RELEASE use_case")
            batch.members += 1
        finally:
            if batch is not None and (
                batch.error is not None or batch.members >= GROUP_COMMIT_MAX or self._queued == 0
            ):
                self._batch = None
                self._close_batch(batch)
            self._write_lock.release()
        assert batch is not None
        batch.done.wait()
        if batch.error is not None:
            if isinstance(batch.error, StoreBusy):
                raise StoreBusy(str(batch.error)) from batch.error
            raise StoreBusy("the write could not be committed; retry shortly") from batch.error

    def _open_batch(self) -> _Batch:
        conn = self.engine.connect()
        conn.info["immediate"] = True
        try:
            with _translated():
                conn.begin()
        except BaseException:
            conn.info["immediate"] = False
            conn.close()
            raise
        self._batch = _Batch(conn)
        return self._batch

    def _close_batch(self, batch: _Batch) -> None:
        """COMMIT (or roll back) the shared transaction, then release everyone waiting on it."""
        conn = batch.conn
        try:
            transaction = conn.get_transaction()
            assert transaction is not None
            if batch.error is None and batch.members:
                with _translated():
                    transaction.commit()
            else:
                transaction.rollback()
        except BaseException as exc:
            batch.error = batch.error or exc
        finally:
            conn.info["immediate"] = False
            conn.close()
            batch.done.set()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both dialects)."""
        with self.engine.connect() as conn, _translated(), conn.begin():
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _translated() -> Iterator[None]:
    """Database errors that are about the request, not the server, become domain errors."""
    try:
        yield
    except OperationalError as exc:
        text = str(exc.orig).lower()
        if "locked" in text or "busy" in text or "deadlock" in text or "serializ" in text:
            raise StoreBusy("the database is busy; retry shortly") from exc
        raise
    except DataError as exc:
        # e.g. a NUL character in text on PostgreSQL, a number out of range
        reason = str(exc.orig).splitlines()[0] if exc.orig else "invalid value"
        raise Invalid(f"a value in the request cannot be stored: {reason}") from exc
    except IntegrityError as exc:
        # a unique name taken by a concurrent request between our check and our insert
        raise Conflict("the change conflicts with data saved at the same time; retry") from exc

# services name the connection type through here, so that only store/ imports SQLAlchemy
__all__ = ["Connection", "Database", "normalize_url"]


class InTransaction(Database):
    """The open transaction of `conn`, shaped like a Database, so a use case that opens its own
    transaction (e.g. jobs.start_job) joins the caller's instead: both commit together, or neither."""

    def __init__(self, outer: Database, conn: Connection) -> None:
        self.url = outer.url
        self.dialect = outer.dialect
        self.engine = outer.engine
        self._conn = conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        yield self._conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        yield self._conn
