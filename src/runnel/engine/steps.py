"""The lifecycle of a run, decided once for flows and tasks, sync and async.

``lifecycle`` is a generator: it decides what happens next and yields an instruction (call
the function, sleep, call a hook) that a driver carries out, sending back the outcome. The
sync and async drivers in ``drivers.py`` differ only in how they call, wait and sleep, so no
retry or state rule is written twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from runnel.clock import Clock
from runnel.retries import RetryDelay, next_retry_delay
from runnel.runs import Run
from runnel.runtime import EventSink
from runnel.states import (
    ALLOWED_NEXT,
    TERMINAL_TYPES,
    AwaitingRetry,
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
)

Hook = Callable[..., Any]


@dataclass(frozen=True)
class RunPolicy:
    """What a flow or task asked for: retries, timeout, hooks."""

    kind: str  # "Flow" or "Task", as written in messages
    retries: int = 0
    retry_delay: RetryDelay = 0
    retry_jitter_factor: float | None = None
    retry_condition_fn: Callable[..., bool] | None = None
    timeout_seconds: float | None = None
    on_completion: Sequence[Hook] = ()
    on_failure: Sequence[Hook] = ()
    on_crashed: Sequence[Hook] = ()
    retry_after_cap: float = 300.0


class RunAbandoned(BaseException):
    """Raised inside a worker thread whose run timed out, so it stops at its next instruction.

    A control-flow signal, not an error: runs it passes through end ``Cancelled``.
    """


class Call:
    """Instruction: call the run's function once (with the policy's timeout)."""


class Sleep:
    """Instruction: wait this long before going on."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class CallHook:
    """Instruction: call a hook; its outcome is reported back, its failure only logged."""

    __slots__ = ("hook", "args")

    def __init__(self, hook: Hook, args: tuple[Any, ...]) -> None:
        self.hook = hook
        self.args = args


CALL = Call()
Instruction = Call | Sleep | CallHook


class Outcome:
    """What a call gave: a value, or the exception it raised (``timed_out`` when we gave up)."""

    __slots__ = ("value", "error", "timed_out")

    def __init__(
        self, value: Any = None, error: BaseException | None = None, timed_out: bool = False
    ) -> None:
        self.value = value
        self.error = error
        self.timed_out = timed_out


#: ``(logger, level, extra, msg, args, at) -> bool``: writes a line where the handlers would,
#: or answers False when a record is needed (see ``runnel.logging.setup.DirectLines``).
_direct: Callable[..., bool] | None = None


def route_lines(direct: Callable[..., bool] | None) -> None:
    """Let ``direct`` take the engine's log lines when it can (None: always make records)."""
    global _direct
    _direct = direct


def log(
    logger: logging.Logger,
    level: int,
    extra: dict[str, Any],
    msg: str,
    *args: Any,
    exc_info: BaseException | None = None,
    at: float | None = None,
) -> None:
    """Log a line of a run (``at``: its time, if not now), skipping the stack walk
    ``Logger.log`` does to find its caller."""
    if logger.isEnabledFor(level):
        if (
            exc_info is None
            and _direct is not None
            and _direct(logger, level, extra, msg, args, at)
        ):
            return
        details = None if exc_info is None else (type(exc_info), exc_info, exc_info.__traceback__)
        if logging.getLogRecordFactory() is logging.LogRecord:
            record = _record(logger.name, level, msg, args, details, extra, at)
        else:  # someone's own record factory: let it make the record
            record = logger.makeRecord(
                logger.name, level, "(runnel)", 0, msg, args, details, None, extra
            )
        logger.handle(record)


class _Blank:
    """The fields every engine log line shares, taken from one record made the slow way."""

    pid = -1
    fields: dict[str, Any] = {}
    start = 0.0  # when logging started: ``relativeCreated`` counts from it

    @classmethod
    def refresh(cls) -> None:
        blank = logging.LogRecord("", 0, "(runnel)", 0, "", (), None).__dict__
        cls.fields, cls.pid = blank, blank["process"]
        cls.start = blank["created"] - blank["relativeCreated"] / 1000


