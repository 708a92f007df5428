"""ProcessPoolTaskRunner on real worker processes: values, errors and history across them.

What the runner contract (``test_runner_contract.py``) checks on every runner is not repeated
here; these are the things only another process makes hard: pickling both ways, the history
written by two processes, and a worker that dies.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runnel import flow, get_run_logger, task
from runnel.exceptions import ConfigurationError, TaskRunTimeoutError, WorkerTransferError
from runnel.settings import reset_settings
from runnel.store import Store, get_store, reset_store
from runnel.store.recorder import reset_recorder
from runnel.task_runners import ProcessPoolTaskRunner

PATIENCE = 30.0


def pause(seconds: float) -> None:
    """Sleep in short steps, so that a timed-out task stops soon after it is told to."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.05))


@task
def square(x: int) -> int:
    return x * x


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def where(tag: str) -> tuple[str, int]:
    return tag, os.getpid()


@task
async def async_where(tag: str) -> tuple[str, int]:
    await asyncio.sleep(0)
    return tag, os.getpid()


@task(log_prints=True)
def chatty(n: int) -> int:
    get_run_logger().info("logged from the worker, n=%d", n)
    print(f"printed from the worker, n={n}")
    return n


@task
def fail(message: str) -> None:
    raise KeyError(message)


@task(retries=2, retry_delay_seconds=0.05)
def flaky(attempts_file: str) -> int:
    attempts = Path(attempts_file)
    with attempts.open("a") as log:
        log.write(f"{os.getpid()}\n")
    count = len(attempts.read_text().splitlines())
    if count < 3:
        raise RuntimeError(f"attempt {count} fails")
    return count


@task(timeout_seconds=0.3)
def too_slow() -> str:
    pause(5)
    return "never"


@task
def make_lock() -> Any:
    return threading.Lock()


