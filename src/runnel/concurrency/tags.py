"""Tag limits: a task tagged ``db`` holds a slot of the limit ``tag:db`` while it runs.

``runnel concurrency-limit create db 3`` makes that limit. Tags without a limit cost one
store read per tag every few seconds, and never block.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from runnel.concurrency._acquirer import Acquirer
from runnel.concurrency._local import give_back, hold
from runnel.limits import DEFAULT_LEASE_SECONDS, TAG_PREFIX
from runnel.runtime import get_clock
from runnel.store import get_store

_EXISTS_FOR_SECONDS = 5.0  # how long a "this tag has (no) limit" answer is trusted
_known: dict[str, tuple[bool, float]] = {}
_lock = threading.Lock()


class TagGate:
    """The slots of one task run's tag limits: taken before it runs, released after."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.acquirer = Acquirer.make(names, 1, None, False, get_clock(), DEFAULT_LEASE_SECONDS)
        self._held = False

    def try_acquire(self) -> float | None:
        """None once the slots are held; else the seconds to wait before trying again."""
        got = self.acquirer.attempt(get_store())
        if got.granted:
            self._held = True
            hold(self.acquirer)
            return None
        return self.acquirer.pause(got).seconds

    def release(self) -> None:
        """Give the slots back (once)."""
        if self._held:
            self._held = False
            give_back(self.acquirer)


def tag_gate(tags: Iterable[str]) -> TagGate | None:
    """The gate of a task run with these tags, or None when no tag has a limit."""
    names = tuple(f"{TAG_PREFIX}{tag}" for tag in tags)
    limited = tuple(name for name in names if _has_limit(name))
    return TagGate(limited) if limited else None


def _has_limit(name: str) -> bool:
    now = time.monotonic()
    with _lock:
        known = _known.get(name)
    if known is not None and now - known[1] < _EXISTS_FOR_SECONDS:
        return known[0]
    record = get_store().read_limit(name)
    exists = record is not None and record.active
    with _lock:
        _known[name] = (exists, now)
    return exists
