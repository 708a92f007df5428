"""The recorder: run history written behind the run, not in its way.

The engine hands every state change and log line to ``Recorder`` (cheap: an append to a
deque). A background thread drains the deque every ``interval`` seconds and writes each
batch to the store in one transaction, coalescing the many updates of a run into one row.
``flush()`` returns once everything handed over before it is committed; flows call it when
they return and the interpreter calls it at exit. The same thread sends heartbeats for the
unfinished runs of this process, so a process that dies leaves runs that readers see crash.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import sys
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from runnel.runs import FlowRun, Run, TaskRun
from runnel.settings import get_settings
from runnel.states import TERMINAL_TYPES, State, StateType
from runnel.store.base import Batch, Store
from runnel.store.factory import get_store

_HOST = socket.gethostname()
_logger = logging.getLogger("runnel.recorder")
_LOG_SEQ = iter(range(1, sys.maxsize))
#: How long a task run that is only Pending (submitted, waiting for a worker or its inputs)
#: may wait before it is written anyway. A flush writes every held run at once.
HOLD = 1.0


#: Each state type as the plain text the store keeps (``StateType.value`` is a property of
#: the enum, slower than a lookup, and read for every row).
_TYPE_TEXT = {kind: kind.value for kind in StateType}


def parameters_json(parameters: dict[str, Any]) -> str:
    """Flow parameters as JSON (values JSON cannot hold are kept as their repr)."""
    try:
        return json.dumps(parameters, default=repr, sort_keys=True)
    except (TypeError, ValueError):
        return json.dumps({k: repr(v) for k, v in parameters.items()}, sort_keys=True)


def tags_json(tags: tuple[str, ...]) -> str:
    return json.dumps(list(tags)) if tags else "[]"


# The row builders read ``state_seq`` before ``state``: ``set_state`` (and a runner taking
# over a run's fields from another process) writes them the other way round, so a row read
# while they change pairs a state with a number no higher than its own, and the store never
# lets an old state win over a newer one because of a torn read.


def flow_run_row(run: FlowRun, pid: int, heartbeat: float) -> tuple[Any, ...]:
    seq = run.state_seq
    state = run.state
    return (
        run.id,
        run.name,
        run.flow_name,
        run.parent_task_run_id,
        _TYPE_TEXT[state.type],
        state.name,
        state.message,
        seq,
        parameters_json(run.parameters),
        tags_json(run.tags),
        run.run_count,
        run.created,
        run.start_time,
        run.end_time,
        heartbeat,
        _HOST,
        pid,
    )


def task_run_row(run: TaskRun, pid: int, heartbeat: float) -> tuple[Any, ...]:
    seq = run.state_seq
    state = run.state
    return (
        run.id,
        run.flow_run_id,
        run.name,
        run.task_name,
        run.task_key,
        _TYPE_TEXT[state.type],
        state.name,
        state.message,
        seq,
        tags_json(run.tags),
        run.run_count,
        run.created,
        run.start_time,
        run.end_time,
        heartbeat,
        _HOST,
        pid,
        run.runner,
        run.cache_key,
        run.cache_saved_seconds,
    )


def told_by_its_row(run: TaskRun, seen: list[tuple[int, State]]) -> bool:
    """Whether the states of ``run`` in this batch are all of its states, and exactly what its
    task run row already says: ``Pending`` at ``created``, ``Running`` at ``start_time`` (or
    no Running: a cache hit), then its final state at ``end_time``.

    Most task runs are such, and their three state rows cost the history as much as the
    run row itself; for them no state row is written and ``Store.list_states`` reads the
    same states back from the run row (``states_from_run_row``).
    """
    count = len(seen)
    if run.state_seq != count or count not in (2, 3):
        return False
    (first_seq, first), (last_seq, last) = seen[0], seen[-1]
    if (
        first_seq != 1
        or last_seq != count
        or last is not run.state
        or first.type is not StateType.PENDING
        or first.name != "Pending"
        or first.message is not None
        or first.timestamp != run.created
        or last.type not in TERMINAL_TYPES
        or last.timestamp != run.end_time
    ):
        return False
    if count == 2:
        return run.start_time is None
    middle_seq, middle = seen[1]
    return (
        middle_seq == 2
        and middle.type is StateType.RUNNING
        and middle.name == "Running"
        and middle.message is None
        and middle.timestamp == run.start_time
    )


class _Marker:
    """Put in the queue by ``flush``; set once everything queued before it is committed."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class Recorder:
    """Batches run events to a store from a background thread."""

    def __init__(
        self, store: Store, interval: float = 0.1, heartbeat_seconds: float = 10.0
    ) -> None:
        self.store = store
        self.interval = interval
        self.heartbeat_seconds = heartbeat_seconds
        self._queue: deque[Any] = deque()  # state changes (run, state, seq) and flush markers
        self._logs: deque[tuple[Any, ...]] = deque()  # log rows, as they are written
        self._wake = threading.Event()
        self._stopping = False
        self._active: dict[str, Run] = {}
        # Task runs only submitted so far, held back up to HOLD seconds: (run, states, since).
        self._held: OrderedDict[str, tuple[TaskRun, list[tuple[int, State]], float]] = OrderedDict()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name="runnel-recorder", daemon=True)
        self._failure: BaseException | None = None  # the last failed write not yet reported
        self._warned = False
        self._thread.start()

    # -- the engine's side (any thread) -----------------------------------------------------
    def state_changed(self, run: Run, state: State, seq: int) -> None:
        # Three items, not a tuple: one object less for every state to outlive the young
        # garbage collections while it waits. ``extend`` with a tuple is one C call, so the
        # three are never parted by another thread's items.
        self._queue.extend((run, state, seq))

    def log(
        self,
        flow_run_id: str | None,
        task_run_id: str | None,
        level: int,
        logger: str,
        message: str,
        timestamp: float,
    ) -> None:
        self._logs.append(
            (flow_run_id, task_run_id, next(_LOG_SEQ), level, logger, message, timestamp)
        )

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything handed over so far is in the store.

        Never raises (the run is not the history's hostage); a write that failed, or that
        has not finished within ``timeout``, is reported as a WARNING.
        """
        marker = _Marker()
        self._queue.append(marker)
        if self._stopping or not self._thread.is_alive():
            self._drain()
        else:
            self._wake.set()
        if not marker.done.wait(timeout):
            _logger.warning(
                "The run history at %s is still being written after %g s: runs of this "
                "process may be missing from it if the process ends now",
                self.store.location,
                timeout,
            )
        elif marker.error is not None:
            _logger.warning(
                "Runs of this process may be missing from the run history at %s, because "
                "writing it failed: %s",
                self.store.location,
                marker.error,
            )

    def close(self, timeout: float | None = 30.0) -> None:
        """Flush, then stop the thread."""
        self.flush(timeout)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    # -- the recorder thread -------------------------------------------------------------
    def _loop(self) -> None:
        last_beat = time.monotonic()
        while not self._stopping:
            self._wake.wait(self.interval)
            self._wake.clear()
            self._drain()
            if time.monotonic() - last_beat >= self.heartbeat_seconds:
                last_beat = time.monotonic()
                self._beat()
        self._drain()

    def _drain(self) -> None:
        """Write what is queued now; what comes meanwhile waits for the next round.

        Going on until the queue is empty would, behind a busy run, write a transaction of
        a row or two after another, each paying a commit and taking the GIL from the runs."""
        left = len(self._queue)
        if not (left or self._logs or self._held_due()):
            return
        while True:
            batch, markers, taken = self._take(left)
            left -= taken
            try:
                self._write(batch)
            except BaseException as exc:
                self._failure = exc
                if not markers:  # else the flush waiting for this batch reports it
                    self._report(exc)
            if markers:
                # A flush reports every failed write since the last one, in the background too.
                failure, self._failure = self._failure, None
                for marker in markers:
                    marker.error = failure
                    marker.done.set()
            if not left:  # else a flush marker ended this batch: the rest goes on
                return

    def _held_due(self) -> bool:
        held = self._held
        return bool(held) and held[next(iter(held))][2] <= time.time() - HOLD

    def _take(self, most: int) -> tuple[Batch, list[_Marker], int]:
        """Up to ``most`` queued state changes, stopping after the first flush marker, every
        queued log line, and the held-back task runs that are due (all of them when a flush
        is waiting); and how many queue items it took."""
        batch = Batch()
        changed: dict[str, tuple[Run, list[tuple[int, State]]]] = {}
        markers: list[_Marker] = []
        queue, active = self._queue, self._active
        take, find = queue.popleft, changed.get
        # Only this thread takes from the queue, so it holds at least this many items.
        count, taken = min(most, len(queue)), 0
        while taken < count:
            item = take()
            if type(item) is _Marker:
                taken += 1
                markers.append(item)
                break
            run, state, seq = item, take(), take()
            taken += 3
            run_id = run.id
            entry = find(run_id)
            if entry is None:
                changed[run_id] = (run, [(seq, state)])
            else:
                entry[1].append((seq, state))
            # Heartbeats: for flow runs and standalone task runs (a flow run's beat covers
            # the task runs inside it).
            if type(run) is FlowRun or run.flow_run_id is None:
                if state.type in TERMINAL_TYPES:
                    active.pop(run_id, None)
                else:
                    active[run_id] = run
        # Every log line handed over before the marker is in ``_logs`` by now; lines that
        # came after it may be taken too, which only writes them sooner.
        take_log = self._logs.popleft
        batch.logs = [take_log() for _ in range(len(self._logs))]
        now = time.time()
        held = self._held

        pid, task_runs = self._pid, batch.task_runs

        def write(run: Run, seen: list[tuple[int, State]]) -> None:
            if isinstance(run, FlowRun):
                batch.flow_runs.append(flow_run_row(run, pid, now))
            else:
                task_runs.append(task_run_row(run, pid, now))
                if told_by_its_row(run, seen):
                    return
            batch.states.extend(
                (run.id, seq, _TYPE_TEXT[state.type], state.name, state.message, state.timestamp)
                for seq, state in seen
            )

        hold_until = now - HOLD
        for run_id, (run, seen) in changed.items():
            earlier = held.get(run_id) if held else None
            since = now
            if earlier is not None:
                seen = earlier[1] + seen
                since = earlier[2]
            if not markers and type(run) is TaskRun and since > hold_until:
                last_seq = seen[-1][0]
                # Held back: a run only submitted so far, and a run whose next states were
                # queued after this batch began (it moved on while the batch was taken).
                # Most start and end within the next batches, and one row then tells their
                # whole life (``told_by_its_row``) instead of a row now and another then.
                if last_seq == 1 or last_seq < run.state_seq:
                    held[run_id] = (run, seen, since)  # a held run keeps its place
                    continue
            if earlier is not None:
                del held[run_id]
            write(run, seen)
        while held:  # oldest first: the ones waited for long enough, or all for a flush
            run_id = next(iter(held))
            run, seen, since = held[run_id]
            if not markers and since > hold_until:
                break
            del held[run_id]
            write(run, seen)
        return batch, markers, taken

    def _write(self, batch: Batch) -> None:
        self.store.write(batch)

    def _beat(self) -> None:
        active = list(self._active.values())
        if not active:
            return
        try:
            self.store.heartbeat(
                [r.id for r in active if isinstance(r, FlowRun)],
                [r.id for r in active if isinstance(r, TaskRun)],
                time.time(),
            )
        except Exception as exc:
            self._report(exc)

    def _report(self, error: BaseException) -> None:
        if not self._warned:
            self._warned = True
            _logger.error(
                "The run history could not be written to %s: %s", self.store.location, error
            )


_recorder: Recorder | None = None
_lock = threading.Lock()


def get_recorder() -> Recorder:
    """The process's recorder, started on first use (opening the store, reaping crashes)."""
    global _recorder
    if _recorder is None or _recorder._pid != os.getpid():
        with _lock:
            if _recorder is None or _recorder._pid != os.getpid():
                settings = get_settings()
                store = get_store()
                store.reap_crashed(time.time(), settings.heartbeat_expiry_seconds)
                _recorder = Recorder(store, heartbeat_seconds=settings.heartbeat_seconds)
    return _recorder


def reset_recorder() -> None:
    """Flush and stop the process's recorder; the next run starts a new one."""
    global _recorder
    from runnel import runtime

    with _lock:
        if _recorder is not None and _recorder._pid == os.getpid():
            _recorder.close()
        _recorder = None
    runtime.forget_sink()


@atexit.register
def _flush_at_exit() -> None:
    recorder = _recorder
    if recorder is not None and recorder._pid == os.getpid():
        recorder.close(timeout=30.0)
