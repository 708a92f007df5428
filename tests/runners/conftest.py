"""The task runners every contract test runs on, and the Dask cluster they share.

``runner_factory`` is parametrized over ``thread``, ``process`` and ``dask``. A runner whose
module is not built yet (or whose optional dependency is not installed) skips its tests
with the reason; any other import error fails them, so a broken runner is never hidden.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runnel.engine.work import TaskRunner
from runnel.store import Store, get_store
from runnel.store.base import FlowRunRecord, TaskRunRecord
from runnel.task_runners import ThreadPoolTaskRunner

RUNNER_KINDS = ("thread", "process", "dask")


class RunnerFactory:
    """Makes fresh runners of one kind (each flow gets its own, as users write it)."""

    def __init__(
        self, kind: str, make: Callable[[], TaskRunner], bounded: Callable[[], TaskRunner]
    ) -> None:
        self.kind = kind
        self._make = make
        self._bounded = bounded

    def __call__(self) -> TaskRunner:
        return self._make()

    def bounded(self) -> TaskRunner:
        """The smallest pool of this kind (one worker), to show dependencies never deadlock."""
        return self._bounded()

    def __repr__(self) -> str:
        return f"RunnerFactory({self.kind!r})"


def import_or_skip(module: str, *needs: str) -> Any:
    """``module``, or a skip when it (or an optional dependency in ``needs``) is not there yet."""
    for dependency in needs:
        try:
            importlib.import_module(dependency)
        except ModuleNotFoundError:
            pytest.skip(f"{dependency} is not installed")
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        parts = module.split(".")
        missing_ours = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if error.name in missing_ours:
            pytest.skip(f"{module} is not built yet")
        raise


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A LocalCluster of 2 worker processes x 2 threads shared by every Dask test: its
    scheduler's address and the RUNNEL_HOME its workers were started with."""
    distributed = import_or_skip("distributed")
    home = tmp_path_factory.mktemp("dask") / "runnel-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNNEL_HOME", str(home))
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # No dashboard, but the scheduler still serves HTTP (health, metrics): on a free
            # port, not 8787, which another cluster on the machine may hold (a warning).
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        )
    try:
        yield cluster.scheduler_address, home
    finally:
        cluster.close()


def use_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``home`` this test's RUNNEL_HOME (fresh settings, store and recorder)."""
    from runnel.settings import reset_settings
    from runnel.store import reset_store
    from runnel.store.recorder import reset_recorder

    reset_recorder()
    reset_store()
    monkeypatch.setenv("RUNNEL_HOME", str(home))
    reset_settings()


@pytest.fixture(params=RUNNER_KINDS)
def runner_factory(request: pytest.FixtureRequest) -> RunnerFactory:
    """Fresh runners of each kind: ``thread``, ``process`` and ``dask``."""
    kind = request.param
    if kind == "thread":
        return RunnerFactory(
            kind, lambda: ThreadPoolTaskRunner(max_workers=4), lambda: ThreadPoolTaskRunner(1)
        )
    if kind == "process":
        processes = import_or_skip("runnel.task_runners.processes")
        pool = processes.ProcessPoolTaskRunner
        return RunnerFactory(kind, lambda: pool(max_workers=2), lambda: pool(max_workers=1))
    dask = import_or_skip("runnel.contrib.dask", "distributed")
    address, home = request.getfixturevalue("dask_cluster")
    # Workers of a running cluster write history where their own settings say (the runner's
    # documented contract), so the test's process joins them in the cluster's RUNNEL_HOME.
    request.getfixturevalue("runnel_home")
    use_home(home, request.getfixturevalue("monkeypatch"))

    def on_cluster() -> TaskRunner:
        runner: TaskRunner = dask.DaskTaskRunner(address=address)
        return runner

    # A shared cluster cannot shrink to one worker; the dependency tests run on it as is.
    return RunnerFactory(kind, on_cluster, on_cluster)


@pytest.fixture
def store(request: pytest.FixtureRequest, runnel_home: Path) -> Store:
    """The store of this test's RUNNEL_HOME (the Dask cluster's one, on Dask)."""
    if "runner_factory" in request.fixturenames:
        request.getfixturevalue("runner_factory")  # it may move RUNNEL_HOME first
    return get_store()


@pytest.fixture
def history(store: Store) -> Callable[[], tuple[FlowRunRecord, list[TaskRunRecord]]]:
    """Reads the newest flow run in the store and its task runs.

    The newest, not the only one: Dask tests share the cluster's store."""

    def read() -> tuple[FlowRunRecord, list[TaskRunRecord]]:
        flow_runs = store.list_flow_runs(limit=1)
        assert flow_runs, "no flow run was recorded"
        return flow_runs[0], store.list_task_runs(flow_runs[0].id)

    return read
