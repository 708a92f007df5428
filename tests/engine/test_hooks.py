"""State hooks of tasks and flows: who is called, with what, and what a failing hook changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from runnel import Flow, Task, flow, task
from runnel.exceptions import ConfigurationError
from runnel.runs import FlowRun, TaskRun
from runnel.states import State
from runnel.store import Store
from runnel.store.base import FlowRunRecord
from runnel.store.recorder import Recorder

Calls = list[tuple[str, Any, Any, State]]


def recorder_hook(calls: Calls, label: str) -> Callable[[Any, Any, State], None]:
    def hook(owner: Any, run: Any, state: State) -> None:
        calls.append((label, owner, run, state))

    return hook


# -- tasks --------------------------------------------------------------------------------
def test_task_on_completion_gets_task_task_run_and_state() -> None:
    calls: Calls = []

    @task(on_completion=[recorder_hook(calls, "done")], on_failure=[recorder_hook(calls, "fail")])
    def fine() -> int:
        return 5

    assert fine() == 5
    ((label, owner, run, state),) = calls
    assert label == "done"
    assert owner is fine and isinstance(owner, Task)
    assert isinstance(run, TaskRun) and run.task_name == "fine"
    assert run.state is state
    assert state.is_completed() and state.result() == 5


def test_task_on_failure_gets_the_failed_state() -> None:
    calls: Calls = []

    @task(on_completion=[recorder_hook(calls, "done")], on_failure=[recorder_hook(calls, "fail")])
    def broken() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError):
        broken()
    ((label, owner, run, state),) = calls
    assert label == "fail"
    assert owner is broken
    assert isinstance(run, TaskRun)
    assert repr(state) == "Failed('Task run encountered an exception ValueError: boom')"


def test_task_on_failure_runs_once_after_the_retries(clock: object) -> None:
    calls: Calls = []

    @task(retries=2, on_failure=[recorder_hook(calls, "fail")])
    def broken() -> None:
        raise ValueError("boom")

    broken(return_state=True)
    assert [c[0] for c in calls] == ["fail"]
    assert calls[0][2].run_count == 3


def test_hooks_accept_one_callable_or_several_in_order() -> None:
    calls: Calls = []

    @task(on_completion=recorder_hook(calls, "only"))
    def one() -> None:
        pass

    @task(on_completion=[recorder_hook(calls, "a"), recorder_hook(calls, "b")])
    def two() -> None:
        pass

    one()
    two()
    assert [c[0] for c in calls] == ["only", "a", "b"]


def test_hook_that_is_not_callable_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="on_completion"):
        task(on_completion=["not a function"])(lambda: None)
    with pytest.raises(ConfigurationError, match="on_failure"):
        flow(on_failure=[42])(lambda: None)


# -- flows --------------------------------------------------------------------------------
def test_flow_on_completion_gets_flow_flow_run_and_state() -> None:
    calls: Calls = []

    @flow(on_completion=[recorder_hook(calls, "done")], on_failure=[recorder_hook(calls, "fail")])
    def pipeline() -> str:
        return "ok"

    assert pipeline() == "ok"
    ((label, owner, run, state),) = calls
    assert label == "done"
    assert owner is pipeline and isinstance(owner, Flow)
    assert isinstance(run, FlowRun) and run.flow_name == "pipeline"
    assert state.is_completed() and state.result() == "ok"


def test_flow_on_failure() -> None:
    calls: Calls = []

    @flow(on_completion=[recorder_hook(calls, "done")], on_failure=[recorder_hook(calls, "fail")])
    def pipeline() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        pipeline()
    ((label, owner, run, state),) = calls
    assert label == "fail" and owner is pipeline and isinstance(run, FlowRun)
    assert state.is_failed() and isinstance(state.exception, KeyError)


def test_on_crashed_is_called_and_keyboard_interrupt_propagates(
    store: Store, lazy_recorder: Recorder, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    calls: Calls = []

    @flow(
        on_crashed=[recorder_hook(calls, "crashed")],
        on_failure=[recorder_hook(calls, "fail")],
        on_completion=[recorder_hook(calls, "done")],
    )
    def pipeline() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline()
    ((label, owner, run, state),) = calls
    assert label == "crashed" and owner is pipeline and isinstance(run, FlowRun)
    assert repr(state) == "Crashed('Flow run was interrupted by KeyboardInterrupt')"
    lazy_recorder.flush()
    record = only_flow_run()
    assert (record.state_type, record.state_name) == ("CRASHED", "Crashed")
    assert record.end_time is not None
    assert [s.type for s in store.list_states(record.id)][-1] == "CRASHED"


def test_crashed_flow_run_is_in_the_store_when_the_interrupt_arrives(
    lazy_recorder: Recorder, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @flow
    def pipeline() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline()
    assert only_flow_run().state_type == "CRASHED"


def test_keyboard_interrupt_in_a_task_crashes_task_and_flow(
    store: Store, lazy_recorder: Recorder, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    failures: Calls = []

    @task(on_failure=[recorder_hook(failures, "task-fail")], retries=3)
    def interrupted() -> None:
        raise KeyboardInterrupt

    @flow
    def pipeline() -> None:
        interrupted()

    with pytest.raises(KeyboardInterrupt):
        pipeline()
    assert failures == []  # a crash is not a failure, and is never retried
    lazy_recorder.flush()
    record = only_flow_run()
    assert record.state_type == "CRASHED"
    (task_run,) = store.list_task_runs(record.id)
    assert task_run.state_type == "CRASHED" and task_run.run_count == 1


def test_on_crashed_is_not_called_on_failure() -> None:
    calls: Calls = []

    @flow(on_crashed=[recorder_hook(calls, "crashed")])
    def pipeline() -> None:
        raise ValueError("plain failure")

    pipeline(return_state=True)
    assert calls == []


# -- failing hooks ------------------------------------------------------------------------
def test_exception_in_a_task_hook_is_logged_and_changes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    after: Calls = []

    def bad_hook(owner: Any, run: Any, state: State) -> None:
        raise RuntimeError("hook bug")

    @task(on_completion=[bad_hook, recorder_hook(after, "next")])
    def fine() -> int:
        return 3

    assert fine() == 3
    assert [c[0] for c in after] == ["next"]  # the hooks after a failing one still run
    err = capsys.readouterr().err
    assert "Hook 'bad_hook' failed and was ignored: RuntimeError('hook bug')" in err
    assert "RuntimeError: hook bug" in err  # with its traceback


def test_exception_in_a_flow_failure_hook_keeps_the_original_error(
    capsys: pytest.CaptureFixture[str], only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    def bad_hook(owner: Any, run: Any, state: State) -> None:
        raise RuntimeError("hook bug")

    @flow(on_failure=[bad_hook])
    def pipeline() -> None:
        raise ValueError("the real problem")

    with pytest.raises(ValueError, match="the real problem"):
        pipeline()
    assert only_flow_run().state_type == "FAILED"
    assert "Hook 'bad_hook' failed and was ignored" in capsys.readouterr().err


def test_exception_in_a_flow_completion_hook_keeps_it_completed(
    only_flow_run: Callable[..., FlowRunRecord],
) -> None:
    def bad_hook(owner: Any, run: Any, state: State) -> None:
        raise RuntimeError("hook bug")

    @flow(on_completion=[bad_hook])
    def pipeline() -> int:
        return 1

    assert pipeline() == 1
    assert only_flow_run().state_type == "COMPLETED"


def test_hook_failure_is_stored_with_the_run_logs(
    store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    def bad_hook(owner: Any, run: Any, state: State) -> None:
        raise RuntimeError("hook bug")

    @flow(on_completion=[bad_hook])
    def pipeline() -> None:
        pass

    pipeline()
    messages = [log.message for log in store.list_logs(only_flow_run().id)]
    assert any(
        m.startswith("Hook 'bad_hook' failed and was ignored") and "RuntimeError: hook bug" in m
        for m in messages
    ), messages


# -- async hooks --------------------------------------------------------------------------
def test_async_hooks_in_async_flows_are_awaited() -> None:
    events: list[str] = []

    async def task_hook(owner: Any, run: Any, state: State) -> None:
        await asyncio.sleep(0)
        events.append(f"task {state.name}")

    async def flow_hook(owner: Any, run: Any, state: State) -> None:
        await asyncio.sleep(0)
        events.append(f"flow {state.name}")

    @task(on_completion=[task_hook], on_failure=[task_hook])
    async def step(fail: bool) -> None:
        if fail:
            raise ValueError("x")

    @flow(on_completion=[flow_hook])
    async def pipeline() -> None:
        await step(False)
        await step(True, return_state=True)

    asyncio.run(pipeline())
    assert events == ["task Completed", "task Failed", "flow Completed"]


def test_async_hook_in_a_sync_flow_is_awaited() -> None:
    events: list[str] = []

    async def hook(owner: Any, run: Any, state: State) -> None:
        await asyncio.sleep(0)
        events.append(state.name)

    @task(on_completion=[hook])
    def step() -> None:
        pass

    @flow(on_completion=[hook])
    def pipeline() -> None:
        step()

    pipeline()
    assert events == ["Completed", "Completed"]


def test_async_hook_of_a_sync_task_in_an_async_flow_is_awaited() -> None:
    events: list[str] = []

    async def hook(owner: Any, run: Any, state: State) -> None:
        events.append(state.name)

    @task(on_completion=[hook])
    def step() -> None:
        pass

    @flow
    async def pipeline() -> None:
        step()

    asyncio.run(pipeline())
    assert events == ["Completed"]


def test_async_hook_failure_is_logged_and_ignored(capsys: pytest.CaptureFixture[str]) -> None:
    async def bad_hook(owner: Any, run: Any, state: State) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async hook bug")

    @flow(on_completion=[bad_hook])
    async def pipeline() -> int:
        return 9

    assert asyncio.run(pipeline()) == 9
    assert "Hook 'bad_hook' failed and was ignored: RuntimeError('async hook bug')" in (
        capsys.readouterr().err
    )
