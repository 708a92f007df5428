"""Handlers that print run logs to the console and hand them to the run history."""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from runnel import runtime
from runnel.engine import steps
from runnel.settings import get_settings

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent)


def user_traceback(error: BaseException) -> str:
    """The traceback of ``error`` without runnel's own frames in front of the user's code."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    lines = traceback.format_exception(type(error), error, tb)
    return "".join(lines).rstrip()


def _exception_text(record: logging.LogRecord) -> str | None:
    if not record.exc_info or record.exc_info[1] is None:
        return None
    return user_traceback(record.exc_info[1])


class RunFormatter(logging.Formatter):
    """``16:02:11.402 | INFO    | Task run 'fetch_stats-0c9' - Finished in state Completed()``."""

    #: ``((millisecond, level name), "HH:MM:SS.mmm | LEVEL   | ")``: the head of the last
    #: line, which the lines of a busy flow share. One tuple, so that threads swap it whole.
    _head: tuple[tuple[int, str], str] = ((-1, ""), "")

    def format(self, record: logging.LogRecord) -> str:
        who = getattr(record, "run_label", None) or record.name
        record.message = message = record.getMessage()  # as Formatter does; the store reuses it
        line = self.line(record.created, record.levelname, who, message)
        details = _exception_text(record)
        return line if details is None else f"{line}\n{details}"

    def line(self, created: float, levelname: str, who: str, message: str) -> str:
        """One console line (without exception details)."""
        key = (int(created * 1000), levelname)
        last, head = self._head
        if key != last:  # strftime and padding once a millisecond, not once a line
            second, msecs = divmod(key[0], 1000)
            stamp = time.strftime("%H:%M:%S", time.localtime(second))
            head = f"{stamp}.{msecs:03d} | {levelname:<7} | "
            self._head = (key, head)
        return f"{head}{who} - {message}"


class ConsoleHandler(logging.Handler):
    """Prints run logs to whatever ``sys.stderr`` is at the moment, in order, in batches.

    Lines are formatted in the logging thread and queued; one writer thread writes what is
    queued with one write call. So thirty-two task threads do not queue on a lock and a
    system call each per line. WARNING and above, the end of every flow run, and interpreter
    exit write everything queued at once, so nothing is late where it matters; otherwise a
    line waits at most ``GATHER_SECONDS``.
    """

    GATHER_SECONDS = 0.05

    def __init__(self) -> None:
        super().__init__()
        self._lines: deque[str] = deque()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: the queue is thread-safe and the writes are serialised below.
        if not self.filter(record):
            return False
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return True
        self.enqueue(line, record.levelno)
        return True

    def enqueue(self, line: str, level: int) -> None:
        """Queue a formatted line (written at once from WARNING up)."""
        self._lines.append(line)
        if level >= logging.WARNING:
            self.flush()
        elif not self._wake.is_set():  # the writer is already due: no need to signal again
            self._start_writer()
            self._wake.set()

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)

    def flush(self) -> None:
        """Write every queued line now."""
        with self._write_lock:
            lines = []
            while self._lines:
                lines.append(self._lines.popleft())
            if lines:
                stream = sys.stderr
                stream.write("\n".join(lines) + "\n")
                stream.flush()

    def _start_writer(self) -> None:
        writer = self._writer
        if writer is None or not writer.is_alive():
            with self._write_lock:
                if self._writer is None or not self._writer.is_alive():
                    self._writer = threading.Thread(
                        target=self._write_forever, daemon=True, name="runnel-console"
                    )
                    self._writer.start()

    def _write_forever(self) -> None:
        while True:
            self._wake.wait()
            # Let the lines of the next moment gather: a writer that woke for every line
            # would take the GIL from the runs once a line, which costs them more than the
            # writing itself (a cache hit's file read waited for it, say).
            time.sleep(self.GATHER_SECONDS)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a closed stream: lines are dropped, never the process
                pass


class StoreHandler(logging.Handler):
    """Hands log records of runs to the run history (records of no run are not stored)."""

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: the sink's queue is thread-safe, and thirty-two task threads
        # queueing on one lock for every line cost more than the line itself.
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        flow_run_id = getattr(record, "flow_run_id", None)
        task_run_id = getattr(record, "task_run_id", None)
        if flow_run_id is None and task_run_id is None:
            return
        if task_run_id is not None and record.msg is steps.CLOSING_LINE:
            return  # a task run's closing line: its run row tells it
        try:
            message = record.__dict__.get("message") or record.getMessage()
            details = _exception_text(record)
            if details is not None:
                message = f"{message}\n{details}"
            self.store(
                flow_run_id, task_run_id, record.levelno, record.name, message, record.created
            )
        except Exception:
            self.handleError(record)

    @staticmethod
    def store(
        flow_run_id: str | None,
        task_run_id: str | None,
        level: int,
        logger: str,
        message: str,
        created: float,
    ) -> None:
        """Hand one line to the history; lines of no run are not stored."""
        if flow_run_id is not None or task_run_id is not None:
            runtime.get_sink().log(flow_run_id, task_run_id, level, logger, message, created)


class DirectLines:
    """The engine's own lines straight to the console and the history, without a LogRecord.

    Every run logs ``Finished in state ...``; building a ``LogRecord`` and passing it through
    the logger hierarchy cost more than the rest of a trivial task run. While the engine's
    logger has no handler or filter of its own and the ``runnel`` logger has only the two
    handlers set up here, unfiltered and with their own formatter, the line goes to them
    directly and reads the same. Anyone who adds a handler or a filter, or a record factory,
    gets real records again (``__call__`` answers False and the engine makes one).
    """

    def __init__(
        self,
        parent: logging.Logger,
        console: ConsoleHandler,
        formatter: RunFormatter,
        store: StoreHandler,
    ) -> None:
        self.parent = parent
        self.console = console
        self.formatter = formatter  # the console's, as long as nobody replaced it
        self.store = store
        self.handlers = [console, store]

    def __call__(
        self,
        logger: logging.Logger,
        level: int,
        extra: dict[str, Any],
        msg: str,
        args: tuple[Any, ...],
        at: float | None = None,
    ) -> bool:
        console, parent = self.console, self.parent
        if (
            logger.handlers
            or logger.filters
            or logger.parent is not parent
            or not logger.propagate
            or parent.filters
            or parent.handlers != self.handlers
            or console.filters
            or self.store.filters
            or console.level > level
            or self.store.level > level
            or console.formatter is not self.formatter
            or logging.getLogRecordFactory() is not logging.LogRecord
        ):
            return False
        created = time.time() if at is None else at
        message = msg % args if args else msg
        levelname = logging.getLevelName(level)
        who = extra.get("run_label") or logger.name
        console.enqueue(self.formatter.line(created, levelname, who, message), level)
        task_run_id = extra.get("task_run_id")
        if task_run_id is None or msg is not steps.CLOSING_LINE:  # else its run row tells it
            self.store.store(
                extra.get("flow_run_id"), task_run_id, level, logger.name, message, created
            )
        return True


_configured = False


def configure_logging() -> None:
    """Give the ``runnel`` logger its console and store handlers, at the configured level."""
    global _configured
    level = get_settings().logging_level
    logger = logging.getLogger("runnel")
    logger.setLevel(level)
    if _configured:
        return
    console, formatter, store = ConsoleHandler(), RunFormatter(), StoreHandler()
    console.setFormatter(formatter)
    logger.addHandler(console)
    logger.addHandler(store)
    logger.propagate = False
    steps.route_lines(DirectLines(logger, console, formatter, store))
    _configured = True
