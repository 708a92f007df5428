"""The runs the engine moves through their states: plain mutable records, one per call."""

from __future__ import annotations

import random
import time
from typing import Any

from runnel.states import Pending, State

#: The state of a run before its first ``set_state`` (``state_seq`` 0); shared, never recorded.
NOT_STARTED: State = Pending()

_bits = random.getrandbits  # reseeded by the random module in every forked child


def new_id() -> str:
    """A random UUID4-shaped id; not for secrets, ten times cheaper than ``uuid.uuid4()``."""
    return _dashed(_bits(128) & _VERSION_BITS | _UUID4)


def new_ordered_id() -> str:
    """A UUID7-shaped id that starts with the time in milliseconds.

    Task runs are the rows a history has millions of; ids that grow with time are appended
    at the end of the database's indexes instead of scattered over them, which keeps writes
    fast however large the history gets. The time part is written once a millisecond, not
    once an id (a busy flow makes dozens of runs a millisecond).
    """
    global _last_head
    ms = time.time_ns() // 1_000_000
    last, head = _last_head
    if last != ms:
        h = f"{ms:012x}"
        head = f"{h[:8]}-{h[8:]}-"
        _last_head = (ms, head)  # one tuple: threads replace it whole
    tail = "%020x" % (_bits(80) & _VERSION_BITS | _UUID7)  # noqa: UP031 - faster than f"{:x}"
    return f"{head}{tail[:4]}-{tail[4:8]}-{tail[8:]}"


# The version nibble (bits 76-79) and the variant bits (62-63) of a UUID, cleared then set.
_VERSION_BITS = ~(0xF << 76 | 0x3 << 62)
_UUID4 = 0x4 << 76 | 0x2 << 62
_UUID7 = 0x7 << 76 | 0x2 << 62
_last_head = (-1, "")  # (millisecond, "tttttttt-tttt-") of the last ordered id


def _dashed(number: int) -> str:
    h = f"{number:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class FlowRun:
    """One call of a flow."""

    __slots__ = (
        "id",
        "name",
        "flow_name",
        "parameters",
        "parent_task_run_id",
        "tags",
        "state",
        "state_seq",
        "run_count",
        "created",
        "start_time",
        "end_time",
    )
    kind = "flow"

    def __init__(self, name: str, flow_name: str, tags: tuple[str, ...] = ()) -> None:
        self.id = new_id()
        self.name = name
        self.flow_name = flow_name
        self.parameters: dict[str, Any] = {}
        self.parent_task_run_id: str | None = None
        self.tags = tags
        self.state: State = NOT_STARTED
        self.state_seq = 0
        self.run_count = 0
        self.created = time.time()
        self.start_time: float | None = None
        self.end_time: float | None = None

    @property
    def label(self) -> str:
        return f"Flow run {self.name!r}"

    def __repr__(self) -> str:
        return f"FlowRun(name={self.name!r}, state={self.state!r})"


class TaskRun:
    """One call of a task."""

    __slots__ = (
        "id",
        "name",
        "task_name",
        "task_key",
        "flow_run_id",
        "tags",
        "state",
        "state_seq",
        "run_count",
        "created",
        "start_time",
        "end_time",
        "runner",
        "cache_key",
        "cache_saved_seconds",
    )
    kind = "task"

    def __init__(
        self,
        name: str,
        task_name: str,
        task_key: str,
        flow_run_id: str | None,
        tags: tuple[str, ...] = (),
    ) -> None:
        self.id = new_ordered_id()
        self.name = name
        self.task_name = task_name
        self.task_key = task_key
        self.flow_run_id = flow_run_id
        self.tags = tags
        self.state: State = NOT_STARTED
        self.state_seq = 0
        self.run_count = 0
        self.created = time.time()
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.runner: str | None = None
        self.cache_key: str | None = None
        self.cache_saved_seconds: float | None = None

    @property
    def label(self) -> str:
        return f"Task run {self.name!r}"

    def __repr__(self) -> str:
        return f"TaskRun(name={self.name!r}, state={self.state!r})"


Run = FlowRun | TaskRun
