"""Limits from synchronous code: ``with concurrency("db"):`` and ``rate_limit("github-api")``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from runnel.concurrency._acquirer import Acquirer
from runnel.concurrency._local import RELEASES, give_back, hold
from runnel.limits import DEFAULT_LEASE_SECONDS
from runnel.runtime import get_clock
from runnel.store import get_store
from runnel.store.base import Store

__all__ = ["concurrency", "rate_limit"]


def _acquire(acquirer: Acquirer, store: Store) -> None:
    acquirer.check_strict(store)
    while True:
        since = RELEASES.generation()
        got = acquirer.attempt(store)
        try:
            pause = acquirer.after(got)
            if pause is None:
                return
            if pause.on_release:
                RELEASES.wait(pause.seconds, since)
            else:
                acquirer.clock.sleep(pause.seconds)
        except BaseException:
            acquirer.leave_queue(store)
            raise


@contextmanager
def concurrency(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    lease_duration: float = DEFAULT_LEASE_SECONDS,
    strict: bool = False,
) -> Iterator[None]:
    """Hold ``occupy`` slots of every named limit for the block (all taken atomically)."""
    clock = get_clock()
    acquirer = Acquirer.make(names, occupy, timeout_seconds, strict, clock, lease_duration)
    store = get_store()
    _acquire(acquirer, store)
    hold(acquirer)
    try:
        yield
    finally:
        give_back(acquirer)


def rate_limit(
    names: str | Sequence[str],
    occupy: int = 1,
    timeout_seconds: float | None = None,
    strict: bool = False,
) -> None:
    """Return once ``occupy`` slots of every named rate limit are taken (they decay by themselves)."""
    _acquire(Acquirer.make(names, occupy, timeout_seconds, strict, get_clock()), get_store())
