"""Tag limits in the engine: a run waits, visibly, for its tags' slots and frees them after.

Where the slots are and how they are taken is plugged in (``runtime.tag_gate``); here is
only when: before the run starts (never for a cache hit), and until it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from runnel.engine.execute import RunSetup, aexecute, execute
from runnel.engine.steps import log, set_state
from runnel.runtime import get_clock, tag_gate
from runnel.states import AwaitingConcurrencySlot, Pending, State


def awaiting_slots(setup: RunSetup, gate: Any) -> None:
    """Show the run as waiting for its tag limits (state and log line)."""
    run = setup.run
    if run.state.name == "AwaitingConcurrencySlot":
        return
    if run.state_seq == 0:
        set_state(run, Pending(), setup.sink)
    set_state(run, AwaitingConcurrencySlot(), setup.sink)
    names = ", ".join(repr(name) for name in gate.names)
    log(
        setup.logger,
        logging.INFO,
        setup.context.log_extra,
        "Waiting for a slot of concurrency limit %s",
        names,
    )


def execute_with_slots(task: Any, setup: RunSetup, call: Callable[[], Any]) -> State:
    """``execute`` holding the slots of the task's tag limits (waiting for them first)."""
    gate = None if setup.slots_held else tag_gate(task.tags)
    if gate is None:
        return execute(setup, call)
    clock = get_clock()
    while (wait := gate.try_acquire()) is not None:
        awaiting_slots(setup, gate)
        clock.sleep(wait)
    try:
        return execute(setup, call)
    finally:
        gate.release()


async def aexecute_with_slots(
    task: Any, setup: RunSetup, call: Callable[[], Awaitable[Any]]
) -> State:
    """``aexecute`` holding the slots of the task's tag limits."""
    gate = None if setup.slots_held else tag_gate(task.tags)
    if gate is None:
        return await aexecute(setup, call)
    clock = get_clock()
    while (wait := gate.try_acquire()) is not None:
        awaiting_slots(setup, gate)
        await clock.asleep(wait)
    try:
        return await aexecute(setup, call)
    finally:
        gate.release()
