"""Cached task runs: look the key up, or compute once while others wait, then record.

A hit takes no slot of the task's tag limits: only ``run`` (a miss) does. The cache itself (keys, records, locks) is plugged in by ``runnel.results``; this module
only decides: a valid record ends the run ``Cached`` without calling the function; a miss
takes the key's lock, looks again (another run may have just computed it), then runs and
writes the record. Two runs that miss together so compute once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from runnel.context import flow_run_context
from runnel.engine.execute import RunSetup, aexecute, conclude_hit, execute
from runnel.runs import TaskRun
from runnel.states import Cached, State


def _task_run(setup: RunSetup) -> TaskRun:
    run = setup.run
    assert isinstance(run, TaskRun)
    return run


def _key(task: Any, setup: RunSetup, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    try:
        arguments = task.bind_arguments(args, kwargs)
    except TypeError:
        return None  # the call itself will fail, uncached, with Python's own message
    flow_ctx = flow_run_context.get()
    parameters = flow_ctx.flow_run.parameters if flow_ctx is not None else None
    run = _task_run(setup)
    # Outside a flow the run is its own scope: RUN_ID keys on the task run, never on None.
    return task.cache.key(
        task,
        run.flow_run_id or run.id,
        parameters,
        arguments,
        setup.context.log_extra,
    )


def _hit(task: Any, key: str, setup: RunSetup) -> Any:
    hit = None if task.cache.refresh else task.cache.lookup(key, setup.context.log_extra)
    if hit is not None:
        setup.hit = Cached(hit.value)
        _task_run(setup).cache_saved_seconds = hit.metadata.duration_seconds
    return hit


def _store(task: Any, key: str, setup: RunSetup, state: State) -> State:
    run = setup.run
    if state.is_completed() and state.name != "Cached":
        duration = (run.end_time or 0.0) - (run.start_time or run.end_time or 0.0)
        task.cache.store(key, task, state.result(), duration)
    return state


def _no_call() -> None:
    """A hit ends its run without calling anything."""


async def _no_acall() -> None:
    """A hit ends its run without calling anything."""


def _answer(setup: RunSetup) -> State:
    """The run ended in its hit (driven through the lifecycle only for its hooks)."""
    state = conclude_hit(setup)
    return state if state is not None else execute(setup, _no_call)


async def _aanswer(setup: RunSetup) -> State:
    state = conclude_hit(setup)
    return state if state is not None else await aexecute(setup, _no_acall)


def execute_cached(
    task: Any,
    setup: RunSetup,
    run: Callable[[], State],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> State:
    """The run through the task's cache: ``run()`` executes it on a miss."""
    key = _key(task, setup, args, kwargs)
    if key is None:
        return run()
    _task_run(setup).cache_key = key
    if _hit(task, key, setup) is not None:
        return _answer(setup)
    with task.cache.hold(key):
        if _hit(task, key, setup) is not None:
            return _answer(setup)
        return _store(task, key, setup, run())


async def aexecute_cached(
    task: Any,
    setup: RunSetup,
    run: Callable[[], Awaitable[State]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> State:
    """``execute_cached`` for async tasks (the lock is waited for off the event loop)."""
    key = _key(task, setup, args, kwargs)
    if key is None:
        return await run()
    _task_run(setup).cache_key = key
    if _hit(task, key, setup) is not None:
        return await _aanswer(setup)
    lock = task.cache.hold(key)
    await _acquire_off_loop(lock)
    try:
        if _hit(task, key, setup) is not None:
            return await _aanswer(setup)
        return _store(task, key, setup, await run())
    finally:
        lock.__exit__(None, None, None)


async def _acquire_off_loop(lock: Any) -> None:
    """Take ``lock`` in a worker thread; if the caller is cancelled meanwhile, whatever the
    thread still takes is given back, so a cancelled run never leaves its key locked."""
    import asyncio

    acquiring = asyncio.ensure_future(asyncio.to_thread(lock.__enter__))
    try:
        await asyncio.shield(acquiring)
    except asyncio.CancelledError:

        def give_back(done: asyncio.Future[Any]) -> None:
            if not done.cancelled() and done.exception() is None:
                lock.__exit__(None, None, None)

        acquiring.add_done_callback(give_back)
        raise


def cached_answer(
    task: Any, setup: RunSetup, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> State | None:
    """The run ended ``Cached`` when its record is valid, else None (nothing recorded)."""
    key = _key(task, setup, args, kwargs)
    if key is None or _hit(task, key, setup) is None:
        return None
    _task_run(setup).cache_key = key
    return _answer(setup)
