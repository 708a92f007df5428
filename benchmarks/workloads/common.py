"""Shared by the workload scripts: pick the decorators, hand back a measurement."""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from typing import Any

#: Threads for submitted tasks: runnel's default ThreadPoolTaskRunner size, matched by the
#: floor's bare ThreadPoolExecutor and by Prefect's runner (whose own default is unbounded).
WORKERS = 32


def decorators(lib: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(flow, task)`` from ``runnel`` or ``prefect``; ``plain`` gives near no-op decorators.

    A plain task's ``.submit`` is a bare ``ThreadPoolExecutor(WORKERS).submit``, the pool made
    on the first submit of each plain flow call and shut down when it returns, as a task runner's.
    """
    if lib == "plain":
        return _plain_flow, _plain_task
    module = importlib.import_module(lib)
    return module.flow, module.task


def pooled_flow(lib: str) -> Callable[..., Any]:
    """The ``flow`` decorator of ``lib`` with submitted tasks on ``WORKERS`` threads."""
    flow, _ = decorators(lib)
    if lib == "runnel":
        from runnel.task_runners import ThreadPoolTaskRunner

        assert ThreadPoolTaskRunner().max_workers == WORKERS, "runnel's default pool changed"
        return flow  # the default runner, as users get it
    if lib == "prefect":
        from prefect.task_runners import ThreadPoolTaskRunner

        return flow(task_runner=ThreadPoolTaskRunner(max_workers=WORKERS))
    return flow


def report(**values: Any) -> None:
    """Write a measurement where the harness reads it (stdout is sent to DEVNULL)."""
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump(values, out)


# One slot per plain flow call in progress: its executor, once something is submitted.
_plain_pools: list[Any] = []


def _plain_flow(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        _plain_pools.append(None)
        try:
            return fn(*args, **kwargs)
        finally:
            pool = _plain_pools.pop()
            if pool is not None:
                pool.shutdown(wait=True)

    return call


def _plain_task(fn: Callable[..., Any]) -> Callable[..., Any]:
    def submit(*args: Any, **kwargs: Any) -> Any:
        pool = _plain_pools[-1]
        if pool is None:  # imported here: flow3.py's plain floor must not pay for it
            from concurrent.futures import ThreadPoolExecutor

            pool = _plain_pools[-1] = ThreadPoolExecutor(WORKERS)
        return pool.submit(fn, *args, **kwargs)

    fn.submit = submit  # type: ignore[attr-defined]
    return fn
