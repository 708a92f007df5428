"""Retries of real task and flow runs, on the FakeClock: attempts, exact waits, vetoes, history."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from runnel import flow, task
from runnel.clock import FakeClock
from runnel.retries import exponential_backoff
from runnel.runs import TaskRun
from runnel.states import State
from runnel.store import Store
from runnel.store.base import FlowRunRecord
from runnel.tasks import Task


def failing_then(succeed_on: int, error: Callable[[], BaseException] = lambda: ValueError("boom")):
    """A function that fails until its ``succeed_on``-th call; ``calls`` counts them."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(len(calls) + 1)
        if len(calls) < succeed_on:
            raise error()
        return f"ok after {len(calls)}"

    return fn, calls


def http_503(retry_after: str) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://x")
    response = httpx.Response(503, headers={"Retry-After": retry_after}, request=request)
    return httpx.HTTPStatusError("503 Service Unavailable", request=request, response=response)


# -- attempts and waits -------------------------------------------------------------------
def test_task_retries_until_it_succeeds(clock: FakeClock) -> None:
    fn, calls = failing_then(3)
    flaky = task(retries=3, retry_delay_seconds=0.5)(fn)
    assert flaky() == "ok after 3"
    assert calls == [1, 2, 3]
    assert clock.slept == [0.5, 0.5]


def test_task_gives_up_after_its_retries(clock: FakeClock) -> None:
    fn, calls = failing_then(100)
    flaky = task(retries=2, retry_delay_seconds=1)(fn)
    with pytest.raises(ValueError, match="boom"):
        flaky()
    assert len(calls) == 3
    assert clock.slept == [1.0, 1.0]


def test_no_retries_by_default(clock: FakeClock) -> None:
    fn, calls = failing_then(2)
    with pytest.raises(ValueError):
        task(fn)()
    assert calls == [1]
    assert clock.slept == []


def test_zero_delay_does_not_sleep(clock: FakeClock) -> None:
    fn, calls = failing_then(3)
    assert task(retries=2)(fn)() == "ok after 3"
    assert clock.slept == []


def test_list_of_delays(clock: FakeClock) -> None:
    fn, _ = failing_then(100)
    task(retries=3, retry_delay_seconds=[1, 10, 100])(fn)(return_state=True)
    assert clock.slept == [1.0, 10.0, 100.0]


def test_short_list_repeats_its_last_delay(clock: FakeClock) -> None:
    fn, _ = failing_then(100)
    task(retries=4, retry_delay_seconds=[2, 3])(fn)(return_state=True)
    assert clock.slept == [2.0, 3.0, 3.0, 3.0]


def test_callable_delays(clock: FakeClock) -> None:
    fn, _ = failing_then(100)
    task(retries=3, retry_delay_seconds=lambda n: [n * 1.0, n * 2.0, n * 3.0])(fn)(
        return_state=True
    )
    assert clock.slept == [3.0, 6.0, 9.0]


def test_exponential_backoff_delays(clock: FakeClock) -> None:
    fn, calls = failing_then(100)
    task(retries=3, retry_delay_seconds=exponential_backoff(2))(fn)(return_state=True)
    assert len(calls) == 4
    assert clock.slept == [2.0, 4.0, 8.0]


def test_jitter_keeps_delays_within_bounds(clock: FakeClock) -> None:
    fn, _ = failing_then(100)
    task(retries=20, retry_delay_seconds=10, retry_jitter_factor=0.5)(fn)(return_state=True)
    assert len(clock.slept) == 20
    assert all(10.0 <= d <= 15.0 for d in clock.slept)
    assert len(set(clock.slept)) > 1


def test_fake_clock_time_moves_by_the_waits(clock: FakeClock) -> None:
    start = clock.now()
    fn, _ = failing_then(100)
    task(retries=2, retry_delay_seconds=[5, 7])(fn)(return_state=True)
    assert clock.now() == start + 12


def test_retries_inside_a_flow(clock: FakeClock) -> None:
    fn, calls = failing_then(2)
    flaky = task(retries=1, retry_delay_seconds=3)(fn)

    @flow
    def pipeline() -> str:
        return flaky()

    assert pipeline() == "ok after 2"
    assert clock.slept == [3.0]


