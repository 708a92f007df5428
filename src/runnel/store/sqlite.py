"""The embedded store: one SQLite file in WAL mode, shared by every process on the machine."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runnel.exceptions import NotARunnelDatabase, StoreError
from runnel.store.sql import Cursor, SqlStore

# How long a writer keeps trying while other processes hold the write lock. Writers hold it
# for milliseconds, so this is only reached when something is badly stuck.
BUSY_TIMEOUT_SECONDS = 60.0


def _is_busy(error: sqlite3.Error) -> bool:
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class SQLiteStore(SqlStore):
    """Run history in a SQLite file (WAL mode, ``BEGIN IMMEDIATE`` for writes).

    ``busy_timeout``: how long to wait for other processes' locks before giving up.
    """

    def __init__(self, path: str | Path, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.busy_timeout = busy_timeout
        # SQLite's own wait on one statement; ``_retry_busy`` retries up to ``busy_timeout``.
        self._statement_wait = min(5.0, busy_timeout)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the folder of {self.path}: {error}") from error
        try:
            self._conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._statement_wait,
            )
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the run history {self.path}: {error}") from error
        try:
            self._retry_busy(self._configure)
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _configure(self) -> None:
        self._conn.execute(f"PRAGMA busy_timeout = {int(self._statement_wait * 1000)}")
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA cache_size = -16000")  # 16 MB: big histories stay fast
        self._conn.execute("PRAGMA foreign_keys = OFF")

    def _error(self, error: sqlite3.Error) -> StoreError:
        """A sqlite3 error as the store's own: which file, and what to do about it."""
        if type(error) is sqlite3.DatabaseError:  # not a database, or a corrupt one
            return NotARunnelDatabase(
                f"{self.path} is not a runnel database or is corrupt ({error}). Move it away "
                "(runnel starts a new history) or point RUNNEL_HOME / RUNNEL_DATABASE_URL elsewhere."
            )
        if _is_busy(error):
            return StoreError(
                f"the run history {self.path} stayed locked by another process for "
                f"{self.busy_timeout:g} s ({error}): let that process finish, or point "
                "RUNNEL_HOME / RUNNEL_DATABASE_URL elsewhere"
            )
        return StoreError(
            f"the run history {self.path} could not be used ({error}): check that the file and "
            "its folder are writable, that the disk has room and that nothing else changed its "
            "tables; or point RUNNEL_HOME / RUNNEL_DATABASE_URL elsewhere"
        )

    def _retry_busy(self, action: Any) -> Any:
        """Run ``action``, waiting out other writers however long they take, up to a limit."""
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.002
        while True:
            try:
                return action()
            except sqlite3.Error as error:
                if not _is_busy(error) or time.monotonic() > deadline:
                    raise self._error(error) from error
                time.sleep(pause)
                pause = min(pause * 2, 0.1)

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            self._retry_busy(lambda: cur.execute("BEGIN IMMEDIATE" if write else "BEGIN"))
            try:
                yield cur
            except sqlite3.Error as error:
                self._rollback()
                raise self._error(error) from error
            except BaseException:
                self._rollback()
                raise
            try:
                self._retry_busy(lambda: cur.execute("COMMIT"))
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        # A failed rollback must not hide the error that caused it; SQLite rolls back anyway.
        with contextlib.suppress(sqlite3.Error):
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")

    def _lock_for_migration(self, cursor: Cursor) -> None:
        pass  # BEGIN IMMEDIATE already holds the only write lock.

    def _table_names(self, cursor: Cursor) -> set[str]:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in cursor.fetchall()}

    def _strict_empty(self) -> bool:
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()
