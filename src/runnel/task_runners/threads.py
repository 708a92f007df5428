"""``ThreadPoolTaskRunner``: task runs on a bounded pool of threads in this process.

The pool is ours rather than ``concurrent.futures.ThreadPoolExecutor``: a submitted run
already has a future (its ``RunnelFuture``), and the executor would make a second one per run,
with its own lock, condition and callback pass, which cost about as much as the whole thread
hand-off. Here a worker calls the submission back directly. Threads start on demand, as the
executor's do: a new one only when no idle worker is waiting, up to ``max_workers``.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import logging
import queue
import threading
from collections import deque
from typing import Any

from runnel.engine.work import Ended, TaskRunner, TaskWork
from runnel.exceptions import ConfigurationError
from runnel.states import State

#: Enough for the I/O-bound fan-out pipelines are made of, bounded so that a flow of a
#: thousand tasks does not start a thousand threads.
DEFAULT_MAX_WORKERS = 32

_STOP = None


class ThreadPoolTaskRunner(TaskRunner):
    """Runs submitted task runs on up to ``max_workers`` threads (default 32)."""

    name = "thread"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ConfigurationError(
                f"max_workers={max_workers!r}: use a whole number of 1 or more"
            )
        self.max_workers = max_workers or DEFAULT_MAX_WORKERS
        self._pool: _WorkerPool | None = None

    def options(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}

    def start(self) -> None:
        if self._pool is None:
            self._pool = _WorkerPool(self.max_workers)

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()

    def submit_then(self, work: TaskWork, done: Ended) -> None:
        if self._pool is None:
            self.start()
        assert self._pool is not None
        # The worker sees the submitter's context: its flow run, its log_prints.
        self._pool.put((contextvars.copy_context(), work, done))

    def submit(self, work: TaskWork) -> cf.Future[State]:
        handle: cf.Future[State] = cf.Future()

        def settle(state: State | None, error: BaseException | None) -> None:
            if error is None:
                handle.set_result(state)  # type: ignore[arg-type]
            else:
                handle.set_exception(error)

        self.submit_then(work, settle)
        return handle

    def __repr__(self) -> str:
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers})"


class _WorkerPool:
    """Threads that take ``(context, work, done)`` from one queue until told to stop."""

    def __init__(self, max_workers: int) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # One token per worker waiting for work. A deque, not a Semaphore: its append and
        # pop are atomic on their own, where a Semaphore takes a Condition's lock twice a run.
        self._idle: deque[None] = deque()
        self._threads: list[threading.Thread] = []
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._closed = False

    def put(self, item: tuple[contextvars.Context, TaskWork, Ended]) -> None:
        if self._closed:
            raise RuntimeError("this task runner was shut down; its flow run has ended")
        self._queue.put(item)
        try:
            self._idle.pop()
            return  # a waiting worker takes it
        except IndexError:
            pass
        with self._lock:
            if len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work,
                    name=f"runnel-task_{len(self._threads)}",
                    daemon=True,  # shutdown() waits for them; the process's exit waits too
                )
                thread.start()
                self._threads.append(thread)
                _live_pools.add(self)

    def _work(self) -> None:
        take = self._queue.get
        while True:
            item = take()
            if item is _STOP:
                return
            context, work, done = item
            item = None  # hold nothing of a finished run while waiting for the next
            try:
                state, error = context.run(work.execute), None
            except BaseException as exc:  # reported to the submission, which records it
                state, error = None, exc
            try:
                done(state, error)
            except BaseException:
                logging.getLogger("runnel.task_runners").exception(
                    "A task run's completion could not be reported"
                )
            del context, work, done, state, error
            self._idle.append(None)

    def shutdown(self) -> None:
        """Let the queued work finish, then stop and join every worker."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
        _live_pools.discard(self)


#: Pools with threads, so that interpreter exit waits for the runs they are running (a
#: task submitted outside any flow belongs to a pool nobody shuts down), as it would for
#: ``concurrent.futures`` threads.
_live_pools: set[_WorkerPool] = set()


def _finish_pools_at_exit() -> None:
    for pool in list(_live_pools):
        pool.shutdown()


_register = getattr(threading, "_register_atexit", None)  # runs before daemon threads stop
if _register is not None:
    _register(_finish_pools_at_exit)
else:  # pragma: no cover - every CPython since 3.9 has it
    import atexit

    atexit.register(_finish_pools_at_exit)
