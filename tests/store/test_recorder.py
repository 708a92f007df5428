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
        while recorder._logs:  # the recorder thread takes it alone, within its interval
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


# -- state rows a run's own row already tells -----------------------------------------------


def _state_rows(store: SQLiteStore) -> int:
    with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM run_states").fetchone()[0]
        return count


def test_straight_task_runs_write_no_state_rows_and_read_back_their_exact_states(
    tmp_path: Path,
) -> None:
    from runnel import flow, task
    from runnel.cache_policies import INPUTS
    from runnel.runs import Run
    from runnel.runtime import install, restore
    from runnel.states import State

    store = SQLiteStore(tmp_path / "runnel.db")
    recorder = Recorder(store, interval=60.0)  # writes only when flushed: one batch a flow
    seen: list[tuple[str, int, State]] = []

    class Watching:
        def state_changed(self, run: Run, state: State, seq: int) -> None:
            seen.append((run.id, seq, state))
            recorder.state_changed(run, state, seq)

        def log(self, *args: object) -> None:
            recorder.log(*args)  # type: ignore[arg-type]

        def flush(self, timeout: float | None = None) -> None:
            recorder.flush(timeout)

    attempts: list[int] = []

    @task
    def plain(x: int) -> int:
        return x

    @task
    def failing() -> None:
        raise ValueError("boom")

    @task(retries=1)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first time")
        return "ok"

    @task(cache_policy=INPUTS, result_storage=str(tmp_path / "results"))
    def cached(x: int) -> int:
        return x

    @flow
    def pipeline() -> None:
        plain(1)
        plain.submit(2).result()
        failing(return_state=True)
        flaky()
        cached(3)
        cached(3)

    previous = install(sink=lambda: Watching())
    try:
        pipeline()
    finally:
        restore(previous)
        recorder.close(timeout=10)
    by_run: dict[str, list[tuple[int, State]]] = {}
    for run_id, seq, state in seen:
        by_run.setdefault(run_id, []).append((seq, state))
    flow_run = store.list_flow_runs(limit=1)[0]
    task_runs = store.list_task_runs(flow_run.id)
    assert len(task_runs) == 6
    for run_id in [flow_run.id] + [r.id for r in task_runs]:
        expected = [
            (seq, s.type.value, s.name, s.message, s.timestamp) for seq, s in by_run[run_id]
        ]
        got = [(s.seq, s.type, s.name, s.message, s.timestamp) for s in store.list_states(run_id)]
        assert got == expected
    # Only the flow run and the retried task run (Pending, Running, AwaitingRetry, Retrying,
    # Completed) needed state rows.
    assert _state_rows(store) == len(by_run[flow_run.id]) + 5
    store.close()


class _CountingStore(SQLiteStore):
    """A real SQLite history that also counts the task run rows and state rows it is sent."""

    task_rows = 0
    state_rows = 0

    def write(self, batch):  # type: ignore[no-untyped-def]
        self.task_rows += len(batch.task_runs)
        self.state_rows += len(batch.states)
        super().write(batch)


def test_a_run_that_moved_on_while_its_batch_was_taken_is_written_once(tmp_path: Path) -> None:
    """A batch takes what was queued when it began; a run whose next states came after that
    (it started, or ended, meanwhile) waits for them and is written once, as one row."""
    from runnel.engine.steps import set_state
    from runnel.runs import TaskRun
    from runnel.states import Completed, Pending, Running

    store = _CountingStore(tmp_path / "runnel.db")
    recorder = Recorder(store, interval=60.0)  # batches only when this test takes them
    try:
        submitted, started = TaskRun("a-1", "a", "m.a", None), TaskRun("b-1", "b", "m.b", None)
        set_state(submitted, Pending(), recorder)
        set_state(started, Pending(), recorder)
        set_state(started, Running(), recorder)
        queued = len(recorder._queue)
        set_state(started, Completed(1), recorder)  # after the batch below began
        batch, _, taken = recorder._take(queued)
        assert taken == queued
        assert batch.task_runs == [] and batch.states == []  # both held back
        set_state(submitted, Running(), recorder)
        set_state(submitted, Completed(2), recorder)
        recorder.flush(timeout=10)
        assert (store.task_rows, store.state_rows) == (2, 0)
        assert {r.name: r.state_name for r in store.list_task_runs(None)} == {
            "a-1": "Completed",
            "b-1": "Completed",
        }
        assert [s.name for s in store.list_states(started.id)] == [
            "Pending",
            "Running",
            "Completed",
        ]
    finally:
        recorder.close(timeout=10)
        store.close()
