"""The recorder on a real SQLite history: what a flush says when the history cannot be written."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runnel.store.recorder import Recorder
from runnel.store.sqlite import SQLiteStore


@pytest.fixture
def broken(tmp_path: Path) -> Iterator[tuple[Recorder, SQLiteStore]]:
    """A recorder whose history lost its ``logs`` table (by hand, or by another program)."""
    store = SQLiteStore(tmp_path / "runnel.db")
    recorder = Recorder(store, interval=0.01)
    with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as conn:
        conn.execute("DROP TABLE logs")
    yield recorder, store
    recorder.close(timeout=10)
    store.close()


def _log_line(recorder: Recorder, message: str) -> None:
    recorder.log(None, None, logging.INFO, "runnel.flow_runs", message, time.time())


def _warnings(caplog: pytest.LogCaptureFixture, store: SQLiteStore) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and store.location in record.getMessage()
    ]


def test_every_flush_whose_writes_failed_says_so(
    broken: tuple[Recorder, SQLiteStore], caplog: pytest.LogCaptureFixture
) -> None:
    recorder, store = broken
    for attempt in range(3):
        caplog.clear()
        _log_line(recorder, f"line {attempt}")
        recorder.flush(timeout=10)  # never raises: the run goes on without its history
        [warning] = _warnings(caplog, store)
        assert "may be missing" in warning and "logs" in warning


def test_a_failed_write_in_the_background_is_reported_by_the_next_flush(
    broken: tuple[Recorder, SQLiteStore], caplog: pytest.LogCaptureFixture
) -> None:
    recorder, store = broken
    recorder.flush(timeout=10)  # nothing to write yet: nothing to say
    assert _warnings(caplog, store) == []
    for attempt in range(2):
        _log_line(recorder, f"background {attempt}")
        deadline = time.monotonic() + 10
        while recorder._queue:  # the recorder thread takes it alone, within its interval
            assert time.monotonic() < deadline
            time.sleep(0.01)
        caplog.clear()
        recorder.flush(timeout=10)
        assert len(_warnings(caplog, store)) == 1


def test_a_flush_that_succeeds_says_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "runnel.db")
    recorder = Recorder(store, interval=0.01)
    try:
        _log_line(recorder, "fine")
        recorder.flush(timeout=10)
    finally:
        recorder.close(timeout=10)
        store.close()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