def test_async_task_retries_on_the_fake_clock(clock: FakeClock) -> None:
    calls: list[int] = []

    @task(retries=2, retry_delay_seconds=[4, 8])
    async def flaky() -> int:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("boom")
        return len(calls)

    @flow
    async def pipeline() -> int:
        return await flaky()

    assert asyncio.run(pipeline()) == 3
    assert clock.slept == [4.0, 8.0]


# -- retry_condition_fn -------------------------------------------------------------------
def test_retry_condition_fn_gets_task_task_run_and_state(clock: FakeClock) -> None:
    seen: list[tuple[Any, Any, State, int]] = []

    def condition(task_: Any, task_run: Any, state: State) -> bool:
        seen.append((task_, task_run, state, task_run.run_count))
        return True

    fn, calls = failing_then(3)
    flaky = task(retries=5, retry_condition_fn=condition)(fn)
    assert flaky() == "ok after 3"
    assert len(seen) == 2
    for task_, task_run, state, _ in seen:
        assert task_ is flaky
        assert isinstance(task_run, TaskRun) and task_run.task_name == "fn"
        assert state.is_failed() and isinstance(state.exception, ValueError)
    assert [count for *_, count in seen] == [1, 2]


def test_retry_condition_fn_can_veto(clock: FakeClock) -> None:
    def only_connection_errors(task_: Any, task_run: Any, state: State) -> bool:
        return isinstance(state.exception, ConnectionError)

    fn, calls = failing_then(100)
    state = task(retries=3, retry_delay_seconds=1, retry_condition_fn=only_connection_errors)(fn)(
        return_state=True
    )
    assert state.is_failed()
    assert calls == [1]
    assert clock.slept == []

    fn, calls = failing_then(3, error=lambda: ConnectionError("reset"))
    flaky = task(retries=3, retry_delay_seconds=1, retry_condition_fn=only_connection_errors)(fn)
    assert flaky() == "ok after 3"
    assert clock.slept == [1.0, 1.0]


