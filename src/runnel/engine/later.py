"""``call_later``: one timer thread for every delayed call, not a thread per call."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

_heap: list[tuple[float, int, Callable[[], None]]] = []
_order = itertools.count()
_cond = threading.Condition()
_thread: threading.Thread | None = None


def call_later(seconds: float, fn: Callable[[], None]) -> None:
    """Call ``fn()`` on the timer thread after ``seconds``."""
    global _thread
    with _cond:
        heapq.heappush(_heap, (time.monotonic() + seconds, next(_order), fn))
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="runnel-timer", daemon=True)
            _thread.start()
        _cond.notify()


def _run() -> None:
    while True:
        with _cond:
            while not _heap or _heap[0][0] > time.monotonic():
                _cond.wait(None if not _heap else _heap[0][0] - time.monotonic())
            _, _, fn = heapq.heappop(_heap)
        try:
            fn()
        except Exception:  # a callback's failure is its own business, never the timer's
            import logging

            logging.getLogger("runnel").exception("a delayed call failed")
