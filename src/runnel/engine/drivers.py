"""Thin drivers that carry out the lifecycle's instructions, one sync and one async."""

from __future__ import annotations

import contextvars
import inspect
import threading
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from runnel.clock import Clock
from runnel.engine.steps import CallHook, Instruction, Outcome, RunAbandoned, Sleep
from runnel.exceptions import RunTimeoutError
from runnel.states import State

Steps = Generator[Instruction, Outcome | None, State]


def drive(
    steps: Steps,
    call: Callable[[], Any],
    timeout: float | None,
    clock: Clock,
    timeout_error: type[RunTimeoutError],
) -> State:
    """Run the lifecycle in this thread; returns the final state."""
    sent: Outcome | None = None
    try:
        while True:
            instruction = steps.send(sent)
            if isinstance(instruction, Sleep):
                try:
                    clock.sleep(instruction.seconds)
                    sent = None
                except BaseException as error:  # interrupted while waiting for a retry
                    sent = Outcome(error=error)
            elif isinstance(instruction, CallHook):
                sent = _call_hook(instruction)
                if sent.error is None and inspect.isawaitable(sent.value):
                    try:
                        sent = Outcome(run_coroutine_sync(sent.value))
                    except Exception as error:
                        sent = Outcome(error=error)
            elif timeout is None:
                try:
                    sent = Outcome(call())
                except BaseException as error:
                    sent = Outcome(error=error)
            else:
                sent = _call_with_timeout(call, timeout, timeout_error)
    except StopIteration as stop:
        return _reraise_interrupts(stop.value)


async def adrive(
    steps: Steps,
    call: Callable[[], Awaitable[Any]],
    timeout: float | None,
    clock: Clock,
    timeout_error: type[RunTimeoutError],
) -> State:
    """Run the lifecycle on the running event loop; returns the final state."""
    import asyncio

    sent: Outcome | None = None
    try:
        while True:
            instruction = steps.send(sent)
            if isinstance(instruction, Sleep):
                try:
                    await clock.asleep(instruction.seconds)
                    sent = None
                except BaseException as error:  # cancelled while waiting for a retry
                    sent = Outcome(error=error)
            elif isinstance(instruction, CallHook):
                sent = _call_hook(instruction)
                if sent.error is None and inspect.isawaitable(sent.value):
                    try:
                        sent = Outcome(await sent.value)
                    except Exception as error:
                        sent = Outcome(error=error)
            else:
                if timeout is None:
                    try:
                        sent = Outcome(await call())
                    except BaseException as error:
                        sent = Outcome(error=error)
                    continue
                limit = asyncio.timeout(timeout)
                try:
                    async with limit:
                        sent = Outcome(await call())
                except BaseException as error:
                    if isinstance(error, TimeoutError) and limit.expired():
                        sent = Outcome(
                            error=timeout_error(_timeout_message(timeout_error, timeout)),
                            timed_out=True,
                        )
                    else:
                        sent = Outcome(error=error)
    except StopIteration as stop:
        return _reraise_interrupts(stop.value)


def _reraise_interrupts(state: State) -> State:
    """Crashes and cancellations are recorded, then the interrupt goes on up."""
    error = state.exception
    if error is not None and not isinstance(error, Exception):
        raise error
    return state


def _call_hook(instruction: CallHook) -> Outcome:
    try:
        value = instruction.hook(*instruction.args)
    except Exception as error:
        return Outcome(error=error)
    return Outcome(value)


def run_coroutine_sync(value: Any) -> Any:
    """A hook that returned an awaitable in a sync run is awaited on a fresh event loop."""
    if not inspect.isawaitable(value):
        return value
    import asyncio

    async def wait() -> Any:
        return await value

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    # A sync run inside an async flow: this thread's loop is busy running us, so the hook
    # gets a loop of its own in another thread.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="runnel-hook") as pool:
        return pool.submit(asyncio.run, wait()).result()


def _timeout_message(timeout_error: type[RunTimeoutError], timeout: float) -> str:
    kind = "Flow" if "Flow" in timeout_error.__name__ else "Task"
    return f"{kind} run exceeded timeout of {timeout:g} second(s)"


def _call_with_timeout(
    call: Callable[[], Any], timeout: float, timeout_error: type[RunTimeoutError]
) -> Outcome:
    """Call in a worker thread and stop waiting after ``timeout``.

    Python cannot stop a thread from outside. When time is up we stop waiting, record the
    timeout, and raise an exception inside the worker so that it stops at its next Python
    instruction; a function blocked inside C code (a socket read, ``time.sleep``) finishes
    that call first and its result is thrown away.
    """
    box: list[Outcome] = []

    def work() -> None:
        try:
            box.append(Outcome(call()))
        except RunAbandoned:
            pass
        except BaseException as error:
            box.append(Outcome(error=error))

    context = contextvars.copy_context()
    worker = threading.Thread(
        target=context.run, args=(work,), daemon=True, name="runnel-timeout-worker"
    )
    worker.start()
    worker.join(timeout)
    if box:
        return box[0]
    _interrupt(worker)
    return Outcome(error=timeout_error(_timeout_message(timeout_error, timeout)), timed_out=True)


def _interrupt(thread: threading.Thread) -> None:
    import ctypes

    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(RunAbandoned)
        )
