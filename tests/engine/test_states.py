"""States: a closed enum with a terminal set, readable reprs, pure transition rules, results."""

from __future__ import annotations

import pytest

from runnel import flow, task
from runnel.exceptions import CrashedRun, UnfinishedRun
from runnel.states import (
    TERMINAL_TYPES,
    AwaitingRetry,
    Cached,
    Cancelled,
    Completed,
    Crashed,
    Failed,
    Pending,
    Retrying,
    Running,
    State,
    StateType,
    TimedOut,
    can_transition,
)

ALL_TYPES = list(StateType)


# -- the enum -----------------------------------------------------------------------------
def test_state_type_is_a_closed_str_enum() -> None:
    assert [t.value for t in StateType] == [
        "PENDING",
        "SCHEDULED",
        "RUNNING",
        "COMPLETED",
        "FAILED",
        "CRASHED",
        "CANCELLED",
    ]
    assert StateType("COMPLETED") is StateType.COMPLETED
    assert StateType.FAILED == "FAILED"
    assert str(StateType.RUNNING) == "RUNNING"
    with pytest.raises(ValueError):
        StateType("TIMED_OUT")


def test_terminal_set() -> None:
    assert TERMINAL_TYPES == {
        StateType.COMPLETED,
        StateType.FAILED,
        StateType.CRASHED,
        StateType.CANCELLED,
    }
    assert isinstance(TERMINAL_TYPES, frozenset)


@pytest.mark.parametrize(
    ("state", "final"),
    [
        (Pending(), False),
        (Running(), False),
        (AwaitingRetry(), False),
        (Retrying(), False),
        (Completed(1), True),
        (Cached(1), True),
        (Failed("x"), True),
        (TimedOut("x"), True),
        (Crashed("x"), True),
        (Cancelled("x"), True),
    ],
    ids=repr,
)
def test_is_final_follows_the_terminal_set(state: State, final: bool) -> None:
    assert state.is_final() is final
    assert (state.type in TERMINAL_TYPES) is final


