"""The ``Store`` seam: what the engine writes and the CLI reads, in plain rows."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Column order of the rows a Batch carries; the SQL of every implementation follows it.
FLOW_RUN_COLUMNS = (
    "id",
    "name",
    "flow_name",
    "parent_task_run_id",
    "state_type",
    "state_name",
    "state_message",
    "state_seq",
    "parameters",
    "tags",
    "run_count",
    "created",
    "start_time",
    "end_time",
    "heartbeat",
    "hostname",
    "pid",
)
TASK_RUN_COLUMNS = (
    "id",
    "flow_run_id",
    "name",
    "task_name",
    "task_key",
    "state_type",
    "state_name",
    "state_message",
    "state_seq",
    "tags",
    "run_count",
    "created",
    "start_time",
    "end_time",
    "heartbeat",
    "hostname",
    "pid",
    "runner",
    "cache_key",
    "cache_saved_seconds",
)
STATE_COLUMNS = ("run_id", "seq", "type", "name", "message", "timestamp")
LOG_COLUMNS = ("flow_run_id", "task_run_id", "seq", "level", "logger", "message", "timestamp")


@dataclass
class Batch:
    """Rows written together in one transaction (tuples in the ``*_COLUMNS`` orders)."""

    flow_runs: list[tuple[Any, ...]] = field(default_factory=list)
    task_runs: list[tuple[Any, ...]] = field(default_factory=list)
    states: list[tuple[Any, ...]] = field(default_factory=list)
    logs: list[tuple[Any, ...]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.flow_runs or self.task_runs or self.states or self.logs)


@dataclass(frozen=True)
class FlowRunRecord:
    id: str
    name: str
    flow_name: str
    parent_task_run_id: str | None
    state_type: str
    state_name: str
    state_message: str | None
    state_seq: int
    parameters: str | None
    tags: str | None
    run_count: int
    created: float
    start_time: float | None
    end_time: float | None
    heartbeat: float | None
    hostname: str | None
    pid: int | None


@dataclass(frozen=True)
class TaskRunRecord:
    id: str
    flow_run_id: str | None
    name: str
    task_name: str
    task_key: str
    state_type: str
    state_name: str
    state_message: str | None
    state_seq: int
    tags: str | None
    run_count: int
    created: float
    start_time: float | None
    end_time: float | None
    heartbeat: float | None
    hostname: str | None
    pid: int | None
    runner: str | None
    cache_key: str | None
    cache_saved_seconds: float | None


@dataclass(frozen=True)
class StateRecord:
    run_id: str
    seq: int
    type: str
    name: str
    message: str | None
    timestamp: float


def states_from_run_row(
    run_id: str,
    state_seq: int,
    state_type: str,
    state_name: str,
    state_message: str | None,
    created: float,
    start_time: float | None,
    end_time: float | None,
) -> list[StateRecord]:
    """The states of a task run the recorder wrote without state rows, read from its row:
    Pending at ``created``, Running at ``start_time`` (none for a cache hit), the final
    state at ``end_time``. A run with neither shape has no states to tell."""
    if end_time is None or state_seq not in (2, 3) or (state_seq == 3) != (start_time is not None):
        return []
    states = [StateRecord(run_id, 1, "PENDING", "Pending", None, created)]
    if start_time is not None:
        states.append(StateRecord(run_id, 2, "RUNNING", "Running", None, start_time))
    states.append(StateRecord(run_id, state_seq, state_type, state_name, state_message, end_time))
    return states


@dataclass(frozen=True)
class LogRecord:
    flow_run_id: str | None
    task_run_id: str | None
    seq: int
    level: int
    logger: str
    message: str
    timestamp: float


def with_closing_lines(
    flow_run_id: str,
    logs: list[LogRecord],
    ended: Sequence[tuple[str, str, str, str | None, float]],
    skip_message: str | None = None,
) -> list[LogRecord]:
    """A flow run's stored log lines with the closing line of each of its ended task runs put
    back, oldest first. The engine does not store that line (``Finished in state ...``): the
    task run's row says the same. ``ended``: (id, state type, state name, state message,
    end time) of each task run that ended; one whose line is stored (a history written before
    this rule) or whose state message is ``skip_message`` (a run the crash reaper ended: it
    logged nothing) gets none."""
    from runnel.engine.steps import CLOSING_LINE, closing_level
    from runnel.loggers import TASK_RUN_LOGGER
    from runnel.states import State, StateType

    logger, prefix = TASK_RUN_LOGGER.name, CLOSING_LINE % ""
    told = {
        line.task_run_id
        for line in logs
        if line.logger == logger and line.message.startswith(prefix)
    }
    closing = []
    for run_id, state_type, name, message, end in ended:
        if run_id in told or (skip_message is not None and message == skip_message):
            continue
        state = State(StateType(state_type), name, message, timestamp=end)
        text = CLOSING_LINE % (state,)
        closing.append(
            LogRecord(flow_run_id, run_id, _LAST, closing_level(state), logger, text, end)
        )
    if not closing:
        return logs
    lines = sorted(logs + closing, key=lambda line: (line.timestamp, line.seq))
    # A put-back line takes the number of the line before it, so the numbers still only grow.
    seq = 0
    for at, line in enumerate(lines):
        if line.seq == _LAST:
            lines[at] = dataclasses.replace(line, seq=seq)
        else:
            seq = line.seq
    return lines


_LAST = 2**63 - 1  # a put-back line sorts after the stored lines of its moment


@dataclass(frozen=True)
class LimitRecord:
    """A global concurrency or rate limit as stored (slots before decay since ``updated``)."""

    name: str
    limit: int
    active: bool
    active_slots: float
    slot_decay_per_second: float  # 0: a concurrency limit, slots held until released
    updated: float
    created: float


@dataclass(frozen=True)
class LeaseRecord:
    """Slots of a concurrency limit held by one holder until ``expires`` (renewed while alive)."""

    id: str
    limit_name: str
    slots: int
    expires: float
    holder: str  # "hostname:pid"
    created: float


@dataclass(frozen=True)
class Acquisition:
    """The answer of one atomic acquire: granted, or how long to wait before trying again."""

    granted: bool
    wait_seconds: float | None  # None: unknown (a concurrency limit: until someone releases)
    missing: tuple[str, ...] = ()  # names with no limit: they never block
    inactive: tuple[str, ...] = ()  # disabled limits: they never block
    blocked: tuple[str, ...] = ()  # when denied: the limits that had too few free slots
    ahead: int = 0  # callers queued before this one (0: next in line)


class Store(ABC):
    """Where run history lives. Every method is one transaction; rows in, records out."""

    #: Where the data is, for messages (a path or a URL without its password).
    location: str

    @abstractmethod
    def write(self, batch: Batch) -> None:
        """Upsert the batch's runs (by id) and append its states and logs, all or nothing.

        A run row whose ``state_seq`` is lower than the stored row's is skipped: it is an
        older state arriving late (two processes write a run that moved between them)."""

    @abstractmethod
    def heartbeat(self, flow_run_ids: list[str], task_run_ids: list[str], at: float) -> None:
        """Mark these runs as alive at ``at``."""

    @abstractmethod
    def reap_crashed(self, now: float, expiry: float) -> int:
        """Move unfinished runs whose heartbeat is older than ``now - expiry`` to Crashed.

        Task runs of a crashed flow run crash with it. Returns how many runs were moved."""

    @abstractmethod
    def list_flow_runs(self, limit: int = 20, flow_name: str | None = None) -> list[FlowRunRecord]:
        """The newest flow runs first."""

    @abstractmethod
    def read_flow_run(self, id_or_name: str) -> FlowRunRecord | None:
        """A flow run by id, unique id prefix, or name (the newest of that name)."""

    @abstractmethod
    def read_task_run(self, task_run_id: str) -> TaskRunRecord | None:
        """A task run by id."""

    @abstractmethod
    def list_task_runs(
        self, flow_run_id: str | None = None, limit: int | None = None
    ) -> list[TaskRunRecord]:
        """Task runs of one flow run in creation order (``None``: the newest of any flow run)."""

    @abstractmethod
    def list_states(self, run_id: str) -> list[StateRecord]:
        """A run's states in the order they happened."""

    @abstractmethod
    def list_logs(self, flow_run_id: str, limit: int | None = None) -> list[LogRecord]:
        """Log lines of a flow run and its task runs, oldest first."""

    @abstractmethod
    def cache_hits(self) -> dict[str, int]:
        """How many task runs were answered from each cache key."""

    # -- limits ----------------------------------------------------------------------------
    @abstractmethod
    def create_limit(
        self,
        name: str,
        limit: int,
        slot_decay_per_second: float = 0.0,
        active: bool = True,
        now: float | None = None,
    ) -> LimitRecord:
        """Create a limit with no slots taken (ConfigurationError if the name exists)."""

    @abstractmethod
    def update_limit(
        self,
        name: str,
        now: float,
        limit: int | None = None,
        slot_decay_per_second: float | None = None,
        active: bool | None = None,
    ) -> LimitRecord:
        """Change the given fields of a limit, decay applied up to ``now`` first."""

    @abstractmethod
    def delete_limit(self, name: str) -> bool:
        """Delete a limit and its leases; False if there was none."""

    @abstractmethod
    def read_limit(self, name: str) -> LimitRecord | None:
        """A limit as stored (apply ``runnel.limits.current_slots`` for the slots now)."""

    @abstractmethod
    def list_limits(self) -> list[LimitRecord]:
        """Every limit, by name."""

    @abstractmethod
    def list_leases(self, name: str) -> list[LeaseRecord]:
        """The leases holding slots of a limit, oldest first (expired ones until reclaimed)."""

    @abstractmethod
    def reset_limit(self, name: str, now: float) -> None:
        """Free every slot of a limit and drop its leases."""

    @abstractmethod
    def acquire_slots(
        self,
        names: Sequence[str],
        occupy: int,
        now: float,
        lease_id: str | None = None,
        lease_expires: float | None = None,
        holder: str = "",
        waiter_id: str | None = None,
    ) -> Acquisition:
        """Take ``occupy`` slots of every named active limit atomically, or none.

        Expired leases of these limits are reclaimed first. Concurrency limits (no decay)
        need a ``lease_id``: their slots are held under it until released or expired."""

    @abstractmethod
    def leave_queue(self, waiter_id: str) -> None:
        """Forget a caller that stopped waiting: those queued behind it no longer wait for it."""

    @abstractmethod
    def release_slots(self, lease_id: str, now: float) -> None:
        """Give back the slots of a lease (nothing if it was already reclaimed)."""

    @abstractmethod
    def renew_lease(self, lease_id: str, expires: float) -> bool:
        """Move a lease's expiry to ``expires``; False if it was reclaimed."""

    @abstractmethod
    def schema_version(self) -> int:
        """The migration the database is at."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
