"""Run one flow or task call: set its context, drive its lifecycle, restore the context."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from runnel.clock import Clock
from runnel.engine.drivers import Steps, adrive, drive
from runnel.engine.steps import RunPolicy, end_run, hooks_after, lifecycle, make_pending
from runnel.exceptions import RunTimeoutError
from runnel.loggers import install_print_capture, print_target
from runnel.runs import Run
from runnel.runtime import EventSink, get_clock
from runnel.states import State


class RunSetup:
    """Everything one call needs besides its function."""

    __slots__ = (
        "policy",
        "owner",
        "run",
        "sink",
        "logger",
        "context_var",
        "context",
        "log_prints",
        "timeout_error",
        "prepare",
        "hit",
        "slots_held",
    )

    def __init__(
        self,
        policy: RunPolicy,
        owner: Any,
        run: Run,
        sink: EventSink,
        logger: logging.Logger,
        context_var: ContextVar[Any],
        context: Any,
        log_prints: bool,
        timeout_error: type[RunTimeoutError],
        prepare: Callable[[], None] | None = None,
    ) -> None:
        self.policy = policy
        self.owner = owner
        self.run = run
        self.sink = sink
        self.logger = logger
        self.context_var = context_var
        self.context = context
        self.log_prints = log_prints
        self.timeout_error = timeout_error
        self.prepare = prepare
        self.hit: State | None = None  # set by the cache: end the run in this state
        self.slots_held = False  # its tag limits' slots were taken before it was dispatched


def _enter(setup: RunSetup) -> tuple[Any, Any]:
    token = setup.context_var.set(setup.context)
    if setup.log_prints:
        install_print_capture()
        return token, print_target.set((setup.logger, setup.context.log_extra))
    if print_target.get() is not None:
        return token, print_target.set(None)
    return token, None


def _exit(setup: RunSetup, tokens: tuple[Any, Any]) -> None:
    token, print_token = tokens
    if print_token is not None:
        print_target.reset(print_token)
    setup.context_var.reset(token)


def _steps(setup: RunSetup, clock: Clock) -> Steps:
    return lifecycle(
        setup.policy,
        setup.owner,
        setup.run,
        setup.sink,
        setup.logger,
        setup.context.log_extra,
        clock,
        setup.prepare,
        setup.hit,
    )


def execute(setup: RunSetup, call: Callable[[], Any]) -> State:
    """Run a sync call through its whole lifecycle in this thread."""
    tokens = _enter(setup)
    try:
        clock = get_clock()
        return drive(
            _steps(setup, clock), call, setup.policy.timeout_seconds, clock, setup.timeout_error
        )
    finally:
        _exit(setup, tokens)


async def aexecute(setup: RunSetup, call: Callable[[], Awaitable[Any]]) -> State:
    """Run an async call through its whole lifecycle on the running event loop."""
    tokens = _enter(setup)
    try:
        clock = get_clock()
        return await adrive(
            _steps(setup, clock), call, setup.policy.timeout_seconds, clock, setup.timeout_error
        )
    finally:
        _exit(setup, tokens)


def conclude_hit(setup: RunSetup) -> State | None:
    """End a run answered from the cache (``setup.hit``) where no hook needs calling: no call,
    no context to set, no lifecycle to drive. None when hooks wait for it (then drive it)."""
    state = setup.hit
    assert state is not None
    if hooks_after(setup.policy, state):
        return None
    make_pending(setup.run, setup.sink)
    end_run(setup.policy, setup.run, state, setup.sink, setup.logger, setup.context.log_extra)
    return state
