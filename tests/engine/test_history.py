"""The run history: what the store holds once a run returns, from one process and from many."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runnel import flow, get_run_logger, task
from runnel.exceptions import ParameterValidationError
from runnel.store import Store
from runnel.store.base import FlowRunRecord
from runnel.store.recorder import HOLD, Recorder


def test_completed_flow_run_is_fully_recorded(
    store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @task
    def square(i: int) -> int:
        return i * i

    @flow
    def my_flow(n: int, label: str = "x") -> int:
        get_run_logger().info("squaring %d numbers", n)
        return sum(square(i) for i in range(n))

    before = time.time()
    assert my_flow(4) == 14
    after = time.time()
    record = only_flow_run()
    assert record.flow_name == "my-flow"
    assert (record.state_type, record.state_name, record.state_message) == (
        "COMPLETED",
        "Completed",
        None,
    )
    assert json.loads(record.parameters or "") == {"n": 4, "label": "x"}
    assert record.run_count == 1
    assert record.start_time is not None and record.end_time is not None
    assert before <= record.created <= record.start_time <= record.end_time <= after
    assert record.pid == os.getpid()
    assert record.parent_task_run_id is None
    assert [s.name for s in store.list_states(record.id)][-2:] == ["Running", "Completed"]

    task_runs = store.list_task_runs(record.id)
    assert len(task_runs) == 4
    assert all(r.state_type == "COMPLETED" and r.flow_run_id == record.id for r in task_runs)
    assert all(r.task_name == "square" for r in task_runs)
    assert all(r.start_time is not None and r.end_time is not None for r in task_runs)
    assert all(
        record.start_time <= r.start_time <= r.end_time <= record.end_time  # type: ignore[operator]
        for r in task_runs
    )
    created = [r.created for r in task_runs]
    assert created == sorted(created)
    for task_run in task_runs:
        assert store.read_task_run(task_run.id) == task_run
        assert [s.type for s in store.list_states(task_run.id)][-2:] == ["RUNNING", "COMPLETED"]

    logs = store.list_logs(record.id)
    messages = [log.message for log in logs]
    assert messages[0] == f"Beginning flow run '{record.name}' for flow 'my-flow'"
    assert messages[1] == "squaring 4 numbers"
    assert messages.count("Finished in state Completed()") == 5
    assert messages[-1] == "Finished in state Completed()" and logs[-1].task_run_id is None
    assert {log.task_run_id for log in logs} == {None} | {r.id for r in task_runs}
    assert store.read_flow_run(record.id) == record
    assert store.read_flow_run(record.name) == record


@pytest.mark.parametrize("outcome", ["completed", "failed", "bad-parameters", "crashed"])
def test_flow_flushes_its_history_before_returning(
    outcome: str,
    lazy_recorder: Recorder,
    store: Store,
    only_flow_run: Callable[..., FlowRunRecord],
) -> None:
    """With a recorder that only writes when flushed, the store is complete on return."""

    @task
    def step() -> None:
        get_run_logger().info("step ran")

    @flow
    def my_flow(n: int) -> None:
        step()
        if outcome == "failed":
            raise ValueError("boom")
        if outcome == "crashed":
            raise KeyboardInterrupt

    expected = {
        "completed": None,
        "failed": ValueError,
        "bad-parameters": ParameterValidationError,
        "crashed": KeyboardInterrupt,
    }[outcome]
    argument = "abc" if outcome == "bad-parameters" else 1
    if expected is None:
        my_flow(argument)
    else:
        with pytest.raises(expected):
            my_flow(argument)
    record = only_flow_run()
    assert (
        record.state_type
        == {
            "completed": "COMPLETED",
            "failed": "FAILED",
            "bad-parameters": "FAILED",
            "crashed": "CRASHED",
        }[outcome]
    )
    assert record.end_time is not None
    logs = [log.message for log in store.list_logs(record.id)]
    assert logs[-1].startswith("Finished in state ")
    if outcome != "bad-parameters":
        (task_run,) = store.list_task_runs(record.id)
        assert task_run.state_type == "COMPLETED"
        assert "step ran" in logs


def test_async_flow_flushes_its_history_before_returning(
    lazy_recorder: Recorder, store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @task
    async def step(i: int) -> int:
        return i

    @flow
    async def my_flow() -> int:
        return sum(await asyncio.gather(*(step(i) for i in range(3))))

    assert asyncio.run(my_flow()) == 3
    record = only_flow_run()
    assert record.state_type == "COMPLETED"
    assert len(store.list_task_runs(record.id)) == 3


def test_task_outside_a_flow_flushes_before_returning(
    lazy_recorder: Recorder, store: Store
) -> None:
    @task
    def alone() -> int:
        return 1

    alone()
    (record,) = store.list_task_runs()
    assert record.state_type == "COMPLETED" and record.flow_run_id is None


def test_failed_flow_keeps_the_error_and_traceback(
    store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @flow
    def my_flow() -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        my_flow()
    record = only_flow_run()
    assert record.state_message == "Flow run encountered an exception RuntimeError: disk full"
    failure = next(
        log for log in store.list_logs(record.id) if "No retries configured" in log.message
    )
    assert "Traceback (most recent call last):" in failure.message
    assert "RuntimeError: disk full" in failure.message


def test_many_flows_one_after_another(store: Store) -> None:
    @task
    def step() -> None:
        pass

    @flow
    def my_flow() -> None:
        step()

    for _ in range(30):
        my_flow()
    runs = store.list_flow_runs(limit=100)
    assert len(runs) == 30
    assert all(r.state_type == "COMPLETED" for r in runs)
    assert all(len(store.list_task_runs(r.id)) == 1 for r in runs)


WORKER = textwrap.dedent(
    """
    import os, sys, time

    from runnel import flow, task

    @task
    def square(i: int) -> int:
        return i * i

    @flow
    def batch(worker: int) -> int:
        return sum(square(i) for i in range(50))

    go = sys.argv[2]
    while not os.path.exists(go):  # start together, so the writers really overlap
        time.sleep(0.005)
    assert batch(int(sys.argv[1])) == sum(i * i for i in range(50))
    """
)


@pytest.mark.slow
def test_eight_processes_share_one_sqlite_history(
    tmp_path: Path, runnel_home: Path, store: Store
) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    env = {**os.environ, "RUNNEL_HOME": str(runnel_home)}
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(n), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]
    try:
        time.sleep(0.3)  # let them import
        go.touch()
        results = [w.communicate(timeout=90) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    for w, (_, err) in zip(workers, results, strict=True):
        assert w.returncode == 0, err
        assert "database is locked" not in err
        assert "could not be written" not in err
    runs = store.list_flow_runs(limit=100)
    assert len(runs) == 8
    assert sorted(json.loads(r.parameters or "")["worker"] for r in runs) == list(range(8))
    assert len({r.pid for r in runs}) == 8
    for run in runs:
        assert run.state_type == "COMPLETED"
        task_runs = store.list_task_runs(run.id)
        assert len(task_runs) == 50
        assert all(t.state_type == "COMPLETED" for t in task_runs)
        assert len({t.name for t in task_runs}) == 50
        assert len(store.list_logs(run.id)) == 52  # begin, 50 task finishes, flow finish


# -- task runs that wait to start ------------------------------------------------------------


def test_a_submitted_run_waiting_to_start_shows_as_pending_within_a_few_seconds(
    store: Store,
) -> None:
    """Pending-only runs are held back briefly (most start at once), never for long."""
    assert HOLD <= 2.0  # the run waits 3.5 s; it must show up within 3 s
    seen: dict[str, list[str]] = {}

    @task
    def upstream() -> None:
        time.sleep(3.5)

    @task
    def downstream() -> str:
        return "ran"

    @flow
    def waiting() -> str:
        first = upstream.submit()
        second = downstream.submit(wait_for=[first])
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            row = store.read_task_run(second.task_run_id)
            if row is not None:
                seen["while waiting"] = [s.name for s in store.list_states(row.id)]
                break
            time.sleep(0.05)
        return second.result()

    assert waiting() == "ran"
    assert seen == {"while waiting": ["Pending"]}


def test_runs_held_back_are_all_written_by_the_flush_of_their_flow(
    lazy_recorder: Recorder, store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @task
    def gate() -> None:
        time.sleep(0.2)

    @task
    def after(i: int) -> int:
        return i

    @flow
    def fan() -> None:
        first = gate.submit()
        for i in range(50):
            after.submit(i, wait_for=[first])

    fan()
    runs = store.list_task_runs(only_flow_run().id)
    assert len(runs) == 51 and {r.state_type for r in runs} == {"COMPLETED"}
    for run in runs:
        assert [s.name for s in store.list_states(run.id)] == ["Pending", "Running", "Completed"]
