"""What a caller does between atomic acquire attempts: shared by the sync and async drivers."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from runnel.clock import Clock
from runnel.exceptions import AcquireTimeout, LimitNotFound, MissingContext
from runnel.limits import (
    normalize_names,
    pause_seconds,
    validate_lease_duration,
    validate_occupy,
    validate_timeout,
)
from runnel.loggers import get_run_logger
from runnel.store.base import Acquisition, Store

logger = logging.getLogger("runnel.limits")

# A denied caller of a concurrency limit cannot know when another process releases: it
# re-tries after this backoff, doubling up to the cap (a release in its own process wakes
# it at once).
BACKOFF_START_SECONDS = 0.01
BACKOFF_CAP_SECONDS = 0.05
HEAD_OF_QUEUE_SECONDS = 0.003

_warned: set[tuple[int, str]] = set()
_warned_lock = threading.Lock()
_holder = (0, "")  # (pid, "hostname:pid"): a forked child names itself anew


def holder() -> str:
    """Who holds a lease, for ``inspect``: ``hostname:pid``."""
    global _holder
    pid = os.getpid()
    if _holder[0] != pid:
        _holder = (pid, f"{socket.gethostname()}:{pid}")
    return _holder[1]


def log(level: int, message: str) -> None:
    """To the run's logs inside a run, else to the ``runnel.limits`` logger."""
    try:
        get_run_logger().log(level, message)
    except MissingContext:
        logger.log(level, message)


def warn_missing(names: Sequence[str]) -> None:
    """One WARNING per missing name per process."""
    pid = os.getpid()
    for name in names:
        with _warned_lock:
            if (pid, name) in _warned:
                continue
            _warned.add((pid, name))
        log(
            logging.WARNING,
            f"limit '{name}' does not exist, so it does not limit anything: create it with "
            f"`runnel gcl create {name} --limit N` (or pass strict=True to fail instead)",
        )


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


@dataclass(frozen=True)
class Pause:
    """How long to wait before the next attempt; ``on_release``: a local release ends it."""

    seconds: float
    on_release: bool


@dataclass
class Acquirer:
    """One caller's attempts: what to ask the store, and how long to pause when denied."""

    names: tuple[str, ...]
    occupy: int
    timeout_seconds: float | None
    strict: bool
    clock: Clock
    lease_duration: float | None = None  # None: a rate limit, no lease
    lease_id: str | None = None
    started: float = 0.0
    backoff: float = BACKOFF_START_SECONDS
    waited: bool = False
    missing: tuple[str, ...] = field(default=())
    # Its place in the limits' queue of waiters: first come, first served across processes.
    waiter_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def make(
        cls,
        names: str | Sequence[str],
        occupy: int,
        timeout_seconds: float | None,
        strict: bool,
        clock: Clock,
        lease_duration: float | None = None,
    ) -> Acquirer:
        """A caller's attempts, its arguments checked here so that mistakes fail at once."""
        if lease_duration is not None:
            lease_duration = validate_lease_duration(lease_duration)
        return cls(
            names=normalize_names(names),
            occupy=validate_occupy(occupy),
            timeout_seconds=validate_timeout(timeout_seconds),
            strict=strict,
            clock=clock,
            lease_duration=lease_duration,
            lease_id=None if lease_duration is None else uuid.uuid4().hex,
            started=clock.monotonic(),
        )

    def check_strict(self, store: Store) -> None:
        """With ``strict``, fail before taking anything when a limit does not exist."""
        if self.strict:
            missing = [n for n in self.names if store.read_limit(n) is None]
            if missing:
                raise LimitNotFound(
                    f"no limit {_quoted(missing)} (strict=True): create it with "
                    f"`runnel gcl create {missing[0]} --limit N`"
                )

    def attempt(self, store: Store) -> Acquisition:
        """One atomic acquire on the store."""
        now = self.clock.now()
        expires = None if self.lease_duration is None else now + self.lease_duration
        return store.acquire_slots(
            self.names,
            self.occupy,
            now,
            self.lease_id,
            expires,
            holder() if expires else "",
            self.waiter_id,
        )

    def after(self, got: Acquisition) -> Pause | None:
        """None when granted; else the pause before the next attempt (AcquireTimeout if none)."""
        if got.granted:
            warn_missing(got.missing)
            self.missing = got.missing
            return None
        blocked = got.blocked or self.names
        remaining = None
        if self.timeout_seconds is not None:
            remaining = self.started + self.timeout_seconds - self.clock.monotonic()
            if remaining <= 0:
                raise AcquireTimeout(
                    f"{self.occupy} slot(s) of limit {_quoted(blocked)} not granted within "
                    f"timeout_seconds={self.timeout_seconds:g}"
                )
        pause = self.pause(got)
        if got.wait_seconds is None:
            message = f"Waiting for a free slot of limit {_quoted(blocked)}"
        else:
            message = f"Waiting {round(got.wait_seconds, 3):g} s for rate limit {_quoted(blocked)}"
        log(logging.DEBUG if self.waited else logging.INFO, message)
        self.waited = True
        if remaining is not None and remaining < pause.seconds:
            return Pause(remaining, pause.on_release)
        return pause

    def pause(self, got: Acquisition) -> Pause:
        """How long to wait after the denied attempt ``got``, by its place in the queue."""
        if got.wait_seconds is None and not got.ahead:
            # Next in line: ask again very soon, so that a freed slot does not stay idle.
            return Pause(HEAD_OF_QUEUE_SECONDS, on_release=True)
        if got.wait_seconds is None:
            seconds, self.backoff = self.backoff, min(self.backoff * 2, BACKOFF_CAP_SECONDS)
            return Pause(seconds, on_release=True)
        self.backoff = BACKOFF_START_SECONDS
        return Pause(pause_seconds(got.wait_seconds), on_release=False)

    def leave_queue(self, store: Store) -> None:
        """Give up this caller's place in the limits' queue (timed out, cancelled, interrupted)."""
        try:
            store.leave_queue(self.waiter_id)
        except Exception as error:  # the place expires by itself within seconds
            log(
                logging.WARNING,
                f"could not leave the queue of limit {_quoted(self.names)}: {error}",
            )

    @property
    def holds_lease(self) -> bool:
        """Whether slots may be held under this caller's lease (some limit was not missing)."""
        return self.lease_id is not None and len(self.missing) < len(self.names)