class HoldsALock(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


@task
def raise_holding_a_lock() -> None:
    raise HoldsALock("with a lock inside")


class TwoArguments(Exception):
    """Pickles, but cannot be unpickled: ``__init__`` wants two arguments, ``args`` holds one."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")


@task
def raise_two_arguments() -> None:
    raise TwoArguments(7, "seven")


@task
def identity(value: Any) -> Any:
    return value


@task
def die_after(seconds: float) -> None:
    pause(seconds)
    os.kill(os.getpid(), 9)


def runner(max_workers: int = 2) -> ProcessPoolTaskRunner:
    return ProcessPoolTaskRunner(max_workers=max_workers)


def state_names(store: Store, task_run_id: str) -> list[str]:
    return [state.name for state in store.list_states(task_run_id)]


# -- the runner --------------------------------------------------------------------------------


def test_the_runner_is_named_process_and_sized_by_the_cpus() -> None:
    default = ProcessPoolTaskRunner()
    assert default.name == "process"
    assert default.max_workers == (os.cpu_count() or 1)
    copy = runner(3).duplicate()
    assert isinstance(copy, ProcessPoolTaskRunner) and copy.max_workers == 3
    assert repr(copy) == "ProcessPoolTaskRunner(max_workers=3)"
    for bad in (0, -1, 2.5, "4"):
        with pytest.raises(ConfigurationError, match="max_workers"):
            ProcessPoolTaskRunner(max_workers=bad)  # type: ignore[arg-type]


# -- values ------------------------------------------------------------------------------------


def test_results_and_futures_as_arguments_cross_to_worker_processes() -> None:
    @flow(task_runner=runner())
    def pipeline() -> dict[str, Any]:
        squares = square.map([1, 2, 3])
        total = add.submit(squares[0], add.submit(squares[1], squares[2]))
        places = [where.submit("sync"), async_where.submit("async")]
        return {
            "total": total.result(timeout=PATIENCE),
            "places": [f.result(timeout=PATIENCE) for f in places],
            "task_run": total.task_run,
        }

    out = pipeline()
    assert out["total"] == 1 + 4 + 9
    assert [tag for tag, _ in out["places"]] == ["sync", "async"]
    assert all(pid != os.getpid() for _, pid in out["places"])
    # The run this process holds took on what the run became in the worker.
    task_run = out["task_run"]
    assert task_run.state.is_completed() and task_run.state.result() == 14
    assert task_run.state_seq == 3 and task_run.run_count == 1
    assert task_run.start_time is not None and task_run.end_time is not None


def test_a_failure_comes_back_with_its_exception_type_and_message(store: Store) -> None:
    @flow(task_runner=runner())
    def failing() -> tuple[Any, str]:
        future = fail.submit("no such key")
        with pytest.raises(KeyError, match="no such key"):
            future.result(timeout=PATIENCE)
        return [future.state], future.task_run_id

    [state], task_run_id = failing()
    assert state.is_failed() and "KeyError: 'no such key'" in state.message
    assert type(state.exception) is KeyError
    assert state_names(store, task_run_id) == ["Pending", "Running", "Failed"]


def test_retries_happen_inside_the_worker(store: Store, tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"

    @flow(task_runner=runner())
    def retried() -> tuple[int, str]:
        future = flaky.submit(str(attempts))
        return future.result(timeout=PATIENCE), future.task_run_id

    value, task_run_id = retried()
    assert value == 3
    pids = attempts.read_text().split()
    assert len(pids) == 3 and len(set(pids)) == 1 and int(pids[0]) != os.getpid()
    assert state_names(store, task_run_id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    row = store.read_task_run(task_run_id)
    assert row is not None and row.run_count == 3 and row.state_seq == 7


def test_a_timeout_is_enforced_inside_the_worker(store: Store) -> None:
    @flow(task_runner=runner())
    def slow() -> tuple[Any, str]:
        future = too_slow.submit()
        with pytest.raises(TaskRunTimeoutError, match="exceeded timeout of 0.3 second"):
            future.result(timeout=PATIENCE)
        return [future.state], future.task_run_id

    started = time.monotonic()
    [state], task_run_id = slow()
    assert state.name == "TimedOut"
    assert time.monotonic() - started < 4.0  # neither the flow nor the pool waited 5 s
    assert state_names(store, task_run_id) == ["Pending", "Running", "TimedOut"]


# -- what cannot be pickled --------------------------------------------------------------------


def test_what_cannot_be_sent_back_fails_the_run_clearly(store: Store) -> None:
    @flow(task_runner=runner())
    def unsendable() -> list[Any]:
        futures = [
            make_lock.submit(),
            raise_holding_a_lock.submit(),
            raise_two_arguments.submit(),
        ]
        for future in futures:
            future.wait(PATIENCE)
        return [(f.state, f.task_run_id) for f in futures]

    (lock, lock_id), (holds, holds_id), (two, two_id) = unsendable()
    assert lock.is_failed() and isinstance(lock.exception, WorkerTransferError)
    assert "the task returned <unlocked _thread.lock object" in lock.message
    assert "cannot be sent back from the worker process" in lock.message
    assert holds.is_failed() and isinstance(holds.exception, WorkerTransferError)
    assert "HoldsALock('with a lock inside')" in holds.message
    assert two.is_failed() and isinstance(two.exception, WorkerTransferError)
    assert "TwoArguments('7: seven')" in two.message
    for task_run_id in (lock_id, holds_id, two_id):
        row = store.read_task_run(task_run_id)
        assert row is not None and row.state_type == "FAILED"
        assert state_names(store, task_run_id) == ["Pending", "Running", "Failed"]


def test_an_argument_that_cannot_be_sent_stops_the_run_clearly(store: Store) -> None:
    @flow(task_runner=runner())
    def unsendable() -> tuple[Any, str, int]:
        future = identity.submit(threading.Lock())
        future.wait(PATIENCE)
        after = identity.submit(5)  # the runner is still usable
        return [future.state], future.task_run_id, after.result(timeout=PATIENCE)

    [state], task_run_id, after = unsendable()
    assert after == 5
    assert not state.is_completed()
    assert "cannot be sent to a worker process" in state.message
    assert "cannot pickle '_thread.lock' object" in state.message
    assert state_names(store, task_run_id)[-1] == state.name


# -- history -----------------------------------------------------------------------------------


def test_history_of_runs_in_workers_is_complete(
    store: Store, capfd: pytest.CaptureFixture[str]
) -> None:
    @flow(task_runner=runner())
    def logged() -> list[int]:
        return [f.result(timeout=PATIENCE) for f in chatty.map(range(4))]

    assert logged() == [0, 1, 2, 3]
    [flow_run] = store.list_flow_runs()
    assert flow_run.state_type == "COMPLETED"
    task_runs = store.list_task_runs(flow_run.id)
    assert len(task_runs) == 4
    for row in task_runs:
        assert (row.state_type, row.runner, row.state_seq, row.run_count) == (
            "COMPLETED",
            "process",
            3,
            1,
        )
        assert row.start_time is not None and row.end_time is not None
        states = store.list_states(row.id)
        assert [(s.seq, s.name) for s in states] == [
            (1, "Pending"),
            (2, "Running"),
            (3, "Completed"),
        ]
        assert states[0].timestamp <= states[1].timestamp <= states[2].timestamp

    logs = store.list_logs(flow_run.id)
    by_run = {
        row.id: [line.message for line in logs if line.task_run_id == row.id] for row in task_runs
    }
    for row in task_runs:  # each run logged, printed and finished, in that order
        messages = by_run[row.id]
        assert len(messages) == 3, (row.name, messages)
        assert messages[0].startswith("logged from the worker, n=")
        assert messages[1].startswith("printed from the worker, n=")
        assert messages[2] == "Finished in state Completed()"
    assert sorted(m for ms in by_run.values() for m in ms if m.startswith("printed")) == [
        f"printed from the worker, n={n}" for n in range(4)
    ]
    console = capfd.readouterr().err
    assert "logged from the worker, n=3" in console
    assert "printed from the worker, n=3" in console


@pytest.mark.timeout(60)
def test_a_killed_worker_crashes_its_run_and_the_flow_goes_on(store: Store) -> None:
    @flow(task_runner=runner())
    def doomed() -> tuple[Any, str, int]:
        victim = die_after.submit(0.3)
        victim.wait(PATIENCE)
        assert victim.done(), "the flow hangs on a dead worker"
        after = square.submit(4)  # a fresh pool takes the runs after the crash
        return [victim.state], victim.task_run_id, after.result(timeout=PATIENCE)

    started = time.monotonic()
    [state], task_run_id, after = doomed()
    assert time.monotonic() - started < PATIENCE
    assert after == 16
    assert state.is_crashed()
    assert "worker process of its pool ended abruptly" in state.message
    row = store.read_task_run(task_run_id)
    assert row is not None and row.state_type == "CRASHED" and row.runner == "process"
    states = store.list_states(task_run_id)
    # Running is there when the worker's recorder wrote it before the kill (it usually has).
    assert [s.name for s in states] in (["Pending", "Running", "Crashed"], ["Pending", "Crashed"])
    assert row.state_seq == states[-1].seq
    [flow_run] = store.list_flow_runs()
    assert flow_run.state_type == "COMPLETED"  # the crash was observed, so the flow decides


@pytest.mark.postgres
def test_workers_write_to_the_database_the_flow_uses(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_recorder()
    reset_store()
    monkeypatch.setenv("RUNNEL_DATABASE_URL", postgres_url)  # the workers inherit it
    reset_settings()

    @flow(task_runner=runner())
    def on_postgres() -> int:
        return sum(f.result(timeout=PATIENCE) for f in square.map(range(3)))

    assert on_postgres() == 5
    store = get_store()
    [flow_run] = store.list_flow_runs()
    task_runs = store.list_task_runs(flow_run.id)
    assert {(row.state_type, row.runner, row.state_seq) for row in task_runs} == {
        ("COMPLETED", "process", 3)
    }
    for row in task_runs:
        assert state_names(store, row.id) == ["Pending", "Running", "Completed"]
