"""Which store a process uses: chosen once from the settings, opened on first use."""

from __future__ import annotations

import os
import threading

from runnel.exceptions import ConfigurationError, NotSupportedYet
from runnel.settings import Settings, get_settings
from runnel.store.base import Store

_store: Store | None = None
_store_pid = 0
_lock = threading.Lock()


def open_store(settings: Settings, busy_timeout: float | None = None) -> Store:
    """A new store for these settings (the caller closes it).

    ``busy_timeout``: how long a SQLite history may stay locked by another process before
    giving up (default: ``runnel.store.sqlite.BUSY_TIMEOUT_SECONDS``).
    """
    url = settings.database_url
    if settings.api_url and not url:
        raise NotSupportedYet(
            "RUNNEL_API_URL (server mode) is not supported yet: unset it to use the embedded "
            "SQLite history, or set RUNNEL_DATABASE_URL=postgresql://... to share a database"
        )
    if not url or url.startswith("sqlite:///"):
        from runnel.store.sqlite import BUSY_TIMEOUT_SECONDS, SQLiteStore

        path = url.removeprefix("sqlite:///") if url else settings.database_path
        return SQLiteStore(path, BUSY_TIMEOUT_SECONDS if busy_timeout is None else busy_timeout)
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        from runnel.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigurationError(
        f"RUNNEL_DATABASE_URL={redact(url)!r} is not supported: use sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DATABASE"
    )


def get_store() -> Store:
    """The store of this process, opened on first use."""
    global _store, _store_pid
    if _store is None or _store_pid != os.getpid():
        with _lock:
            if _store is None or _store_pid != os.getpid():
                # A forked child never shares its parent's connection.
                _store, _store_pid = open_store(get_settings()), os.getpid()
    return _store


def reset_store() -> None:
    """Close and forget the process's store (tests, and after settings change)."""
    global _store
    with _lock:
        if _store is not None and _store_pid == os.getpid():
            _store.close()
        _store = None


def redact(url: str) -> str:
    """A database URL without its password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}" if ":" in credentials else url
