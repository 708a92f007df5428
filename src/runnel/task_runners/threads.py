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
import threading
from _thread import allocate_lock
from collections import deque
from typing import Any

from runnel.engine.work import Ended, TaskRunner, TaskWork
from runnel.exceptions import ConfigurationError
from runnel.states import State

#: Enough for the I/O-bound fan-out pipelines are made of, bounded so that a flow of a
#: thousand tasks does not start a thousand threads.
DEFAULT_MAX_WORKERS = 32


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
    """Threads that run queued ``(context, work, done)`` items, waking as few as they can.

    A thread that finds no work parks on a lock of its own. A new item wakes a parked thread
    (or starts one, up to ``max_workers``) only when no thread is already searching, that is,
    woken but not yet holding an item; a searching thread that takes an item passes the search
    on if items remain. So runs that block (I/O, sleeps) still spread over every thread within
    a few wake-ups, while a burst of quick runs is drained by the threads already awake, not
    by one system call and one GIL hand-off per run, as a queue that wakes a getter per put does.
    """

    def __init__(self, max_workers: int) -> None:
        self._items: deque[tuple[contextvars.Context, TaskWork, Ended]] = deque()
        self._parked: list[Any] = []  # one held lock per parked thread; released to wake it
        self._searching = 0  # threads woken or started that have not taken an item yet
        self._threads: list[threading.Thread] = []
        self._max_workers = max_workers
        self._lock = threading.Lock()  # guards _parked, _searching, _threads and _closed
        self._closed = False

    def put(self, item: tuple[contextvars.Context, TaskWork, Ended]) -> None:
        if self._closed:
            raise RuntimeError("this task runner was shut down; its flow run has ended")
        self._items.append(item)
        if not self._searching:  # else the searching thread takes it, or passes the search on
            self._wake()

    def _wake(self) -> None:
        """Wake a parked thread, or start one, unless one is searching or nothing is queued."""
        with self._lock:
            if self._searching or not self._items or self._closed:
                return
            if self._parked:
                self._searching += 1
                self._parked.pop().release()
            elif len(self._threads) < self._max_workers:
                self._searching += 1
                thread = threading.Thread(
                    target=self._work,
                    name=f"runnel-task_{len(self._threads)}",
                    daemon=True,  # shutdown() waits for them; the process's exit waits too
                )
                thread.start()
                self._threads.append(thread)
                _live_pools.add(self)

    def _work(self) -> None:
        park = allocate_lock()
        park.acquire()  # held while the thread works; acquiring it again parks the thread
        items, lock = self._items, self._lock
        searching = True  # whoever started this thread counted it as searching
        while True:
            try:
                context, work, done = items.popleft()
            except IndexError:
                with lock:
                    if searching:
                        self._searching -= 1
                        searching = False
                    if items:
                        continue
                    if self._closed:
                        return
                    self._parked.append(park)
                park.acquire()  # until _wake or shutdown releases it, counting us as searching
                searching = True
                continue
            if searching:
                searching = False
                with lock:
                    self._searching -= 1
                if items:
                    self._wake()  # more is queued: let another thread look for it
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
            del context, work, done, state, error  # hold nothing of a finished run

    def shutdown(self) -> None:
        """Let the queued work finish, then stop and join every worker."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            parked, self._parked = self._parked, []
            self._searching += len(parked)
            for park in parked:
                park.release()
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
