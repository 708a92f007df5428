"""What is running right now, carried in context variables (threads and tasks inherit them)."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

from runnel.engine.work import TaskRunner
from runnel.futures import TaskScope
from runnel.names import TaskRunNamer
from runnel.runs import FlowRun, TaskRun
from runnel.runtime import EventSink, start_progress


class FlowRunContext:
    """The flow run being executed and what its task runs share."""

    __slots__ = (
        "flow",
        "flow_run",
        "namer",
        "log_prints",
        "sink",
        "log_extra",
        "scope",
        "_runner",
        "_started",
        "_lock",
        "_progress",
    )

    def __init__(
        self,
        flow: Any,
        flow_run: FlowRun,
        log_prints: bool,
        sink: EventSink,
        task_runner: TaskRunner,
    ) -> None:
        self.flow = flow
        self.flow_run = flow_run
        self.namer = TaskRunNamer()
        self.log_prints = log_prints
        self.sink = sink
        self.log_extra = run_log_extra(flow_run)
        self.scope = TaskScope()
        self._runner = task_runner
        self._started = False
        self._lock = threading.Lock()
        self._progress: Any = None

    def task_runner(self) -> TaskRunner:
        """The flow run's task runner, started on the first submission."""
        if not self._started:
            with self._lock:
                if not self._started:
                    self._runner.start()
                    self._started = True
                    if self._progress is None:
                        self._progress = start_progress(self.flow_run, self.scope)
        return self._runner

    def finish_submitted(self) -> None:
        """Wait for every submitted task run, then stop the runner (structured concurrency)."""
        self.scope.wait()
        self._stop_runner()

    async def afinish_submitted(self) -> None:
        """``finish_submitted`` for async flows."""
        await self.scope.await_all()
        self._stop_runner()

    def _stop_runner(self) -> None:
        with self._lock:
            if self._started:
                self._runner.shutdown()
                self._started = False
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


class TaskRunContext:
    """The task run being executed."""

    __slots__ = ("task", "task_run", "log_prints", "log_extra")

    def __init__(self, task: Any, task_run: TaskRun, log_prints: bool) -> None:
        self.task = task
        self.task_run = task_run
        self.log_prints = log_prints
        self.log_extra = run_log_extra(task_run)


def run_log_extra(run: FlowRun | TaskRun) -> dict[str, Any]:
    """The fields every log record of a run carries (see ``runnel.logging``)."""
    if isinstance(run, FlowRun):
        return {"run_label": run.label, "flow_run_id": run.id, "task_run_id": None}
    return {"run_label": run.label, "flow_run_id": run.flow_run_id, "task_run_id": run.id}


flow_run_context: ContextVar[FlowRunContext | None] = ContextVar("runnel_flow_run", default=None)
task_run_context: ContextVar[TaskRunContext | None] = ContextVar("runnel_task_run", default=None)


def current_flow_run() -> FlowRun | None:
    """The flow run this code runs in, if any."""
    ctx = flow_run_context.get()
    return None if ctx is None else ctx.flow_run


def current_task_run() -> TaskRun | None:
    """The task run this code runs in, if any."""
    ctx = task_run_context.get()
    return None if ctx is None else ctx.task_run
