"""Run loggers and ``log_prints``: log lines that know which run they belong to."""

from __future__ import annotations

import builtins
import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from runnel.context import flow_run_context, task_run_context
from runnel.exceptions import MissingContext

FLOW_RUN_LOGGER = logging.getLogger("runnel.flow_runs")
TASK_RUN_LOGGER = logging.getLogger("runnel.task_runs")


class RunLogger(logging.LoggerAdapter):
    """A logger whose records carry their run (shown on the console, stored with the run)."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = kwargs.get("extra")
        kwargs["extra"] = self.extra if not extra else {**extra, **(self.extra or {})}
        return msg, kwargs


def get_run_logger() -> RunLogger:
    """The logger of the task run or flow run this code runs in."""
    task_ctx = task_run_context.get()
    if task_ctx is not None:
        return RunLogger(TASK_RUN_LOGGER, task_ctx.log_extra)
    flow_ctx = flow_run_context.get()
    if flow_ctx is not None:
        return RunLogger(FLOW_RUN_LOGGER, flow_ctx.log_extra)
    raise MissingContext(
        "get_run_logger() was called outside of a flow or task run: call it inside a function "
        "decorated with @flow or @task, or use logging.getLogger(__name__)"
    )


# The run whose prints become log lines; set by the engine around runs with log_prints.
print_target: ContextVar[tuple[logging.Logger, dict[str, Any]] | None] = ContextVar(
    "runnel_print_target", default=None
)
_original_print = builtins.print


def _print(
    *args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
) -> None:
    target = print_target.get()
    if target is None or (file is not None and file is not sys.stdout):
        _original_print(*args, sep=sep, end=end, file=file, flush=flush)
        return
    logger, extra = target
    logger.info((" " if sep is None else sep).join(str(a) for a in args), extra=extra)


def install_print_capture() -> None:
    """Route ``print`` inside runs that asked for it to their logger (once per process)."""
    if builtins.print is not _print:
        builtins.print = _print
