"""Futures of submitted task runs, and waiting on many of them.

A ``RunnelFuture`` wraps a ``concurrent.futures.Future`` whose result is the run's final
``State`` (never an exception: a failed run is a failed state), so every runner, threads,
processes or Dask, hands back the same thing.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

from runnel.runs import TaskRun
from runnel.states import State

R = TypeVar("R")


class RunnelFuture(Generic[R]):
    """The promise of a submitted task run's final state and result."""

    __slots__ = ("task_run", "_future", "_observed", "_scope", "__weakref__")

    def __init__(self, task_run: TaskRun, future: cf.Future[State] | None = None) -> None:
        self.task_run = task_run
        self._future: cf.Future[State] = future if future is not None else cf.Future()
        self._observed = False
        self._scope: TaskScope | None = None

    @property
    def task_run_id(self) -> str:
        return self.task_run.id

    @property
    def state(self) -> State:
        """The final state once done, the current one before."""
        if self._future.done():
            self._observed = True
            return self._future.result()
        return self.task_run.state

    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the run is final (or ``timeout`` passes)."""
        cf.wait([self._future], timeout)

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> R:
        """The run's value; raises its exception when it failed (``TimeoutError`` when not done)."""
        try:
            state = self._future.result(timeout)
        except cf.TimeoutError:
            raise TimeoutError(
                f"{self.task_run.label} did not finish within {timeout} second(s)"
            ) from None
        self._observed = True
        value: R = state.result(raise_on_failure=raise_on_failure)
        return value

    def add_done_callback(self, fn: Callable[[RunnelFuture[R]], Any]) -> None:
        """Call ``fn(future)`` once the run is final (at once if it already is)."""
        # A weak reference: the inner future keeps its callbacks, and a strong one would tie
        # every finished result into a cycle that only the garbage collector frees.
        ref = weakref.ref(self)
        self._future.add_done_callback(lambda _: _call_if_alive(ref, fn))

    def __await__(self) -> Generator[Any, None, R]:
        import asyncio

        yield from asyncio.wrap_future(self._future).__await__()
        return self.result()

    def __repr__(self) -> str:
        return f"RunnelFuture({self.task_run.name!r}, {self.state!r})"

    # -- the engine's side -----------------------------------------------------------------
    def set_state(self, state: State) -> None:
        """Finish the future with the run's final state (then tell its flow run's scope)."""
        self._future.set_result(state)
        scope = self._scope
        if scope is not None:
            scope._finished(self, state)


def _call_if_alive(ref: weakref.ref[RunnelFuture[Any]], fn: Callable[[Any], Any]) -> None:
    future = ref()
    if future is not None:
        fn(future)


class DoneAndNotDone(NamedTuple):
    done: set[RunnelFuture[Any]]
    not_done: set[RunnelFuture[Any]]


def wait(futures: Iterable[RunnelFuture[Any]], timeout: float | None = None) -> DoneAndNotDone:
    """Wait until every future is done or ``timeout`` passes; returns (done, not_done)."""
    by_inner = {f._future: f for f in futures}
    done, not_done = cf.wait(by_inner, timeout)
    return DoneAndNotDone({by_inner[f] for f in done}, {by_inner[f] for f in not_done})


def as_completed(
    futures: Iterable[RunnelFuture[Any]], timeout: float | None = None
) -> Iterator[RunnelFuture[Any]]:
    """Yield the futures as they finish; ``TimeoutError`` if ``timeout`` passes first."""
    by_inner = {f._future: f for f in futures}
    try:
        for inner in cf.as_completed(by_inner, timeout):
            yield by_inner[inner]
    except cf.TimeoutError:
        raise TimeoutError(f"futures still running after {timeout} second(s)") from None


class TaskScope:
    """Every task run a flow run submitted: the flow waits for all of them before it ends.

    Only runs still going are kept, plus failed ones nobody looked at, so a flow of a million
    tasks does not hold a million results.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[RunnelFuture[Any]] = set()
        self._failed: list[RunnelFuture[Any]] = []
        self._idle = threading.Event()
        self._idle.set()
        self.submitted = 0
        self.finished = 0
        self.failed = 0
        self.cached = 0

    def counts(self) -> dict[str, int]:
        """How many submitted runs are done, failed, cached and still going."""
        return {
            "submitted": self.submitted,
            "done": self.finished,
            "failed": self.failed,
            "cached": self.cached,
            "running": self.submitted - self.finished,
        }

    def add(self, future: RunnelFuture[Any]) -> None:
        """Count ``future`` in; it reports back through ``set_state``, which is cheaper than
        a done callback (no closure, no weak reference, no second pass over callbacks)."""
        with self._lock:
            if not self._running:
                self._idle.clear()
            self._running.add(future)
            self.submitted += 1
        future._scope = self

    def _finished(self, future: RunnelFuture[Any], state: State) -> None:
        with self._lock:
            self._running.discard(future)
            self.finished += 1
            if state.name == "Cached":
                self.cached += 1
            if not state.is_completed():
                self.failed += 1
                self._failed.append(future)
            if not self._running:
                self._idle.set()

    def wait(self) -> None:
        """Block until every submitted run (including runs they submitted) is final."""
        while True:
            self._idle.wait()
            with self._lock:
                if not self._running:
                    return

    async def await_all(self) -> None:
        """``wait`` for async flows, without blocking the event loop."""
        import asyncio

        while True:
            with self._lock:
                pending = [f._future for f in self._running]
            if not pending:
                return
            await asyncio.wait([asyncio.wrap_future(f) for f in pending])

    def unobserved_failures(self) -> list[RunnelFuture[Any]]:
        """Failed runs whose future nobody asked for its result or state."""
        with self._lock:
            return [f for f in self._failed if not f._observed]


def visit_futures(value: Any, found: list[RunnelFuture[Any]]) -> None:
    """Collect the futures in ``value`` and in lists, tuples, sets and dict values inside it."""
    kind = type(value)
    if kind is RunnelFuture:
        found.append(value)
    elif kind in (list, tuple, set, frozenset):
        for item in value:
            visit_futures(item, found)
    elif kind is dict:
        for item in value.values():
            visit_futures(item, found)


def resolve_futures(value: Any) -> Any:
    """``value`` with every future inside replaced by its result (containers rebuilt)."""
    kind = type(value)
    if kind is RunnelFuture:
        return value.result()
    if kind in (list, tuple, set, frozenset):
        return kind(resolve_futures(item) for item in value)
    if kind is dict:
        return {key: resolve_futures(item) for key, item in value.items()}
    return value
