"""``RunnelFuture`` itself: many waiters, callbacks that fail, and one final state only."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from runnel import flow, task
from runnel.futures import RunnelFuture, as_completed, wait
from runnel.runs import TaskRun
from runnel.states import Completed

PATIENCE = 30.0


@task
def slow_echo(value: str, seconds: float) -> str:
    time.sleep(seconds)
    return value


def _bare_future() -> RunnelFuture[str]:
    return RunnelFuture(TaskRun("echo-abc", "echo", "tests.echo", None))


def test_every_thread_waiting_on_one_future_gets_its_result() -> None:
    @flow
    def shared() -> list[str]:
        future = slow_echo.submit("value", 0.3)
        seen: list[str] = []
        waiters = [
            threading.Thread(target=lambda: seen.append(future.result(timeout=PATIENCE)))
            for _ in range(8)
        ]
        for waiter in waiters:
            waiter.start()
        for waiter in waiters:
            waiter.join(PATIENCE)
        return seen

    assert shared() == ["value"] * 8


def test_a_failing_done_callback_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    future = _bare_future()
    called: list[str] = []

    def broken(_: RunnelFuture[str]) -> None:
        raise ValueError("callback bug")

    future.add_done_callback(broken)
    future.add_done_callback(lambda f: called.append(f.result()))
    with caplog.at_level(logging.ERROR, logger="runnel.futures"):
        future.set_state(Completed("done"))
    assert called == ["done"]
    assert "A done callback of Task run 'echo-abc' raised" in caplog.text
    assert "callback bug" in caplog.text


def test_a_future_ends_once() -> None:
    future = _bare_future()
    future.set_state(Completed("first"))
    with pytest.raises(RuntimeError, match="already ended in Completed"):
        future.set_state(Completed("second"))
    assert future.result() == "first"


def test_waiting_with_no_time_left_does_not_block() -> None:
    future = _bare_future()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not finish within 0 second"):
        future.result(timeout=0)
    done, not_done = wait([future], timeout=0)
    with pytest.raises(TimeoutError):
        next(as_completed([future], timeout=0))
    assert time.monotonic() - started < 1.0
    assert done == set() and not_done == {future}
    future.set_state(Completed("late"))
    assert future.result(timeout=0) == "late"
    assert list(as_completed([future], timeout=0)) == [future]


def test_a_future_finished_from_another_thread_wakes_its_awaiting_loop() -> None:
    future = _bare_future()

    async def main() -> str:
        finisher = threading.Timer(0.1, future.set_state, (Completed("from a thread"),))
        finisher.start()
        try:
            return await asyncio.wait_for(future, PATIENCE)
        finally:
            finisher.join()

    assert asyncio.run(main()) == "from a thread"


def test_callbacks_added_while_futures_finish_are_each_called_once() -> None:
    """One thread finishes futures while another adds callbacks to them: every callback runs
    exactly once, whether it came before the end (run by the finisher) or after (at once)."""
    futures = [_bare_future() for _ in range(2000)]
    calls: list[int] = []
    go = threading.Barrier(2)

    def finish() -> None:
        go.wait(PATIENCE)
        for future in futures:
            future.set_state(Completed("done"))

    finisher = threading.Thread(target=finish)
    finisher.start()
    go.wait(PATIENCE)
    for index, future in enumerate(futures):
        future.add_done_callback(lambda _, index=index: calls.append(index))
    finisher.join(PATIENCE)
    assert sorted(calls) == list(range(len(futures)))
    # A finished future keeps no locks (fewer objects for the garbage collector to walk),
    # and still answers.
    assert all(f._gate is None and f._lock is None for f in futures)
    assert all(f.result(timeout=0) == "done" and f.done() for f in futures)
    futures[0].add_done_callback(lambda f: calls.append(-1))
    assert calls[-1] == -1
