"""The seam between the engine and task runners: a unit of work, and who runs it.

``TaskWork`` is one task run with its inputs resolved, ready to run anywhere: in a thread
of this process, in another process, on a Dask worker (it pickles with cloudpickle). Its
``run()`` drives the same lifecycle as a direct call, so retries, timeouts, logs and history
are the same wherever it runs. A ``TaskRunner`` only decides *where*.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from runnel.runs import TaskRun
from runnel.runtime import flush_all, get_sink
from runnel.states import State

#: This process's id, kept current in forked children: ``os.getpid()`` is a system call, and
#: every unit of work asks twice (where it was made, where it runs).
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


class TaskWork:
    """One task run, ready to run: the task, its run record, and its resolved arguments."""

    __slots__ = ("task", "run", "args", "kwargs", "log_prints", "origin_pid", "slots_held")

    def __init__(
        self,
        task: Any,
        run: TaskRun,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        log_prints: bool,
    ) -> None:
        self.task = task
        self.run = run
        self.args = args
        self.kwargs = kwargs
        self.log_prints = log_prints
        self.origin_pid = _pid
        self.slots_held = False

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __call__(self) -> Any:
        """Call the task's function with the run's arguments (the work is its own call:
        no closure to make for every run)."""
        return self.task.fn(*self.args, **self.kwargs)

    def execute(self) -> State:
        """Run the task's whole lifecycle here (any thread or process); returns its final state."""
        sink = get_sink()
        elsewhere = _pid != self.origin_pid
        try:
            if self.task.isasync:
                import asyncio

                return asyncio.run(self.task.run_work_async(self, sink))
            return self.task.run_work(self, sink)
        finally:
            if elsewhere:
                flush_all(sink)  # another process: its history must be durable before it answers


#: ``done(state, error)``: how a runner reports the end of one unit of work.
Ended = Callable[[State | None, BaseException | None], None]


def outcome_of(handle: cf.Future[State]) -> tuple[State | None, BaseException | None]:
    """(final state, None) of a finished future, or (None, the error it holds)."""
    error = handle.exception()
    return (None, error) if error is not None else (handle.result(), None)


class TaskRunner(ABC):
    """Where submitted task runs execute. Used as a context manager by the flow run."""

    #: Recorded on every task run it executes (``runnel task-run ls`` shows it).
    name = "runner"

    def duplicate(self) -> TaskRunner:
        """A fresh, unstarted runner with the same options (one per flow run)."""
        return type(self)(**self.options())

    def options(self) -> dict[str, Any]:
        """The keyword arguments this runner was made with."""
        return {}

    def __enter__(self) -> TaskRunner:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown()

    def start(self) -> None:
        """Acquire what the runner needs (pools, clusters); nothing by default."""
        return None

    def shutdown(self) -> None:
        """Wait for the work it started and release what it holds; nothing by default."""
        return None

    @abstractmethod
    def submit(self, work: TaskWork) -> cf.Future[State]:
        """Start ``work`` (its ``execute()``) somewhere; the future's result is its final state."""

    def submit_then(self, work: TaskWork, done: Ended) -> None:
        """Start ``work`` and call ``done(state, None)`` when it ends, or ``done(None, error)``
        when it could not run. Runners with a cheaper way than a future override this."""
        self.submit(work).add_done_callback(lambda handle: done(*outcome_of(handle)))

    def map(self, works: list[TaskWork]) -> list[cf.Future[State]]:
        """Start many units of work."""
        return [self.submit(work) for work in works]
