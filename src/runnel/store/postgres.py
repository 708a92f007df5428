"""The shared store: PostgreSQL through psycopg 3, for every machine that reaches the database."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from runnel.exceptions import StoreError
from runnel.store.factory import redact
from runnel.store.sql import Cursor, SqlStore

try:
    import psycopg
except ImportError:  # pragma: no cover - only without the postgres extra
    raise StoreError(
        "RUNNEL_DATABASE_URL names PostgreSQL but psycopg is not installed: "
        "pip install 'runnel[postgres]'"
    ) from None

CONNECT_TIMEOUT_SECONDS = 10
# The pg_advisory_xact_lock key that makes concurrent processes migrate one at a time
# ("runnel" in ASCII, so it is unlikely to collide with another application's key).
MIGRATION_LOCK_KEY = 0x72756E6E656C


@functools.lru_cache(maxsize=512)
def _to_psycopg(sql: str) -> str:
    """The shared SQL's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Cursor:
    """A psycopg cursor that speaks the shared SQL's ``?`` placeholders."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(_to_psycopg(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(_to_psycopg(sql), rows)

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def fetchone(self) -> Any:
        return self._cursor.fetchone()


class PostgresStore(SqlStore):
    """Run history in PostgreSQL: one connection per store, one transaction at a time."""

    _for_update = " FOR UPDATE"  # row locks make a limit's acquirers take turns

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql+psycopg://"):
            url = "postgresql://" + url.removeprefix("postgresql+psycopg://")
        self._url = url
        self.location = redact(url)
        try:
            self._password = urlsplit(url).password
        except ValueError:
            self._password = None
        self._lock = threading.RLock()
        self._closed = False
        self._conn = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except psycopg.Error as error:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.location} ({self._describe(error)}): "
                "check that the server is running and RUNNEL_DATABASE_URL is right"
            ) from None

    def _describe(self, error: psycopg.Error) -> str:
        """The first line of a psycopg error, never the password."""
        text = " ".join(str(error).split("\n", 1)[0].split()) or type(error).__name__
        return text.replace(self._password, "***") if self._password else text

    def _error(self, error: psycopg.Error) -> StoreError:
        """A psycopg error as the store's own: which database, and what to do about it."""
        if isinstance(error, psycopg.OperationalError):
            hint = "check that the server is running and reachable"
        else:
            hint = (
                "check that RUNNEL_DATABASE_URL names runnel's database and that nothing else "
                "changed its tables"
            )
        return StoreError(f"PostgreSQL at {self.location}: {self._describe(error)} ({hint})")

    def _begin(self, statement: str) -> psycopg.Cursor[Any]:
        """A cursor in a new transaction, reconnecting once if the connection was lost."""
        if self._closed:
            raise StoreError(f"the store of {self.location} is closed")
        if self._conn.closed:
            self._conn = self._connect()
        try:
            return self._conn.execute(statement)
        except psycopg.OperationalError as error:
            if not self._conn.closed:  # the server answered: reconnecting would not help
                raise self._error(error) from None
        self._conn = self._connect()
        try:
            return self._conn.execute(statement)
        except psycopg.OperationalError as error:
            raise self._error(error) from None

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Cursor]:
        with self._lock:
            with self._begin("BEGIN" if write else "BEGIN READ ONLY") as cursor:
                try:
                    yield _Cursor(cursor)
                    cursor.execute("COMMIT")
                except psycopg.Error as error:
                    self._rollback()
                    raise self._error(error) from error
                except BaseException:
                    self._rollback()
                    raise

    def _rollback(self) -> None:
        idle = psycopg.pq.TransactionStatus.IDLE
        if not self._conn.closed and self._conn.info.transaction_status != idle:
            with contextlib.suppress(psycopg.Error):  # lost: the server rolled back
                self._conn.execute("ROLLBACK")

    def _lock_for_migration(self, cursor: Cursor) -> None:
        cursor.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")

    def _table_names(self, cursor: Cursor) -> set[str]:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {row[0] for row in cursor.fetchall()}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()
