"""Futures of submitted task runs, and waiting on many of them.

A ``RunnelFuture`` holds a run's final ``State`` once there is one (never an exception: a
failed run is a failed state), so every runner, threads, processes or Dask, hands back the
same thing. It is its own small future rather than a ``concurrent.futures.Future``: one is
made for every submitted run, and that one's condition variable, with its re-entrant lock,
cost more than the rest of the future; here a plain lock, held until the run is final, is
what ``result()`` waits on.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from _thread import LockType, allocate_lock
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

from runnel.runs import TaskRun
from runnel.states import State

R = TypeVar("R")


class RunnelFuture(Generic[R]):
    """The promise of a submitted task run's final state and result."""

    __slots__ = (
        "task_run",
        "_final",
        "_gate",
        "_lock",
        "_callbacks",
        "_observed",
        "_scope",
        "__weakref__",
    )

    def __init__(self, task_run: TaskRun) -> None:
        self.task_run = task_run
        self._final: State | None = None
        # Both dropped (None) once the run is final.
        self._gate: LockType | None = allocate_lock()  # held until final; waiters pass it on
        self._gate.acquire()
        self._lock: LockType | None = allocate_lock()  # guards _callbacks against set_state
        self._callbacks: list[Callable[[RunnelFuture[R]], Any]] | None = None
        self._observed = False
        self._scope: TaskScope | None = None

    @property
    def task_run_id(self) -> str:
        return self.task_run.id

    @property
    def state(self) -> State:
        """The final state once done, the current one before."""
        final = self._final
        if final is not None:
            self._observed = True
            return final
        return self.task_run.state

    def done(self) -> bool:
        return self._final is not None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run is final (or ``timeout`` passes)."""
        self._wait(timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """The run's value; raises its exception when it failed (``TimeoutError`` when not done)."""
        state = self._final or self._wait(timeout)
        if state is None:
            raise TimeoutError(f"{self.task_run.label} did not finish within {timeout} second(s)")
        self._observed = True
        value: R = state.result(raise_on_failure=raise_on_failure)
        return value

    def add_done_callback(self, fn: Callable[[RunnelFuture[R]], Any]) -> None:
        """Call ``fn(future)`` once the run is final (at once, here, if it already is)."""
        lock = self._lock
        if lock is not None:  # else the run is final
            with lock:
                if self._final is None:
                    if self._callbacks is None:
                        self._callbacks = []
                    self._callbacks.append(fn)
                    return
        _call_back(fn, self)

    def __await__(self) -> Generator[Any, None, R]:
        if self._final is None:
            yield from self._asyncio_future().__await__()
        return self.result()

    def __repr__(self) -> str:
        return f"RunnelFuture({self.task_run.name!r}, {self.state!r})"

    def _wait(self, timeout: float | None) -> State | None:
        """The final state, waiting up to ``timeout`` for it; None when time ran out."""
        gate = self._gate
        if gate is not None and self._final is None:
            if timeout is None:
                passed = gate.acquire()
            elif timeout > 0:
                passed = gate.acquire(timeout=timeout)
            else:
                passed = gate.acquire(blocking=False)
            if passed:
                gate.release()  # for the next waiter
        return self._final

    def _asyncio_future(self) -> Any:
        """An asyncio future of the running loop, done when this one is."""
        import asyncio

        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def settle(_: RunnelFuture[R]) -> None:
            if not waiter.done():
                waiter.set_result(None)

        self.add_done_callback(lambda f: loop.call_soon_threadsafe(settle, f))
        return waiter

    # -- the engine's side -----------------------------------------------------------------
    def set_state(self, state: State) -> None:
        """Finish the future with the run's final state (then tell its flow run's scope)."""
        lock, gate = self._lock, self._gate
        first = False
        if lock is not None:  # else it ended, and dropped its locks
            with lock:
                first = self._final is None
                if first:
                    self._final = state
                    callbacks, self._callbacks = self._callbacks, None
        if gate is None or not first:
            raise RuntimeError(f"{self.task_run.label} already ended in {self._final!r}")
        gate.release()
        # A finished future keeps no locks: a flow's list of ten thousand futures is then
        # twenty thousand objects fewer for the garbage collector to walk. Whoever read a
        # lock before this still holds it and finds the run final.
        self._lock = self._gate = None
        scope = self._scope
        if scope is not None:
            scope._finished_run(self, state)
        if callbacks:
            for fn in callbacks:
                _call_back(fn, self)


def _call_back(fn: Callable[[Any], Any], future: RunnelFuture[Any]) -> None:
    try:
        fn(future)
    except Exception:
        logging.getLogger("runnel.futures").exception(
            "A done callback of %s raised; it was ignored", future.task_run.label
        )


class _Tally:
    """A count any thread adds to without a lock: ``next`` of an ``itertools.count`` is one
    C call, which the GIL never splits, where ``n += 1`` is a read and a write."""

    __slots__ = ("_count", "add")

    def __init__(self) -> None:
        self._count = itertools.count(1)
        self.add = self._count.__next__

    def value(self) -> int:
        """How many times ``add`` was called (``count(n)`` says what it gives next)."""
        return int(repr(self._count)[6:-1]) - 1


