"""Run states: a closed set of types, named states, and pure transition rules."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from runnel.exceptions import CrashedRun, UnfinishedRun


class StateType(StrEnum):
    """The closed set of state types; ``TERMINAL`` ones never change again."""

    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value


TERMINAL_TYPES = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
)

# The name each type carries when nothing more specific is said.
DEFAULT_NAMES = {
    StateType.PENDING: "Pending",
    StateType.SCHEDULED: "Scheduled",
    StateType.RUNNING: "Running",
    StateType.COMPLETED: "Completed",
    StateType.FAILED: "Failed",
    StateType.CRASHED: "Crashed",
    StateType.CANCELLED: "Cancelled",
}

# What may follow each type, for every type: a terminal state is final (nothing follows it),
# and a run can always crash.
ALLOWED_NEXT: dict[StateType, frozenset[StateType]] = {
    StateType.PENDING: frozenset(
        {
            StateType.PENDING,
            StateType.RUNNING,
            StateType.SCHEDULED,
            StateType.COMPLETED,
            StateType.FAILED,
            StateType.CRASHED,
            StateType.CANCELLED,
        }
    ),
    StateType.SCHEDULED: frozenset(
        {StateType.RUNNING, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
    ),
    StateType.RUNNING: frozenset(
        {
            StateType.RUNNING,
            StateType.SCHEDULED,
            StateType.COMPLETED,
            StateType.FAILED,
            StateType.CRASHED,
            StateType.CANCELLED,
        }
    ),
    **{kind: frozenset() for kind in TERMINAL_TYPES},
}


def can_transition(current: StateType | None, proposed: StateType) -> bool:
    """Whether a run in ``current`` may move to ``proposed``."""
    if current is None:
        return True
    return proposed in ALLOWED_NEXT[current]


_NO_RESULT = object()


class State:
    """A moment in a run's life: a type, a name, an optional message, and its result."""

    __slots__ = ("type", "name", "message", "timestamp", "_result", "_exception")

    def __init__(
        self,
        type: StateType,
        name: str | None = None,
        message: str | None = None,
        result: Any = _NO_RESULT,
        exception: BaseException | None = None,
        *,
        timestamp: float | None = None,
    ) -> None:
        self.type = type
        self.name = name or DEFAULT_NAMES[type]
        self.message = message
        self.timestamp = time.time() if timestamp is None else timestamp
        self._result = result
        self._exception = exception

    # -- predicates ---------------------------------------------------------------------
    def is_final(self) -> bool:
        return self.type in TERMINAL_TYPES

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    @property
    def exception(self) -> BaseException | None:
        """The exception that ended the run, if one did."""
        return self._exception

    def result(self, raise_on_failure: bool = True) -> Any:
        """The run's value; raises the run's exception when it did not complete."""
        if self.type is StateType.COMPLETED:
            return None if self._result is _NO_RESULT else self._result
        if self.is_final():
            error = self._exception or _error_for(self)
            if raise_on_failure:
                raise error
            return error
        raise UnfinishedRun(f"{self!r} has no result yet: wait for the run to finish")

    def __repr__(self) -> str:
        if not self.message:  # every run's last log line shows one: remembered by name and type
            text = _BARE_REPRS.get((self.name, self.type))
            if text is None:
                text = _bare_repr(self.name, self.type)
            return text
        parts = [repr(self.message)]
        if self.name != DEFAULT_NAMES[self.type]:
            parts.append(f"type={self.type.value}")
        return f"{self.name}({', '.join(parts)})"

    __str__ = __repr__


_BARE_REPRS: dict[tuple[str, StateType], str] = {}


def _bare_repr(name: str, type: StateType) -> str:
    """``Completed()``, ``Cached(type=COMPLETED)``: a state with no message."""
    text = f"{name}()" if name == DEFAULT_NAMES[type] else f"{name}(type={type.value})"
    if len(_BARE_REPRS) < 256:  # users may name states freely: keep a bounded few
        _BARE_REPRS[(name, type)] = text
    return text


def _error_for(state: State) -> BaseException:
    message = state.message or f"Run ended in state {state!r}"
    if state.type is StateType.CRASHED:
        return CrashedRun(message)
    return RuntimeError(message)


# The factories below are called for every run, three times or more: they pass everything
# positionally, the type from a module constant (an enum member looked up on its class, or a
# keyword argument, costs more than the rest of the call).
_PENDING, _RUNNING, _COMPLETED = StateType.PENDING, StateType.RUNNING, StateType.COMPLETED
_SCHEDULED, _FAILED = StateType.SCHEDULED, StateType.FAILED
_CRASHED, _CANCELLED = StateType.CRASHED, StateType.CANCELLED


def Pending(message: str | None = None) -> State:
    return State(_PENDING, "Pending", message)


def Running(message: str | None = None) -> State:
    return State(_RUNNING, "Running", message)


def Completed(result: Any = None, message: str | None = None) -> State:
    return State(_COMPLETED, "Completed", message, result)


def Cached(result: Any = None, message: str | None = None) -> State:
    return State(_COMPLETED, "Cached", message, result)


def AwaitingRetry(scheduled_for: float | None = None, message: str | None = None) -> State:
    return State(_SCHEDULED, "AwaitingRetry", message)


def AwaitingConcurrencySlot(message: str | None = None) -> State:
    return State(_SCHEDULED, "AwaitingConcurrencySlot", message)


def Retrying(message: str | None = None) -> State:
    return State(_RUNNING, "Retrying", message)


def Failed(message: str | None = None, exception: BaseException | None = None) -> State:
    return State(_FAILED, "Failed", message, exception=exception)


def TimedOut(message: str | None = None, exception: BaseException | None = None) -> State:
    return State(_FAILED, "TimedOut", message, exception=exception)


def Crashed(message: str | None = None, exception: BaseException | None = None) -> State:
    return State(_CRASHED, "Crashed", message, exception=exception)


def Cancelled(message: str | None = None, exception: BaseException | None = None) -> State:
    return State(_CANCELLED, "Cancelled", message, exception=exception)
