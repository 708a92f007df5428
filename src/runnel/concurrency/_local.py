"""What one process shares between its callers: release wake-ups and the lease renewer."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

from runnel.concurrency._acquirer import log
from runnel.limits import pause_seconds
from runnel.runtime import get_clock
from runnel.store import get_store


class Releases:
    """Wakes this process's waiters the moment one of its callers releases slots."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._events: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def generation(self) -> int:
        """Take before an attempt, pass to ``wait``: a release in between is not missed."""
        return self._generation

    def notify(self) -> None:
        """A caller released: wake every waiter."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
            events = list(self._events)
        for loop, event in events:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                pass

    def wait(self, seconds: float, since: int) -> None:
        """Block up to ``seconds``, less if a release happened after ``since``."""
        with self._cond:
            self._cond.wait_for(lambda: self._generation != since, timeout=seconds)

    async def await_(self, seconds: float, since: int) -> None:
        """``wait`` for a coroutine."""
        key = (asyncio.get_running_loop(), asyncio.Event())
        with self._cond:
            if self._generation != since:
                return
            self._events.add(key)
        try:
            await asyncio.wait_for(key[1].wait(), seconds)
        except TimeoutError:
            pass
        finally:
            with self._cond:
                self._events.discard(key)


class Renewer:
    """One daemon thread per process renewing every held lease each third of its duration."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._leases: dict[str, tuple[float, float, tuple[str, ...]]] = {}  # id: due, duration
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, lease_id: str, duration: float, names: tuple[str, ...]) -> None:
        with self._cond:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._leases = {}  # a forked child renews none of its parent's leases
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="runnel-lease-renewer", daemon=True
                )
                self._thread.start()
            self._leases[lease_id] = (time.monotonic() + duration / 3, duration, names)
            self._cond.notify_all()

    def remove(self, lease_id: str) -> None:
        with self._cond:
            self._leases.pop(lease_id, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._leases:
                    self._cond.wait()
                now = time.monotonic()
                due = min(due for due, _, _ in self._leases.values())
                if due > now:
                    self._cond.wait(pause_seconds(due - now))
                    continue
                todo = [(i, d, n) for i, (at, d, n) in self._leases.items() if at <= now]
                for lease_id, duration, names in todo:
                    self._leases[lease_id] = (now + duration / 3, duration, names)
            for lease_id, duration, names in todo:
                self._renew(lease_id, duration, names)

    def _renew(self, lease_id: str, duration: float, names: tuple[str, ...]) -> None:
        try:
            kept = get_store().renew_lease(lease_id, get_clock().now() + duration)
        except Exception as error:  # the next round tries again, before the lease expires
            log(logging.WARNING, f"could not renew the lease of limit {names}: {error}")
            return
        if not kept:
            with self._cond:
                held = self._leases.pop(lease_id, None) is not None
            if held:
                log(
                    logging.WARNING,
                    f"the lease on limit {', '.join(names)} expired before it was renewed: "
                    "other callers may now hold its slots",
                )


RELEASES = Releases()
RENEWER = Renewer()


def hold(acquirer: Any) -> None:
    """Keep the granted slots of ``acquirer`` under its lease, renewed in the background."""
    if acquirer.holds_lease:
        RENEWER.add(acquirer.lease_id, acquirer.lease_duration, acquirer.names)


def give_back(acquirer: Any) -> None:
    """Release the slots ``hold`` kept, and wake this process's waiters."""
    if acquirer.holds_lease:
        RENEWER.remove(acquirer.lease_id)
        get_store().release_slots(acquirer.lease_id, get_clock().now())
        RELEASES.notify()