class DoneAndNotDone(NamedTuple):
    done: set[RunnelFuture[Any]]
    not_done: set[RunnelFuture[Any]]


def wait(futures: Iterable[RunnelFuture[Any]], timeout: float | None = None) -> DoneAndNotDone:
    """Wait until every future is done or ``timeout`` passes; returns (done, not_done)."""
    every = set(futures)
    deadline = None if timeout is None else time.monotonic() + timeout
    for future in every:
        left = None if deadline is None else deadline - time.monotonic()
        if future._wait(left) is None:
            break  # time is up: the rest is read as it stands
    done = {f for f in every if f._final is not None}
    return DoneAndNotDone(done, every - done)


def as_completed(
    futures: Iterable[RunnelFuture[Any]], timeout: float | None = None
) -> Iterator[RunnelFuture[Any]]:
    """Yield the futures as they finish; ``TimeoutError`` if ``timeout`` passes first."""
    import queue  # here, not at the top: ``import runnel`` need not pay for it

    every = set(futures)
    deadline = None if timeout is None else time.monotonic() + timeout
    finished: queue.SimpleQueue[RunnelFuture[Any]] = queue.SimpleQueue()
    for future in every:
        future.add_done_callback(finished.put)  # at once for those already done
    for _ in range(len(every)):
        try:
            if deadline is None:
                yield finished.get()
            else:
                yield finished.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"futures still running after {timeout} second(s)") from None


class TaskScope:
    """Every task run a flow run submitted: the flow waits for all of them before it ends.

    Only runs still going are kept, plus failed ones nobody looked at, so a flow of a million
    tasks does not hold a million results.
    """

    def __init__(self) -> None:
        # Taken only by waiters and by the run that empties the set: a lock every finishing
        # run took made the pool's threads queue on it, one context switch after another.
        self._lock = threading.Lock()
        self._running: set[RunnelFuture[Any]] = set()
        self._failed: list[RunnelFuture[Any]] = []
        self._idle = threading.Event()  # set when the last running future finished
        self._finished, self._cached = _Tally(), _Tally()

    def counts(self) -> dict[str, int]:
        """How many submitted runs are done, failed, cached and still going."""
        running = len(self._running)
        finished = self._finished.value()
        return {
            "submitted": finished + running,
            "done": finished,
            "failed": len(self._failed),
            "cached": self._cached.value(),
            "running": running,
        }

    def add(self, future: RunnelFuture[Any]) -> None:
        """Count ``future`` in; it reports back through ``set_state``, which is cheaper than
        a done callback (no closure, no weak reference, no second pass over callbacks).

        No lock: adding to a set is atomic, and only ``wait`` clears the idle event."""
        future._scope = self
        self._running.add(future)

    def _finished_run(self, future: RunnelFuture[Any], state: State) -> None:
        """``future`` ended in ``state``. Each step is atomic on its own; only the run that
        empties the set takes the lock, to wake ``wait`` (which clears the event under it)."""
        if not state.is_completed():
            self._failed.append(future)
        elif state.name == "Cached":
            self._cached.add()
        self._finished.add()
        running = self._running
        running.discard(future)
        if not running:
            with self._lock:
                if not running:
                    self._idle.set()

    def wait(self) -> None:
        """Block until every submitted run (including runs they submitted) is final."""
        while True:
            with self._lock:
                if not self._running:
                    return
                # Cleared here, under the lock a finishing run sets it under, so that the
                # run that empties the set always wakes us.
                self._idle.clear()
            self._idle.wait()

    async def await_all(self) -> None:
        """``wait`` for async flows, without blocking the event loop."""
        import asyncio

        while True:
            running = list(self._running)  # a copy made in one step: ``add`` takes no lock
            if not running:
                return
            await asyncio.wait([f._asyncio_future() for f in running])

    def unobserved_failures(self) -> list[RunnelFuture[Any]]:
        """Failed runs whose future nobody asked for its result or state."""
        with self._lock:
            return [f for f in self._failed if not f._observed]


_SEQUENCES = frozenset({list, tuple, set, frozenset})
#: The types ``visit_futures`` looks into (or collects); other values are passed over
#: without a call, which matters for the plain arguments of every submitted run.
_VISITED = _SEQUENCES | {dict, RunnelFuture}


def visit_futures(value: Any, found: list[RunnelFuture[Any]]) -> None:
    """Collect the futures in ``value`` and in lists, tuples, sets and dict values inside it."""
    kind = type(value)
    if kind is RunnelFuture:
        found.append(value)
        return
    if kind in _SEQUENCES:
        items = value
    elif kind is dict:
        items = value.values()
    else:
        return
    for item in items:
        if type(item) in _VISITED:
            visit_futures(item, found)


def resolve_futures(value: Any) -> Any:
    """``value`` with every future inside replaced by its result (containers rebuilt)."""
    kind = type(value)
    if kind is RunnelFuture:
        return value.result()
    if kind in _SEQUENCES:
        return kind(resolve_futures(item) for item in value)
    if kind is dict:
        return {key: resolve_futures(item) for key, item in value.items()}
    return value