# -- named states and their reprs --------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "type_", "name", "text"),
    [
        (Pending(), StateType.PENDING, "Pending", "Pending()"),
        (Running(), StateType.RUNNING, "Running", "Running()"),
        (Completed(), StateType.COMPLETED, "Completed", "Completed()"),
        (Completed(42), StateType.COMPLETED, "Completed", "Completed()"),
        (Cached(42), StateType.COMPLETED, "Cached", "Cached(type=COMPLETED)"),
        (AwaitingRetry(), StateType.SCHEDULED, "AwaitingRetry", "AwaitingRetry(type=SCHEDULED)"),
        (Retrying(), StateType.RUNNING, "Retrying", "Retrying(type=RUNNING)"),
        (Failed("it broke"), StateType.FAILED, "Failed", "Failed('it broke')"),
        (
            TimedOut("Task run exceeded timeout of 1 second(s)"),
            StateType.FAILED,
            "TimedOut",
            "TimedOut('Task run exceeded timeout of 1 second(s)', type=FAILED)",
        ),
        (Crashed("killed"), StateType.CRASHED, "Crashed", "Crashed('killed')"),
        (Cancelled(), StateType.CANCELLED, "Cancelled", "Cancelled()"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_named_states(state: State, type_: StateType, name: str, text: str) -> None:
    assert state.type is type_
    assert state.name == name
    assert repr(state) == text
    assert str(state) == text


def test_repr_of_a_real_failing_task_run() -> None:
    @task
    def explode() -> None:
        raise ValueError("boom")

    state = explode(return_state=True)
    assert repr(state) == "Failed('Task run encountered an exception ValueError: boom')"
    assert state.is_failed()
    assert isinstance(state.exception, ValueError)


def test_repr_of_a_real_completed_task_and_flow_run() -> None:
    @task
    def one() -> int:
        return 1

    @flow
    def wrapper() -> State:
        return one(return_state=True)

    inner = wrapper()
    assert repr(inner) == "Completed()"
    assert inner.result() == 1
    assert repr(wrapper(return_state=True)) == "Completed()"


# -- transitions --------------------------------------------------------------------------
@pytest.mark.parametrize("proposed", ALL_TYPES)
def test_anything_may_come_first(proposed: StateType) -> None:
    assert can_transition(None, proposed)


@pytest.mark.parametrize("current", sorted(TERMINAL_TYPES))
@pytest.mark.parametrize("proposed", ALL_TYPES)
def test_terminal_states_are_final(current: StateType, proposed: StateType) -> None:
    assert not can_transition(current, proposed)


@pytest.mark.parametrize(
    ("current", "proposed"),
    [
        (StateType.PENDING, StateType.RUNNING),
        (StateType.PENDING, StateType.SCHEDULED),
        (StateType.PENDING, StateType.COMPLETED),  # e.g. a cache hit without running
        (StateType.RUNNING, StateType.COMPLETED),
        (StateType.RUNNING, StateType.FAILED),
        (StateType.RUNNING, StateType.SCHEDULED),  # Running -> AwaitingRetry
        (StateType.SCHEDULED, StateType.RUNNING),  # AwaitingRetry -> Retrying
        (StateType.RUNNING, StateType.RUNNING),  # Running -> Retrying is still RUNNING
    ],
)
def test_lifecycle_transitions_are_allowed(current: StateType, proposed: StateType) -> None:
    assert can_transition(current, proposed)


@pytest.mark.parametrize("current", [t for t in ALL_TYPES if t not in TERMINAL_TYPES])
def test_an_unfinished_run_can_always_crash_or_be_cancelled(current: StateType) -> None:
    assert can_transition(current, StateType.CRASHED)
    assert can_transition(current, StateType.CANCELLED)
    assert can_transition(current, StateType.FAILED)


@pytest.mark.parametrize(
    ("current", "proposed"),
    [
        (StateType.RUNNING, StateType.PENDING),
        (StateType.SCHEDULED, StateType.PENDING),
        (StateType.SCHEDULED, StateType.COMPLETED),  # must run before completing
        (StateType.SCHEDULED, StateType.SCHEDULED),
    ],
)
def test_going_backwards_is_refused(current: StateType, proposed: StateType) -> None:
    assert not can_transition(current, proposed)


# -- results ------------------------------------------------------------------------------
def test_completed_result_is_the_value() -> None:
    value = {"a": [1, 2]}
    assert Completed(value).result() is value
    assert Cached(value).result() is value
    assert Completed().result() is None


def test_failed_result_raises_the_original_exception_object() -> None:
    error = ValueError("boom")
    state = Failed("Task run encountered an exception ValueError: boom", exception=error)
    with pytest.raises(ValueError) as raised:
        state.result()
    assert raised.value is error
    assert state.result(raise_on_failure=False) is error


def test_failed_without_exception_raises_a_readable_error() -> None:
    with pytest.raises(RuntimeError, match="it broke"):
        Failed("it broke").result()


def test_crashed_without_exception_raises_crashed_run() -> None:
    assert isinstance(Crashed("killed").result(raise_on_failure=False), CrashedRun)


@pytest.mark.parametrize("state", [Pending(), Running(), AwaitingRetry(), Retrying()], ids=repr)
def test_unfinished_state_has_no_result(state: State) -> None:
    with pytest.raises(UnfinishedRun, match="no result yet"):
        state.result()
    with pytest.raises(UnfinishedRun):
        state.result(raise_on_failure=False)


def test_real_task_state_result_raises_the_exception_the_task_raised() -> None:
    raised_inside: list[BaseException] = []

    @task
    def explode() -> None:
        error = KeyError("missing")
        raised_inside.append(error)
        raise error

    state = explode(return_state=True)
    with pytest.raises(KeyError) as caught:
        state.result()
    assert caught.value is raised_inside[0]
    assert state.result(raise_on_failure=False) is raised_inside[0]
    assert state.exception is raised_inside[0]


def test_predicates() -> None:
    assert Completed().is_completed() and not Completed().is_failed()
    assert TimedOut("t").is_failed()
    assert Crashed("c").is_crashed()
    assert Cancelled().is_cancelled()
    assert Running().is_running() and Retrying().is_running()
    assert Pending().is_pending()
    assert AwaitingRetry().is_scheduled()
