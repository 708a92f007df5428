"""Submission: a task run waits for its upstream futures, then goes to a runner.

A run whose inputs are not ready yet holds no worker: it waits as callbacks on its
upstream futures and is handed to the runner by whichever upstream finishes last. So a
bounded pool never deadlocks on dependencies or on tasks that submit tasks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from runnel.engine.later import call_later
from runnel.engine.steps import close_run, log, set_state
from runnel.engine.work import TaskRunner, TaskWork
from runnel.exceptions import UpstreamTaskError
from runnel.futures import RunnelFuture, resolve_futures
from runnel.loggers import TASK_RUN_LOGGER
from runnel.runtime import EventSink, tag_gate
from runnel.states import AwaitingConcurrencySlot, Crashed, Failed, State


class Submission:
    """One submitted task run on its way to a runner."""

    __slots__ = (
        "work",
        "future",
        "sink",
        "runner",
        "loop",
        "upstream",
        "_waiting",
        "_lock",
        "_gate",
    )

    def __init__(
        self,
        work: TaskWork,
        future: RunnelFuture[Any],
        sink: EventSink,
        runner: TaskRunner | None,
        loop: Any,
        upstream: list[RunnelFuture[Any]],
    ) -> None:
        self.work = work
        self.future = future
        self.sink = sink
        self.runner = runner  # None: an async task that runs on ``loop``
        self.loop = loop
        self.upstream: Sequence[RunnelFuture[Any]] = (
            list(dict.fromkeys(upstream)) if upstream else ()
        )
        self._waiting = len(self.upstream)
        self._lock = threading.Lock() if upstream else None  # counts upstream callbacks
        self._gate: Any = None

    def arm(self) -> None:
        """Dispatch now, or once the last upstream future is done."""
        if not self.upstream:
            self._dispatch()
            return
        for upstream in self.upstream:
            upstream.add_done_callback(self._upstream_done)

    def _upstream_done(self, _: Any) -> None:
        assert self._lock is not None
        with self._lock:
            self._waiting -= 1
            last = self._waiting == 0
        if last:
            self._dispatch()

    def _dispatch(self) -> None:
        work = self.work
        upstream = self.upstream
        if upstream:
            self.upstream = ()  # upstream callbacks keep us: keep nothing of theirs
            failed = [u for u in upstream if not u.state.is_completed()]
            if failed:
                self._fail_upstream(failed)
                return
            work.args = resolve_futures(work.args)
            work.kwargs = resolve_futures(work.kwargs)
        if self.runner is None:
            self.loop.call_soon_threadsafe(self._start_on_loop)
            return
        if work.task.tags:
            try:
                self._gate = tag_gate(work.task.tags)
            except Exception as error:
                self._crash(error)
                return
        if self._gate is not None and work.task.cache is not None:
            # A cache hit takes no slot: answer it here, before any slot is waited for.
            try:
                state = work.task.answer_from_cache(work, self.sink)
            except Exception as error:
                self._crash(error)
                return
            if state is not None:
                self._gate = None
                self.future.set_state(state)
                return
        if self._gate is not None:
            self._take_slots()
        else:
            self._submit()

    def _take_slots(self) -> None:
        """Take the tag limits' slots before a worker is used: a waiting run holds none."""
        try:
            wait = self._gate.try_acquire()
        except Exception as error:
            self._gate = None
            self._crash(error)
            return
        if wait is None:
            self.work.slots_held = True
            self._submit()
            return
        run = self.work.run
        if run.state.name != "AwaitingConcurrencySlot":
            set_state(run, AwaitingConcurrencySlot(), self.sink)
            names = ", ".join(repr(name) for name in self._gate.names)
            log(
                TASK_RUN_LOGGER,
                logging.INFO,
                _extra(run),
                "Waiting for a slot of concurrency limit %s",
                names,
            )
        call_later(wait, self._take_slots)

    def _submit(self) -> None:
        assert self.runner is not None
        self.work.run.runner = self.runner.name
        try:
            self.runner.submit_then(self.work, self)  # called back as ``done``
        except BaseException as error:
            self._crash(error)

    def _start_on_loop(self) -> None:
        import asyncio

        async def run() -> None:
            self.future.set_state(await self.work.task.run_work_async(self.work, self.sink))

        self.work.run.runner = "event-loop"
        asyncio.ensure_future(run())

    def __call__(self, state: State | None, error: BaseException | None) -> None:
        """The runner's ``done``: the run ended in ``state``, or could not run (``error``).
        The submission itself, not a bound method: one object less for every run."""
        self._release_slots()
        if state is not None:
            self.future.set_state(state)
        else:
            self._crash(error or RuntimeError("the runner reported neither a state nor an error"))

    def _fail_upstream(self, failed: list[RunnelFuture[Any]]) -> None:
        names = ", ".join(f"{u.task_run.name!r} ({u.state!r})" for u in failed)
        error = UpstreamTaskError(f"Upstream task run(s) did not complete: {names}")
        for upstream in failed:
            upstream._observed = True  # this run reports their failure
        self._end(Failed(f"Task run did not start: {error}", exception=error))

    def _release_slots(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            try:
                gate.release()
            except Exception as error:  # the lease expires by itself; say so, do not fail
                log(
                    TASK_RUN_LOGGER,
                    logging.WARNING,
                    _extra(self.work.run),
                    "Could not release concurrency slots: %r",
                    error,
                )

    def _crash(self, error: BaseException) -> None:
        self._release_slots()
        runner = self.runner.name if self.runner else "event-loop"
        self._end(
            Crashed(f"Task run could not run on the {runner} runner: {error!r}", exception=error)
        )

    def _end(self, state: State) -> None:
        run = self.work.run
        close_run(run, state, self.sink, TASK_RUN_LOGGER, _extra(run))
        self.future.set_state(state)


def _extra(run: Any) -> dict[str, Any]:
    return {"run_label": run.label, "flow_run_id": run.flow_run_id, "task_run_id": run.id}
