"""``DaskTaskRunner`` on a real ``LocalCluster`` of worker processes.

Most tests share one module-scoped cluster through ``DaskTaskRunner(address=...)``; one
flow starts (and stops) a cluster of its own, as a user's flow does. Workers write history
where their settings say, so every test here uses the cluster's RUNNEL_HOME (the store is
shared: tests read their own flow run, never "the only one"). What a task did is told
through its result, files in ``tmp_path`` and the store, never through shared memory.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest

from runnel import flow, get_run_logger, task
from runnel.context import flow_run_context
from runnel.contrib.dask import DaskTaskRunner
from runnel.exceptions import ConfigurationError, TaskRunTimeoutError
from runnel.settings import reset_settings
from runnel.states import State
from runnel.store import Store, get_store, reset_store
from runnel.store.base import FlowRunRecord, TaskRunRecord
from runnel.store.recorder import reset_recorder


@pytest.fixture(scope="module")
def dask_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The RUNNEL_HOME of the shared cluster's workers, and so of every test here."""
    return tmp_path_factory.mktemp("dask") / "runnel-home"


@pytest.fixture(scope="module")
def cluster(dask_home: Path) -> Iterator[distributed.LocalCluster]:
    """Two worker processes of two threads; a task whose worker dies is not tried again."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("RUNNEL_"):
                patch.delenv(name)
        patch.setenv("RUNNEL_HOME", str(dask_home))  # what the workers inherit
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.WARNING,
            scheduler_kwargs={"allowed_failures": 0},
            env={"RUNNEL_HOME": str(dask_home)},  # and a worker the nanny restarts
        )
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(autouse=True)
def runnel_home(runnel_home: Path, dask_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's process joins the workers in the cluster's RUNNEL_HOME."""
    reset_recorder()
    reset_store()
    monkeypatch.setenv("RUNNEL_HOME", str(dask_home))
    reset_settings()
    return dask_home


@pytest.fixture
def runner(cluster: distributed.LocalCluster) -> DaskTaskRunner:
    return DaskTaskRunner(address=cluster.scheduler_address)


def history(flow_run_id: str) -> tuple[FlowRunRecord, list[TaskRunRecord]]:
    store = get_store()
    record = store.read_flow_run(flow_run_id)
    assert record is not None
    return record, store.list_task_runs(flow_run_id)


def this_flow_run_id() -> str:
    context = flow_run_context.get()
    assert context is not None
    return context.flow_run.id


# -- the runner itself, no cluster ---------------------------------------------------------


def test_import_is_cheap() -> None:
    code = "import sys, runnel.contrib.dask; print('distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_extra_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigurationError, match=r"pip install 'runnel\[dask\]'"):
        DaskTaskRunner().start()


def test_duplicate_is_unstarted_with_the_same_options() -> None:
    runner = DaskTaskRunner(address="tcp://127.0.0.1:1", client_kwargs={"timeout": 5})
    copy = runner.duplicate()
    assert isinstance(copy, DaskTaskRunner) and copy is not runner
    assert (
        copy.options()
        == runner.options()
        == {
            "address": "tcp://127.0.0.1:1",
            "cluster_kwargs": {},
            "client_kwargs": {"timeout": 5},
        }
    )
    assert copy.client is None and copy.cluster is None and copy.name == "dask"
    local = DaskTaskRunner(cluster_kwargs={"n_workers": 1})
    assert local.duplicate().options()["cluster_kwargs"] == {"n_workers": 1}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"address": "tcp://127.0.0.1:1", "cluster_kwargs": {"n_workers": 1}},
        {"address": ""},
        {"cluster_kwargs": ["n_workers", 1]},
        {"client_kwargs": "timeout=5"},
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        DaskTaskRunner(**kwargs)


# -- a flow's own LocalCluster --------------------------------------------------------------


@pytest.mark.slow
def test_flow_starts_and_stops_its_own_local_cluster() -> None:
    started: list[DaskTaskRunner] = []
    clusters: list[Any] = []

    @task
    def square(i: int) -> tuple[int, int]:
        get_run_logger().info("squaring %d", i)
        return i * i, os.getpid()

    @flow(task_runner=DaskTaskRunner(cluster_kwargs={"n_workers": 1, "threads_per_worker": 2}))
    def squares(n: int) -> tuple[str, list[tuple[int, int]]]:
        futures = square.map(range(n))
        context = flow_run_context.get()
        assert context is not None
        runner = context.task_runner()
        assert isinstance(runner, DaskTaskRunner)
        started.append(runner)
        clusters.append(runner.cluster)
        return this_flow_run_id(), [f.result() for f in futures]

    children_before = len(multiprocessing.active_children())
    flow_run_id, results = squares(4)

    assert [value for value, _ in results] == [0, 1, 4, 9]
    assert {pid for _, pid in results} != {os.getpid()}
    (runner,) = started
    assert runner is not squares.task_runner  # the flow run's duplicate
    assert runner.client is None and runner.cluster is None
    assert clusters[0].status == distributed.core.Status.closed
    assert len(multiprocessing.active_children()) <= children_before
    record, task_runs = history(flow_run_id)
    assert record.state_type == "COMPLETED"
    assert len(task_runs) == 4
    assert {(r.state_type, r.runner) for r in task_runs} == {("COMPLETED", "dask")}
    messages = {log.message for log in get_store().list_logs(flow_run_id)}
    assert {f"squaring {i}" for i in range(4)} <= messages


# -- a shared cluster, by address (every test here is slow: the first one starts it) ---------