def _record(
    name: str,
    level: int,
    msg: str,
    args: tuple[Any, ...],
    exc_info: Any,
    extra: dict[str, Any],
    at: float | None = None,
) -> logging.LogRecord:
    """A LogRecord like ``makeRecord``'s at half its cost (it is made for every run)."""
    if _Blank.pid != os.getpid():  # first use, or a forked child
        _Blank.refresh()
    record: logging.LogRecord = object.__new__(logging.LogRecord)
    fields = record.__dict__
    fields.update(_Blank.fields)
    fields.update(extra)
    now = time.time() if at is None else at
    thread = threading.current_thread()
    fields["name"] = name
    fields["msg"] = msg
    fields["args"] = args
    fields["levelno"] = level
    fields["levelname"] = logging.getLevelName(level)
    fields["exc_info"] = exc_info
    fields["created"] = now
    fields["msecs"] = (now - int(now)) * 1000
    fields["relativeCreated"] = (now - _Blank.start) * 1000
    fields["thread"] = thread.ident
    fields["threadName"] = thread.name
    return record


_RUNNING = StateType.RUNNING


def set_state(run: Run, state: State, sink: EventSink) -> State:
    """Move ``run`` into ``state`` and hand the change to the sink."""
    kind = state.type
    seq = run.state_seq + 1
    if seq > 1 and kind not in ALLOWED_NEXT[run.state.type]:  # ``can_transition``, inlined
        raise RuntimeError(f"{run.label}: {run.state!r} cannot be followed by {state!r}")
    run.state = state  # before its number: see ``runnel.store.recorder`` on torn reads
    run.state_seq = seq
    if seq == 1:
        run.created = state.timestamp  # a run is created Pending (the history relies on it)
    elif kind is _RUNNING:
        if run.start_time is None:
            run.start_time = state.timestamp
    elif kind in TERMINAL_TYPES:
        run.end_time = state.timestamp
    sink.state_changed(run, state, seq)
    return state


def failed_state(kind: str, outcome: Outcome, timeout: float | None) -> State:
    """The state a failed attempt ends in."""
    error = outcome.error
    assert error is not None
    if outcome.timed_out:
        return TimedOut(str(error), exception=error)
    if not isinstance(error, Exception):
        import asyncio

        if isinstance(error, RunAbandoned):
            return Cancelled(
                f"{kind} run was stopped because an enclosing run timed out", exception=error
            )
        if isinstance(error, asyncio.CancelledError):
            return Cancelled(f"{kind} run was cancelled", exception=error)
        return Crashed(f"{kind} run was interrupted by {type(error).__name__}", exception=error)
    return Failed(
        f"{kind} run encountered an exception {type(error).__name__}: {_text(error)}",
        exception=error,
    )


def _state_of_returned(kind: str, value: Any) -> State:
    """A run that returns a state that did not complete (``return t(return_state=True)``)
    ends failed, as Prefect users expect; any other value completes the run."""
    if isinstance(value, State) and value.is_final() and not value.is_completed():
        return Failed(f"{kind} run returned {value!r}", exception=value.exception)
    return Completed(value)


def _text(error: BaseException) -> str:
    """``str(error)``, even for an exception whose ``__str__`` itself fails."""
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__} whose message cannot be shown>"


def make_pending(run: Run, sink: EventSink) -> None:
    """A run starts Pending (a submitted one was made Pending when it was submitted)."""
    if run.state_seq == 0:
        set_state(run, Pending(), sink)


#: The last line of every run. A task run's is not kept as a log row of its own: its run row
#: says the same, and the store reads it back from there (``runnel.store.base.with_closing_lines``),
#: as it does the states of most task runs. Half the log rows of a typical history.
CLOSING_LINE = "Finished in state %s"


def close_run(
    run: Run, state: State, sink: EventSink, logger: logging.Logger, log_extra: dict[str, Any]
) -> None:
    """Move ``run`` into its final ``state`` and log its closing line, both as of now (after
    any line that led to the state, such as the error of a last failed attempt)."""
    state.timestamp = time.time()
    set_state(run, state, sink)
    log(logger, closing_level(state), log_extra, CLOSING_LINE, state, at=state.timestamp)


def closing_level(state: State) -> int:
    """The level of a closing line: INFO for a run that completed, ERROR for any other."""
    return logging.INFO if state.is_completed() else logging.ERROR


def end_run(
    policy: RunPolicy,
    run: Run,
    state: State,
    sink: EventSink,
    logger: logging.Logger,
    log_extra: dict[str, Any],
) -> Sequence[Hook]:
    """Close ``run`` in its final ``state``; returns the hooks to call now."""
    close_run(run, state, sink, logger, log_extra)
    return hooks_after(policy, state)


def hooks_after(policy: RunPolicy, state: State) -> Sequence[Hook]:
    """The hooks a run ending in ``state`` calls."""
    if state.is_completed():
        return policy.on_completion
    if state.is_failed():
        return policy.on_failure
    if state.is_crashed():
        return policy.on_crashed
    return ()


