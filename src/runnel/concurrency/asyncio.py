"""Limits from coroutines: ``async with concurrency("db"):`` and ``await rate_limit("api")``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from runnel.concurrency._acquirer import Acquirer
from runnel.concurrency._local import RELEASES, give_back, hold
from runnel.limits import DEFAULT_LEASE_SECONDS
from runnel.runtime import get_clock
from runnel.store import get_store
from runnel.store.base import Store

__all__ = ["concurrency", "rate_limit"]


async def _acquire(acquirer: Acquirer, store: Store) -> None:
    # Store calls run in a thread: a busy database never blocks the event loop.
    await asyncio.to_thread(acquirer.check_strict, store)
    while True:
        since = RELEASES.generation()
        pause = acquirer.after(await asyncio.to_thread(acquirer.attempt, store))
        if pause is None:
            return
        if pause.on_release:
            await RELEASES.await_(pause.seconds, since)
        else:
            await acquirer.clock.asleep(pause.seconds)


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