def test_exception_in_retry_condition_fn_means_no_retry(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(task_: Any, task_run: Any, state: State) -> bool:
        raise RuntimeError("condition bug")

    fn, calls = failing_then(100)
    state = task(retries=3, retry_condition_fn=broken)(fn)(return_state=True)
    assert state.is_failed()
    assert isinstance(state.exception, ValueError)  # the task's error, not the condition's
    assert calls == [1]
    assert "retry_condition_fn raised RuntimeError('condition bug'); not retrying" in (
        capsys.readouterr().err
    )


def test_async_retry_condition_fn_is_awaited(clock: FakeClock) -> None:
    asked: list[int] = []

    async def condition(task_: Any, task_run: Any, state: State) -> bool:
        await asyncio.sleep(0)
        asked.append(task_run.run_count)
        return task_run.run_count < 2

    calls: list[int] = []

    @task(retries=5, retry_condition_fn=condition)
    async def flaky() -> None:
        calls.append(1)
        raise ValueError("boom")

    @flow
    async def pipeline() -> list[State]:
        return [await flaky(return_state=True)]  # a bare failed state would fail the flow

    assert asyncio.run(pipeline())[0].is_failed()
    assert asked == [1, 2]
    assert len(calls) == 2


# -- Retry-After --------------------------------------------------------------------------
def test_retry_after_raises_the_delay(clock: FakeClock) -> None:
    fn, calls = failing_then(2, error=lambda: http_503("2"))
    assert task(retries=2, retry_delay_seconds=0.5)(fn)() == "ok after 2"
    assert clock.slept == [2.0]


def test_retry_after_does_not_shorten_a_longer_delay(clock: FakeClock) -> None:
    fn, _ = failing_then(2, error=lambda: http_503("2"))
    task(retries=1, retry_delay_seconds=30)(fn)()
    assert clock.slept == [30.0]


def test_retry_after_http_date_is_read_against_the_clock(clock: FakeClock) -> None:
    fn, _ = failing_then(2, error=lambda: http_503(formatdate(clock.now() + 9, usegmt=True)))
    task(retries=1)(fn)()
    assert clock.slept == [9.0]


def test_retry_after_is_capped_by_default_at_300_seconds(clock: FakeClock) -> None:
    fn, _ = failing_then(2, error=lambda: http_503("86400"))
    task(retries=1)(fn)()
    assert clock.slept == [300.0]


def test_retry_after_cap_comes_from_the_settings(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNEL_RETRY_AFTER_MAX_SECONDS", "5")
    fn, _ = failing_then(2, error=lambda: http_503("60"))
    task(retries=1)(fn)()
    assert clock.slept == [5.0]


def test_retry_after_does_not_give_retries_to_a_task_without_them(clock: FakeClock) -> None:
    fn, calls = failing_then(2, error=lambda: http_503("1"))
    with pytest.raises(httpx.HTTPStatusError):
        task(fn)()
    assert calls == [1]
    assert clock.slept == []


# -- flow retries -------------------------------------------------------------------------
def test_flow_retries_rerun_the_flow_body(
    clock: FakeClock, store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    bodies: list[int] = []

    @task
    def step(i: int) -> int:
        return i

    @flow(retries=2, retry_delay_seconds=[1, 5])
    def pipeline() -> int:
        bodies.append(1)
        step(len(bodies))
        if len(bodies) < 3:
            raise ValueError("flow boom")
        return len(bodies)

    assert pipeline() == 3
    assert clock.slept == [1.0, 5.0]
    record = only_flow_run()
    assert record.state_type == "COMPLETED"
    assert record.run_count == 3
    names = [s.name for s in store.list_states(record.id)]
    assert names == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    task_runs = store.list_task_runs(record.id)
    assert len(task_runs) == 3  # each attempt of the body ran the task again
    assert len({r.name for r in task_runs}) == 3


def test_flow_retries_exhausted(
    clock: FakeClock, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    bodies: list[int] = []

    @flow(retries=1)
    def pipeline() -> None:
        bodies.append(1)
        raise ValueError("always")

    with pytest.raises(ValueError, match="always"):
        pipeline()
    assert len(bodies) == 2
    record = only_flow_run()
    assert record.state_type == "FAILED" and record.run_count == 2


def test_async_flow_retries(clock: FakeClock) -> None:
    bodies: list[int] = []

    @flow(retries=1, retry_delay_seconds=2)
    async def pipeline() -> int:
        bodies.append(1)
        if len(bodies) < 2:
            raise ValueError("once")
        return 7

    assert asyncio.run(pipeline()) == 7
    assert clock.slept == [2.0]


# -- history of a retried task ------------------------------------------------------------
def test_retried_task_history_in_the_store(
    clock: FakeClock, store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    fn, _ = failing_then(3)
    flaky = task(retries=3)(fn)

    @flow
    def pipeline() -> str:
        return flaky()

    pipeline()
    (record,) = store.list_task_runs(only_flow_run().id)
    assert record.run_count == 3
    assert record.state_type == "COMPLETED"
    assert record.start_time is not None and record.end_time is not None
    assert record.start_time <= record.end_time
    states = store.list_states(record.id)
    assert [(s.type, s.name) for s in states][-5:] == [
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Retrying"),
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Retrying"),
        ("COMPLETED", "Completed"),
    ]
    seqs = [s.seq for s in states]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    timestamps = [s.timestamp for s in states]
    assert timestamps == sorted(timestamps)


def test_retried_task_history_starts_pending(
    clock: FakeClock, store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    fn, _ = failing_then(3)
    flaky = task(retries=3)(fn)

    @flow
    def pipeline() -> str:
        return flaky()

    pipeline()
    (record,) = store.list_task_runs(only_flow_run().id)
    assert [s.name for s in store.list_states(record.id)] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert [s.seq for s in store.list_states(record.id)] == [1, 2, 3, 4, 5, 6, 7]


def test_failed_retried_task_history(clock: FakeClock, store: Store) -> None:
    fn, _ = failing_then(100)
    task(retries=2)(fn)(return_state=True)
    (record,) = store.list_task_runs()
    assert record.run_count == 3
    assert record.state_type == "FAILED"
    names = [s.name for s in store.list_states(record.id)]
    assert names[-1] == "Failed"
    assert names.count("AwaitingRetry") == 2 and names.count("Retrying") == 2


def test_run_count_without_retries_is_one(clock: FakeClock, store: Store) -> None:
    @task
    def fine() -> int:
        return 1

    fine()
    (record,) = store.list_task_runs()
    assert record.run_count == 1


def test_task_definition_is_not_shared_between_calls(clock: FakeClock) -> None:
    fn, calls = failing_then(2)
    flaky: Task[[], str] = task(retries=1)(fn)
    assert flaky() == "ok after 2"
    assert flaky() == "ok after 3"  # the second call succeeds at once: attempts are per call
    assert clock.slept == []
