"""Tasks and flows end to end: decorators, sync and async, values, states, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from runnel import Flow, State, Task, flow, task
from runnel.context import current_flow_run, current_task_run
from runnel.store import Store
from runnel.store.base import FlowRunRecord


# -- decorators ---------------------------------------------------------------------------
def test_bare_and_called_decorators_make_tasks_and_flows() -> None:
    @task
    def bare_task(x: int) -> int:
        """Doubles."""
        return 2 * x

    @task(name="custom", retries=1)
    def option_task(x: int) -> int:
        return x + 1

    @flow
    def bare_flow() -> int:
        return bare_task(1) + option_task(1)

    @flow(name="named-flow", retries=0)
    def option_flow() -> int:
        return bare_task(5)

    assert isinstance(bare_task, Task) and isinstance(option_task, Task)
    assert isinstance(bare_flow, Flow) and isinstance(option_flow, Flow)
    assert bare_task.name == "bare_task" and option_task.name == "custom"
    assert bare_flow.name == "bare-flow" and option_flow.name == "named-flow"
    assert bare_task.__doc__ == "Doubles." and bare_task.__name__ == "bare_task"
    assert bare_flow() == 4
    assert option_flow() == 10


def test_flow_name_is_the_function_name_with_dashes() -> None:
    @flow
    def my_data_flow() -> None:
        pass

    assert my_data_flow.name == "my-data-flow"


def test_task_and_flow_keep_the_callers_arguments() -> None:
    @task
    def join(*parts: str, sep: str = "-", **extra: str) -> str:
        return sep.join(parts) + "".join(f"{k}={v}" for k, v in sorted(extra.items()))

    @flow
    def build(prefix: str, *, upper: bool = False) -> str:
        text = join(prefix, "b", sep="+", z="1")
        return text.upper() if upper else text

    assert build("a") == "a+bz=1"
    assert build("a", upper=True) == "A+BZ=1"


def test_return_values_are_passed_through_unchanged() -> None:
    payload = {"rows": [1, 2, 3]}

    @task
    def give() -> dict[str, list[int]]:
        return payload

    @task
    def nothing() -> None:
        return None

    @flow
    def pipeline() -> tuple[dict[str, list[int]], None]:
        return give(), nothing()

    got, none = pipeline()
    assert got is payload
    assert none is None


def test_return_state() -> None:
    @task
    def one() -> int:
        return 1

    @flow
    def pipeline() -> State:
        state = one(return_state=True)
        assert isinstance(state, State)
        return state

    state = pipeline()
    assert state.is_completed() and state.result() == 1
    flow_state = pipeline(return_state=True)
    assert flow_state.is_completed()
    assert flow_state.result().result() == 1


def test_run_context_is_visible_inside_runs_only() -> None:
    seen: dict[str, object] = {}

    @task
    def inside_task() -> None:
        seen["task_run"] = current_task_run()
        seen["task_flow_run"] = current_flow_run()

    @flow
    def inside_flow() -> None:
        seen["flow_run"] = current_flow_run()
        seen["flow_task_run"] = current_task_run()
        inside_task()

    inside_flow()
    assert seen["flow_task_run"] is None
    assert seen["task_flow_run"] is seen["flow_run"]
    assert seen["task_run"].flow_run_id == seen["flow_run"].id  # type: ignore[union-attr]
    assert current_flow_run() is None and current_task_run() is None


# -- tasks outside flows ------------------------------------------------------------------
def test_task_outside_any_flow_runs_and_is_recorded(store: Store) -> None:
    @task
    def standalone(x: int) -> int:
        return x * 3

    assert standalone(4) == 12
    runs = store.list_task_runs()
    assert len(runs) == 1
    record = runs[0]
    assert record.flow_run_id is None
    assert record.task_name == "standalone"
    assert record.state_type == "COMPLETED"
    assert record.run_count == 1
    assert [s.name for s in store.list_states(record.id)][-1] == "Completed"
    assert store.list_flow_runs() == []


def test_failing_task_outside_a_flow_raises_and_is_recorded_failed(store: Store) -> None:
    @task
    def broken() -> None:
        raise LookupError("nope")

    with pytest.raises(LookupError, match="nope"):
        broken()
    (record,) = store.list_task_runs()
    assert record.flow_run_id is None
    assert record.state_type == "FAILED"
    assert record.state_message == "Task run encountered an exception LookupError: nope"


# -- failures -----------------------------------------------------------------------------
def test_failing_task_raises_its_original_exception_in_the_flow(
    store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    raised: list[BaseException] = []
    caught: list[BaseException] = []

    @task
    def explode() -> None:
        error = ValueError("boom")
        raised.append(error)
        raise error

    @flow
    def pipeline() -> None:
        try:
            explode()
        except ValueError as error:
            caught.append(error)
            raise

    with pytest.raises(ValueError, match="boom") as outer:
        pipeline()
    assert caught[0] is raised[0]
    assert outer.value is raised[0]
    record = only_flow_run()
    assert record.state_type == "FAILED"
    assert record.state_message == "Flow run encountered an exception ValueError: boom"
    (task_run,) = store.list_task_runs(record.id)
    assert task_run.state_type == "FAILED"


def test_flow_can_handle_a_failed_task_and_complete(
    only_flow_run: Callable[..., FlowRunRecord],
) -> None:
    @task
    def explode() -> None:
        raise ValueError("boom")

    @flow
    def pipeline() -> str:
        state = explode(return_state=True)
        assert state.is_failed()
        return "recovered"

    assert pipeline() == "recovered"
    assert only_flow_run().state_type == "COMPLETED"


def test_failed_flow_with_return_state_does_not_raise() -> None:
    @flow
    def pipeline() -> None:
        raise RuntimeError("bad")

    state = pipeline(return_state=True)
    assert repr(state) == "Failed('Flow run encountered an exception RuntimeError: bad')"
    assert isinstance(state.result(raise_on_failure=False), RuntimeError)


# -- async --------------------------------------------------------------------------------
def test_async_task_in_async_flow() -> None:
    @task
    async def double(x: int) -> int:
        await asyncio.sleep(0)
        return 2 * x

    @flow
    async def pipeline(n: int) -> int:
        return await double(n) + await double(1)

    assert asyncio.run(pipeline(3)) == 8


def test_async_tasks_gathered_in_an_async_flow_run_concurrently(store: Store) -> None:
    @task
    async def nap(i: int) -> int:
        await asyncio.sleep(0.2)  # real time: the point is that the naps overlap
        return i

    @flow
    async def pipeline() -> list[int]:
        return list(await asyncio.gather(*(nap(i) for i in range(5))))

    started = time.monotonic()
    assert asyncio.run(pipeline()) == [0, 1, 2, 3, 4]
    elapsed = time.monotonic() - started
    assert elapsed < 0.7, f"5 naps of 0.2 s took {elapsed:.2f} s: they did not overlap"
    (flow_run,) = store.list_flow_runs()
    task_runs = store.list_task_runs(flow_run.id)
    assert len(task_runs) == 5
    assert len({r.name for r in task_runs}) == 5
    assert all(r.state_type == "COMPLETED" for r in task_runs)


def test_sync_task_in_async_flow() -> None:
    @task
    def inc(x: int) -> int:
        return x + 1

    @flow
    async def pipeline() -> int:
        return inc(1)

    assert asyncio.run(pipeline()) == 2


def test_async_task_outside_a_flow(store: Store) -> None:
    @task
    async def hello() -> str:
        return "hi"

    assert asyncio.run(hello()) == "hi"
    (record,) = store.list_task_runs()
    assert record.flow_run_id is None and record.state_type == "COMPLETED"


def test_async_failure_raises_the_original_exception() -> None:
    raised: list[BaseException] = []

    @task
    async def explode() -> None:
        error = ValueError("async boom")
        raised.append(error)
        raise error

    @flow
    async def pipeline() -> None:
        await explode()

    with pytest.raises(ValueError) as caught:
        asyncio.run(pipeline())
    assert caught.value is raised[0]


def test_async_return_state() -> None:
    @task
    async def explode() -> None:
        raise ValueError("boom")

    @flow
    async def pipeline() -> list[State]:
        return [await explode(return_state=True)]  # a bare failed state would fail the flow

    state = asyncio.run(pipeline())[0]
    assert repr(state) == "Failed('Task run encountered an exception ValueError: boom')"


# -- subflows -----------------------------------------------------------------------------
def test_flow_called_inside_a_flow_is_its_own_flow_run(store: Store) -> None:
    @task
    def leaf() -> int:
        return 1

    @flow
    def child() -> int:
        return leaf()

    @flow
    def parent() -> int:
        return child() + leaf()

    assert parent() == 2
    runs = {r.flow_name: r for r in store.list_flow_runs()}
    assert set(runs) == {"parent", "child"}
    assert all(r.state_type == "COMPLETED" for r in runs.values())
    assert len(store.list_task_runs(runs["child"].id)) == 1
    assert len(store.list_task_runs(runs["parent"].id)) == 1


# -- with_options -------------------------------------------------------------------------
def test_with_options_copies_without_changing_the_original(clock: object) -> None:
    attempts: list[int] = []

    @task
    def flaky() -> None:
        attempts.append(1)
        raise ValueError("again")

    patient = flaky.with_options(retries=2, name="patient")
    assert patient.name == "patient" and flaky.name == "flaky"
    assert patient(return_state=True).is_failed()
    assert len(attempts) == 3
    attempts.clear()
    assert flaky(return_state=True).is_failed()
    assert len(attempts) == 1


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this exception cannot be shown")


def test_exception_that_cannot_be_printed_still_fails_the_run(store: Store) -> None:
    @task
    def explode() -> None:
        raise UnprintableError()

    state = explode(return_state=True)
    assert state.is_failed()
    assert isinstance(state.exception, UnprintableError)
    (record,) = store.list_task_runs()
    assert record.state_type == "FAILED"


def test_flow_returning_a_failed_state_fails() -> None:
    @task
    def explode() -> None:
        raise ValueError("boom")

    @flow
    def pipeline() -> State:
        return explode(return_state=True)

    state = pipeline(return_state=True)
    assert state.is_failed()
    assert (
        state.message
        == "Flow run returned Failed('Task run encountered an exception ValueError: boom')"
    )
    with pytest.raises(ValueError, match="boom"):
        pipeline()


def test_a_direct_call_resolves_futures_nested_in_its_arguments() -> None:
    @task
    def one() -> int:
        return 1

    @task
    def total(values: list[int], extra: dict[str, int]) -> int:
        return sum(values) + sum(extra.values())

    @flow
    def pipeline() -> int:
        first = one.submit()
        return total([first, 2], {"x": one.submit()})

    assert pipeline() == 4


def test_a_run_name_template_that_cannot_be_filled_is_a_clear_error() -> None:
    from runnel.exceptions import ConfigurationError

    @flow(flow_run_name="report-{missing}")
    def report(day: str) -> str:
        return day

    with pytest.raises(ConfigurationError, match="flow_run_name='report-{missing}' of 'report'"):
        report("mon")