def lifecycle(
    policy: RunPolicy,
    owner: Any,
    run: Run,
    sink: EventSink,
    logger: logging.Logger,
    log_extra: dict[str, Any],
    clock: Clock,
    prepare: Callable[[], None] | None = None,
    hit: State | None = None,
) -> Generator[Instruction, Outcome | None, State]:
    """Drive one run from Pending to a final state; returns that state.

    ``hit`` is the state of a valid cache record: the run ends in it without running."""
    make_pending(run, sink)
    state: State | None = hit
    if state is None:
        set_state(run, Running(), sink)
        run.run_count = 1
    if prepare is not None and state is None:
        try:
            prepare()
        except Exception as error:  # bad arguments: failed, and never retried
            state = failed_state(policy.kind, Outcome(error=error), policy.timeout_seconds)
            log(logger, logging.ERROR, log_extra, "%s", error)
    while state is None:
        outcome = yield CALL
        assert outcome is not None
        if outcome.error is None:
            state = _state_of_returned(policy.kind, outcome.value)
            break
        attempt_state = failed_state(policy.kind, outcome, policy.timeout_seconds)
        if not attempt_state.is_failed():
            state = attempt_state  # crashed or cancelled: never retried
            break
        attempt = run.run_count
        if attempt <= policy.retries and (
            yield from _retry_allowed(policy, owner, run, attempt_state, logger, log_extra)
        ):
            delay = next_retry_delay(
                attempt=attempt,
                delay=policy.retry_delay,
                retries=policy.retries,
                jitter_factor=policy.retry_jitter_factor,
                error=outcome.error,
                now=clock.now(),
                retry_after_cap=policy.retry_after_cap,
            )
            log(
                logger,
                logging.WARNING,
                log_extra,
                "%s run failed with exception: %r - Retry %d/%d will start in %s second(s)",
                policy.kind,
                outcome.error,
                attempt,
                policy.retries,
                _seconds(delay),
            )
            set_state(run, AwaitingRetry(), sink)
            if delay > 0:
                interrupted = yield Sleep(delay)
                if interrupted is not None and interrupted.error is not None:
                    state = failed_state(policy.kind, interrupted, policy.timeout_seconds)
                    break
            set_state(run, Retrying(), sink)
            run.run_count += 1
            continue
        tail = "Retries are exhausted" if policy.retries else "No retries configured"
        log(
            logger,
            logging.ERROR,
            log_extra,
            "%s run failed with exception: %r - %s",
            policy.kind,
            outcome.error,
            tail,
            exc_info=outcome.error,
        )
        state = attempt_state
    for hook in end_run(policy, run, state, sink, logger, log_extra):
        hook_outcome = yield CallHook(hook, (owner, run, state))
        if hook_outcome is not None and hook_outcome.error is not None:
            logger.error(
                "Hook %r failed and was ignored: %r",
                getattr(hook, "__name__", hook),
                hook_outcome.error,
                exc_info=hook_outcome.error,
                extra=log_extra,
            )
    return state


def _retry_allowed(
    policy: RunPolicy,
    owner: Any,
    run: Run,
    state: State,
    logger: logging.Logger,
    log_extra: dict[str, Any],
) -> Generator[Instruction, Outcome | None, bool]:
    """Ask ``retry_condition_fn`` (which may be async, hence a sub-generator)."""
    condition = policy.retry_condition_fn
    if condition is None:
        return True
    outcome = yield CallHook(condition, (owner, run, state))
    if outcome is None or outcome.error is not None:
        logger.error(
            "retry_condition_fn raised %r; not retrying",
            None if outcome is None else outcome.error,
            extra=log_extra,
        )
        return False
    if not outcome.value:
        logger.info("retry_condition_fn declined a retry", extra=log_extra)
    return bool(outcome.value)


def _seconds(delay: float) -> str:
    return f"{delay:.2f}".rstrip("0").rstrip(".") if delay != int(delay) else str(int(delay))


def hooks_of(value: Hook | Sequence[Hook] | None, option: str) -> tuple[Hook, ...]:
    """A hook option (one callable, a list of them, or None) as a tuple, checked."""
    if value is None:
        return ()
    hooks = (value,) if callable(value) else tuple(value)
    for hook in hooks:
        if not callable(hook):
            from runnel.exceptions import ConfigurationError

            raise ConfigurationError(f"{option} takes callables; {hook!r} is not callable")
    return hooks
