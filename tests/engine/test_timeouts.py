"""Timeouts of tasks and flows, sync and async, in real (short) time."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from runnel import flow, runtime, task
from runnel.clock import REAL_CLOCK, FakeClock
from runnel.exceptions import (
    ConfigurationError,
    FlowRunTimeoutError,
    RunTimeoutError,
    TaskRunTimeoutError,
)
from runnel.states import State
from runnel.store import Store
from runnel.store.base import FlowRunRecord

LIMIT = 0.2


def busy(seconds: float) -> None:
    """Sleep in small steps, so a timed-out worker thread stops soon after it is abandoned."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def no_leftover_workers() -> Iterator[None]:
    """Abandoned timeout workers must be gone before the next test (they stop within ~10 ms)."""
    yield
    for thread in threading.enumerate():
        if thread.name == "runnel-timeout-worker":
            thread.join(2.0)
            assert not thread.is_alive(), "a timed-out worker thread kept running"


def test_timeout_errors_are_timeout_errors() -> None:
    assert issubclass(TaskRunTimeoutError, TimeoutError)
    assert issubclass(FlowRunTimeoutError, TimeoutError)
    assert issubclass(TaskRunTimeoutError, RunTimeoutError)
    assert issubclass(FlowRunTimeoutError, RunTimeoutError)


def test_sync_task_timeout(store: Store) -> None:
    @task(timeout_seconds=LIMIT)
    def slow() -> None:
        busy(5)

    started = time.monotonic()
    state = slow(return_state=True)
    elapsed = time.monotonic() - started
    assert LIMIT <= elapsed < LIMIT + 0.5
    assert repr(state) == "TimedOut('Task run exceeded timeout of 0.2 second(s)', type=FAILED)"
    assert state.type.value == "FAILED" and state.name == "TimedOut"
    assert isinstance(state.exception, TaskRunTimeoutError)
    with pytest.raises(TaskRunTimeoutError, match="exceeded timeout of 0.2 second"):
        state.result()
    (record,) = store.list_task_runs()
    assert (record.state_type, record.state_name) == ("FAILED", "TimedOut")


def test_timed_out_task_handled_by_the_flow() -> None:
    @task(timeout_seconds=LIMIT)
    def slow() -> None:
        busy(5)

    @flow
    def pipeline() -> str:
        try:
            slow()
        except TimeoutError:
            return "handled"
        return "not reached"

    assert pipeline() == "handled"


def test_sync_task_timeout_raises_in_the_flow(only_flow_run: Callable[..., FlowRunRecord]) -> None:
    @task(timeout_seconds=LIMIT)
    def slow() -> None:
        busy(5)

    @flow
    def pipeline() -> None:
        slow()

    with pytest.raises(TaskRunTimeoutError):
        pipeline()
    record = only_flow_run()
    assert (record.state_type, record.state_name) == ("FAILED", "Failed")
    assert record.state_message == (
        "Flow run encountered an exception TaskRunTimeoutError: Task run exceeded timeout of "
        "0.2 second(s)"
    )


def test_task_timeout_is_not_reported_as_the_flows_timeout() -> None:
    @task(timeout_seconds=LIMIT)
    def slow() -> None:
        busy(5)

    @flow(timeout_seconds=30)
    def pipeline() -> None:
        slow()

    state = pipeline(return_state=True)
    assert state.name == "Failed", repr(state)
    assert isinstance(state.exception, TaskRunTimeoutError)


def test_fast_task_with_a_timeout_returns_its_value() -> None:
    @task(timeout_seconds=5)
    def quick() -> int:
        return 42

    assert quick() == 42


def test_task_exception_inside_the_timeout_is_the_original() -> None:
    raised: list[BaseException] = []

    @task(timeout_seconds=5)
    def explode() -> None:
        error = ValueError("boom")
        raised.append(error)
        raise error

    with pytest.raises(ValueError) as caught:
        explode()
    assert caught.value is raised[0]


def test_run_context_is_kept_inside_the_timeout_worker() -> None:
    from runnel import get_run_logger
    from runnel.context import current_task_run

    seen: list[object] = []

    @task(timeout_seconds=5)
    def inside() -> None:
        seen.append(current_task_run())
        get_run_logger().info("still knows its run")

    inside()
    assert seen[0] is not None


def test_async_task_timeout() -> None:
    @task(timeout_seconds=LIMIT)
    async def slow() -> None:
        await asyncio.sleep(5)

    @flow
    async def pipeline() -> list[State]:
        return [await slow(return_state=True)]  # a bare failed state would fail the flow

    started = time.monotonic()
    state = asyncio.run(pipeline())[0]
    assert time.monotonic() - started < LIMIT + 0.5
    assert state.name == "TimedOut" and state.is_failed()
    assert isinstance(state.exception, TaskRunTimeoutError)


