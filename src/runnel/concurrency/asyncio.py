"""Limits from coroutines: ``async with concurrency("db"):`` and ``await rate_limit("api")``."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from runnel.concurrency._acquirer import Acquirer, log
from runnel.concurrency._local import RELEASES, give_back, hold
from runnel.limits import DEFAULT_LEASE_SECONDS
from runnel.runtime import get_clock
from runnel.store import get_store
from runnel.store.base import Acquisition, Store

__all__ = ["concurrency", "rate_limit"]


class _Attempt:
    """One acquire attempt in a worker thread, so that a busy database never blocks the loop.

    The attempt commits in its thread whether or not its caller still waits. A caller
    cancelled meanwhile ``leave``s: whichever of the two finishes last gives back what the
    attempt was granted (or the caller's place in the queue). Without this, the slots of a
    cancelled caller stayed taken until its lease expired.
    """

    def __init__(self, acquirer: Acquirer, store: Store) -> None:
        self.acquirer = acquirer
        self.store = store
        self._lock = threading.Lock()
        self._done = False
        self._left = False
        self._got: Acquisition | None = None

    def run(self) -> Acquisition:
        """In the worker thread."""
        got = None
        try:
            got = self.acquirer.attempt(self.store)
            return got
        finally:
            with self._lock:
                self._done, self._got, left = True, got, self._left
            if left:
                self._give_back()

    def leave(self) -> None:
        """The caller was cancelled: give back now if the attempt is done, else when it is."""
        with self._lock:
            self._left, done = True, self._done
        if done:
            self._give_back()

    def _give_back(self) -> None:
        got, acquirer = self._got, self.acquirer
        if got is None or not got.granted:
            acquirer.leave_queue(self.store)
            return
        acquirer.missing = got.missing
        try:
            give_back(acquirer)
        except Exception as error:  # nobody awaits this: say it, the lease still expires
            log(
                logging.WARNING,
                f"could not give back the slots of limit {', '.join(acquirer.names)} taken by "
                f"a cancelled caller ({error}): they free when the lease expires",
            )


async def _attempt(acquirer: Acquirer, store: Store) -> Acquisition:
    attempt = _Attempt(acquirer, store)
    try:
        return await asyncio.to_thread(attempt.run)
    except asyncio.CancelledError:
        attempt.leave()
        raise


async def _acquire(acquirer: Acquirer, store: Store) -> None:
    await asyncio.to_thread(acquirer.check_strict, store)
    while True:
        since = RELEASES.generation()
        got = await _attempt(acquirer, store)
        try:
            pause = acquirer.after(got)
            if pause is None:
                return
            if pause.on_release:
                await RELEASES.await_(pause.seconds, since)
            else:
                await acquirer.clock.asleep(pause.seconds)
        except BaseException:
            acquirer.leave_queue(store)
            raise


@asynccontextmanager
async def concurrency(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    lease_duration: float = DEFAULT_LEASE_SECONDS,
    strict: bool = False,
) -> AsyncIterator[None]:
    """Hold ``occupy`` slots of every named limit for the block (all taken atomically)."""
    clock = get_clock()
    acquirer = Acquirer.make(names, occupy, timeout_seconds, strict, clock, lease_duration)
    store = get_store()
    await _acquire(acquirer, store)
    hold(acquirer)
    try:
        yield
    finally:
        give_back(acquirer)  # not in a thread: a cancelled block must still give slots back


async def rate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """Return once ``occupy`` slots of every named rate limit are taken (they decay by themselves)."""
    await _acquire(Acquirer.make(names, occupy, timeout_seconds, strict, get_clock()), get_store())