@pytest.mark.slow
def test_results_come_from_worker_processes(
    runner: DaskTaskRunner, cluster: distributed.LocalCluster
) -> None:
    @task
    def where(i: int) -> tuple[int, int]:
        return i * 10, os.getpid()

    @flow(task_runner=runner)
    def spread(n: int) -> list[tuple[int, int]]:
        return [f.result() for f in where.map(range(n))]

    results = spread(8)
    assert [value for value, _ in results] == [i * 10 for i in range(8)]
    assert os.getpid() not in {pid for _, pid in results}
    assert cluster.status == distributed.core.Status.running  # not the runner's to close


@pytest.mark.slow
def test_async_flow_sends_its_sync_tasks_to_dask(runner: DaskTaskRunner) -> None:
    @task
    def where(i: int) -> int:
        return os.getpid()

    @flow(task_runner=runner)
    async def spread() -> tuple[str, list[int]]:
        return this_flow_run_id(), [await future for future in where.map(range(3))]

    flow_run_id, pids = asyncio.run(spread())
    assert os.getpid() not in pids
    assert {r.runner for r in history(flow_run_id)[1]} == {"dask"}


@pytest.mark.slow
def test_futures_as_arguments(runner: DaskTaskRunner) -> None:
    @task
    def add(x: int, y: int) -> int:
        return x + y

    @task
    def total(values: list[int], extra: dict[str, int]) -> int:
        return sum(values) + sum(extra.values())

    @flow(task_runner=runner)
    def chain() -> int:
        a = add.submit(1, 2)
        b = add.submit(a, 10)
        return total.submit([a, b], {"c": add.submit(b, b)}).result()

    assert chain() == 3 + 13 + 26


@pytest.mark.slow
def test_failure_keeps_the_original_exception(runner: DaskTaskRunner) -> None:
    @task
    def explode(message: str) -> None:
        raise LookupError(message)

    @flow(task_runner=runner)
    def failing() -> tuple[str, State, BaseException]:
        future = explode.submit("no such thing")
        with pytest.raises(LookupError, match="no such thing") as raised:
            future.result()
        return this_flow_run_id(), future.state, raised.value

    flow_run_id, state, error = failing()
    assert state.is_failed() and type(error) is LookupError
    (task_run,) = history(flow_run_id)[1]
    assert (task_run.state_type, task_run.runner) == ("FAILED", "dask")
    assert "no such thing" in (task_run.state_message or "")


@pytest.mark.slow
def test_retries_on_a_worker(runner: DaskTaskRunner, tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"

    @task(retries=2, retry_delay_seconds=0)
    def flaky(path: str) -> int:
        with open(path, "a") as file:
            file.write("x")
        count = len(Path(path).read_text())
        if count == 1:
            raise ConnectionError("first attempt fails")
        return count

    @flow(task_runner=runner)
    def retrying() -> tuple[str, int]:
        return this_flow_run_id(), flaky.submit(str(attempts)).result()

    flow_run_id, count = retrying()
    assert count == 2 and attempts.read_text() == "xx"
    (task_run,) = history(flow_run_id)[1]
    assert (task_run.state_type, task_run.run_count) == ("COMPLETED", 2)
    names = [s.name for s in get_store().list_states(task_run.id)]
    assert names[-4:] == ["Running", "AwaitingRetry", "Retrying", "Completed"]


@pytest.mark.slow
def test_timeout_on_a_worker(runner: DaskTaskRunner) -> None:
    @task(timeout_seconds=0.5)
    def slow() -> None:
        time.sleep(2)

    @flow(task_runner=runner)
    def timing_out() -> tuple[str, State]:
        future = slow.submit()
        future.wait()
        return this_flow_run_id(), future.state

    started = time.monotonic()
    flow_run_id, state = timing_out()
    assert time.monotonic() - started < 1.8  # the flow did not wait for the sleep
    assert state.name == "TimedOut"
    with pytest.raises(TaskRunTimeoutError):
        state.result()
    (task_run,) = history(flow_run_id)[1]
    assert (task_run.state_name, task_run.runner) == ("TimedOut", "dask")


@pytest.mark.slow
def test_logs_and_history_are_in_the_store_when_the_flow_returns(
    runner: DaskTaskRunner,
) -> None:
    @task
    def report(i: int) -> int:
        get_run_logger().warning("report %d from pid %d", i, os.getpid())
        return i

    @flow(task_runner=runner)
    def reporting(n: int) -> str:
        for future in report.map(range(n)):
            future.wait()
        return this_flow_run_id()

    flow_run_id = reporting(5)
    store: Store = get_store()
    record, task_runs = history(flow_run_id)
    assert record.state_type == "COMPLETED"
    assert len(task_runs) == 5
    assert {(r.state_type, r.runner) for r in task_runs} == {("COMPLETED", "dask")}
    assert os.getpid() not in {r.pid for r in task_runs}
    logs = [log for log in store.list_logs(flow_run_id) if log.message.startswith("report ")]
    assert sorted(log.message.split()[1] for log in logs) == [str(i) for i in range(5)]
    assert {log.task_run_id for log in logs} == {r.id for r in task_runs}
    assert all(log.level == logging.WARNING for log in logs)


@pytest.mark.slow
def test_worker_death_crashes_the_run(runner: DaskTaskRunner) -> None:
    @task
    def die() -> None:
        os._exit(1)

    @task
    def fine() -> str:
        return "still here"

    @flow(task_runner=runner)
    def dying() -> tuple[State, str]:
        future = die.submit()
        future.wait()
        return future.state, fine.submit().result()

    state, after = dying()
    assert state.is_crashed() and "dask runner" in (state.message or "")
    assert isinstance(state.exception, distributed.KilledWorker)
    assert after == "still here"  # the other worker (and then the restarted one) goes on
