"""Where the engine sends what happens: an event sink, plugged in by the outer layers.

The core knows only this protocol; ``runnel/__init__.py`` installs the recorder that writes
to the store, so the core never imports the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from runnel.clock import REAL_CLOCK, Clock
from runnel.runs import Run
from runnel.states import State


class EventSink(Protocol):
    """Receives run events; must be cheap to call and must not raise."""

    def state_changed(self, run: Run, state: State, seq: int) -> None:
        """``run`` entered ``state``, its ``seq``-th state."""

    def log(
        self,
        flow_run_id: str | None,
        task_run_id: str | None,
        level: int,
        logger: str,
        message: str,
        timestamp: float,
    ) -> None:
        """A log line of a run."""

    def flush(self, timeout: float | None = None) -> None:
        """Return once every event handed over so far is durable."""


@dataclass(frozen=True)
class Plugins:
    """What the outer layers plug into the core (``runnel/__init__.py`` installs them).

    Each is imported lazily by its plug, so ``import runnel`` pays for none of them."""

    sink: Callable[[], EventSink] | None = None  # the recorder
    configure_logging: Callable[[], None] | None = None  # console and store handlers
    task_runner: Callable[[], Any] | None = None  # flows that name none
    progress: Callable[[Any, Any], Any] | None = None  # (flow_run, scope) -> has stop()
    task_cache: Callable[..., Any] | None = None  # a persisting task's options -> its cache
    tag_gate: Callable[[Any], Any] | None = None  # tags -> slot gate, or None


_plugins = Plugins()
_sink: EventSink | None = None


def install(**plugs: Any) -> Plugins:
    """Plug in some ``Plugins`` fields; returns what was installed before (to put back)."""
    global _plugins, _sink
    previous, _plugins, _sink = _plugins, replace(_plugins, **plugs), None
    return previous


def restore(plugins: Plugins) -> None:
    """Put back what ``install`` returned."""
    global _plugins, _sink
    _plugins, _sink = plugins, None


def get_sink() -> EventSink:
    """The process's sink, made (and logging set up) on the first run."""
    global _sink
    sink = _sink
    if sink is None:
        plugins = _plugins
        if plugins.sink is None:
            raise RuntimeError("runnel's recorder is not installed: import runnel first")
        if plugins.configure_logging is not None:
            plugins.configure_logging()
        sink = _sink = plugins.sink()
    return sink


def forget_sink() -> None:
    """Make the next run ask the factory again (after settings or the store changed)."""
    global _sink
    _sink = None


_clock: Clock = REAL_CLOCK


def get_clock() -> Clock:
    """The clock runs sleep and read time on (real, unless a test installed another)."""
    return _clock


def use_clock(clock: Clock) -> Clock:
    """Install ``clock`` for every run from now on; returns the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


_standalone_runner: Any = None


def default_task_runner() -> Any:
    """A new, unstarted instance of the default task runner."""
    if _plugins.task_runner is None:
        raise RuntimeError("runnel's default task runner is not installed: import runnel first")
    return _plugins.task_runner()


def standalone_runner() -> Any:
    """The runner of tasks submitted outside any flow (one per process, started once)."""
    global _standalone_runner
    if _standalone_runner is None:
        runner = default_task_runner()
        runner.start()
        _standalone_runner = runner
    return _standalone_runner


def start_progress(flow_run: Any, scope: Any) -> Any:
    """A started progress display for a flow run that submits tasks, or None."""
    return None if _plugins.progress is None else _plugins.progress(flow_run, scope)


def make_task_cache(**options: Any) -> Any:
    """The cache of a task that persists its results (None when nothing is installed)."""
    return None if _plugins.task_cache is None else _plugins.task_cache(**options)


def tag_gate(tags: Any) -> Any:
    """The slot gate of a run with these tags, or None when none of them is limited."""
    return None if _plugins.tag_gate is None or not tags else _plugins.tag_gate(tags)


def flush_all(sink: EventSink) -> None:
    """Make everything handed over so far durable (history) and visible (console)."""
    sink.flush()
    import logging

    for handler in logging.getLogger("runnel").handlers:
        handler.flush()