def test_async_task_timeout_raises_in_the_flow() -> None:
    @task(timeout_seconds=LIMIT)
    async def slow() -> None:
        await asyncio.sleep(5)

    @flow
    async def pipeline() -> None:
        await slow()

    with pytest.raises(TaskRunTimeoutError):
        asyncio.run(pipeline())


def test_async_task_raising_timeout_error_itself_is_not_a_run_timeout() -> None:
    @task(timeout_seconds=5)
    async def own_timeout() -> None:
        raise TimeoutError("the service timed out")

    state = asyncio.run(own_timeout(return_state=True))
    assert state.name == "Failed"
    assert type(state.exception) is TimeoutError


def test_sync_flow_timeout(only_flow_run: Callable[..., FlowRunRecord]) -> None:
    @flow(timeout_seconds=LIMIT)
    def slow_flow() -> None:
        busy(5)

    started = time.monotonic()
    with pytest.raises(FlowRunTimeoutError, match="Flow run exceeded timeout of 0.2 second"):
        slow_flow()
    assert time.monotonic() - started < LIMIT + 0.5
    record = only_flow_run()
    assert (record.state_type, record.state_name) == ("FAILED", "TimedOut")
    assert record.state_message == "Flow run exceeded timeout of 0.2 second(s)"


def test_async_flow_timeout(only_flow_run: Callable[..., FlowRunRecord]) -> None:
    @flow(timeout_seconds=LIMIT)
    async def slow_flow() -> None:
        await asyncio.sleep(5)

    state = asyncio.run(slow_flow(return_state=True))
    assert repr(state) == "TimedOut('Flow run exceeded timeout of 0.2 second(s)', type=FAILED)"
    assert isinstance(state.exception, FlowRunTimeoutError)
    with pytest.raises(FlowRunTimeoutError):
        asyncio.run(slow_flow())


def test_timed_out_task_with_retries_retries(clock: FakeClock, store: Store) -> None:
    calls: list[int] = []

    @task(timeout_seconds=LIMIT, retries=1, retry_delay_seconds=3)
    def slow_then_fast() -> str:
        calls.append(1)
        if len(calls) == 1:
            busy(5)
        return "second try"

    assert slow_then_fast() == "second try"
    assert len(calls) == 2
    assert clock.slept == [3.0]
    (record,) = store.list_task_runs()
    assert record.run_count == 2
    assert [s.name for s in store.list_states(record.id)][-3:] == [
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_async_timed_out_task_with_retries_retries(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(timeout_seconds=LIMIT, retries=2)
    async def slow() -> None:
        calls.append(1)
        await asyncio.sleep(5)

    state = asyncio.run(slow(return_state=True))
    assert state.name == "TimedOut"
    assert len(calls) == 3


def test_timeout_retry_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    @task(timeout_seconds=LIMIT, retries=1)
    def slow() -> None:
        busy(5)

    slow(return_state=True)
    err = capsys.readouterr().err
    assert (
        "Task run failed with exception: TaskRunTimeoutError('Task run exceeded timeout of "
        "0.2 second(s)') - Retry 1/1 will start in 0 second(s)"
    ) in err
    assert "- Retries are exhausted" in err


@pytest.mark.parametrize("bad", [0, -1])
def test_timeout_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigurationError, match="timeout_seconds"):
        task(timeout_seconds=bad)(lambda: None)
    with pytest.raises(ConfigurationError, match="timeout_seconds"):
        flow(timeout_seconds=bad)(lambda: None)


def join_timeout_workers() -> None:
    for thread in threading.enumerate():
        if thread.name == "runnel-timeout-worker":
            thread.join(5.0)


def test_task_running_when_its_flow_times_out_ends_in_a_final_state(
    store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @task
    def long_step() -> None:
        busy(0.5)

    @flow(timeout_seconds=LIMIT)
    def pipeline() -> None:
        long_step()

    assert pipeline(return_state=True).name == "TimedOut"
    join_timeout_workers()
    runtime.get_sink().flush()
    (record,) = store.list_task_runs(only_flow_run().id)
    assert record.state_type in {"CRASHED", "CANCELLED", "FAILED"}


def test_task_waiting_for_a_retry_when_its_flow_times_out_ends_in_a_final_state(
    store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    runtime.use_clock(REAL_CLOCK)  # the retry wait must really be in progress at the timeout

    @task(retries=1, retry_delay_seconds=0.4)
    def fails_fast() -> None:
        raise ValueError("boom")

    @flow(timeout_seconds=LIMIT)
    def pipeline() -> None:
        fails_fast()

    assert pipeline(return_state=True).name == "TimedOut"
    join_timeout_workers()
    runtime.get_sink().flush()
    (record,) = store.list_task_runs(only_flow_run().id)
    assert record.state_type in {"CRASHED", "CANCELLED", "FAILED"}, record.state_name
