"""Global concurrency and rate limits: the decisions, as pure functions of records and a time.

A limit holds ``limit`` slots. With ``slot_decay_per_second`` > 0 it is a rate limit: taken
slots free themselves continuously at that rate, applied lazily (``current_slots``) whenever
the limit is read, with fractions kept. Without decay it is a concurrency limit: slots stay
taken until their holder releases them or its lease expires. The store takes these decisions
inside one transaction; the drivers in ``runnel.concurrency`` only wait and retry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from runnel.exceptions import ConfigurationError

# Float slack when comparing slots: a caller that slept exactly the computed wait must be
# granted, even when the subtraction lands a few ulps above the limit.
EPSILON = 1e-9
FORBIDDEN_NAME_CHARACTERS = "/%&><"
MIN_LEASE_SECONDS = 1.0
DEFAULT_LEASE_SECONDS = 300.0
TAG_PREFIX = "tag:"  # a task tagged "db" holds a slot of the limit "tag:db" while it runs
MAX_SLOTS = 2**31 - 1  # the slot_limit column is a 32-bit INTEGER on PostgreSQL
# The longest a denied caller sleeps before asking again. A tiny decay or a huge lease can
# compute waits of centuries, which time.sleep and lock timeouts refuse (OverflowError);
# waking now and then to ask again costs one query and also notices a changed limit.
MAX_PAUSE_SECONDS = 60.0


class LimitState(Protocol):
    """What a decision reads of a limit (``runnel.store.base.LimitRecord`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def active(self) -> bool: ...
    @property
    def active_slots(self) -> float: ...
    @property
    def slot_decay_per_second(self) -> float: ...
    @property
    def updated(self) -> float: ...


def current_slots(record: LimitState, now: float) -> float:
    """Slots taken at ``now``: the stored ones minus what decayed since ``updated``."""
    elapsed = max(0.0, now - record.updated)  # a clock behind the last writer decays nothing
    return max(0.0, record.active_slots - record.slot_decay_per_second * elapsed)


def is_rate_limit(record: LimitState) -> bool:
    """Whether slots free themselves (decay) rather than being released."""
    return record.slot_decay_per_second > 0


def check_occupy(records: Iterable[LimitState], occupy: int) -> None:
    """Raise at once when ``occupy`` could never be granted by one of the active limits."""
    validate_occupy(occupy)
    for record in records:
        if record.active and occupy > record.limit:
            raise ConfigurationError(
                f"occupy={occupy} is more than limit '{record.name}' allows ({record.limit} "
                "slots): it could never be granted"
            )


def wait_seconds(record: LimitState, occupy: int, now: float) -> float | None:
    """How long until ``record`` can give ``occupy`` slots (None: until someone releases)."""
    if not is_rate_limit(record):
        return None if current_slots(record, now) + occupy > record.limit + EPSILON else 0.0
    excess = current_slots(record, now) + occupy - record.limit
    return max(0.0, excess / record.slot_decay_per_second)


class Decision(NamedTuple):
    """Whether an acquisition is granted; if not, how long to wait and which limits block."""

    granted: bool
    wait_seconds: float | None  # None: until a holder of a concurrency limit releases
    blocked: tuple[str, ...] = ()


def decide(records: Sequence[LimitState], occupy: int, now: float) -> Decision:
    """Whether every active limit can give ``occupy`` slots now, else how long to wait.

    All or nothing: one blocking limit denies the whole acquisition. The wait is the longest
    rate-limit wait, or None when a concurrency limit blocks (it frees only on release).
    ``occupy`` is one ``check_occupy`` has accepted.
    """
    blocked = tuple(
        r.name for r in records if r.active and current_slots(r, now) + occupy > r.limit + EPSILON
    )
    if not blocked:
        return Decision(True, 0.0)
    waits = [wait_seconds(r, occupy, now) for r in records if r.name in blocked]
    if any(w is None for w in waits):
        return Decision(False, None, blocked)
    return Decision(False, max(w for w in waits if w is not None), blocked)


def pause_seconds(wait: float) -> float:
    """How long to sleep for a computed ``wait``: at most ``MAX_PAUSE_SECONDS``, then ask again."""
    return min(wait, MAX_PAUSE_SECONDS)


def validate_name(name: str) -> str:
    """``name`` if it can name a limit, else a ConfigurationError saying why."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"a limit needs a non-empty name, not {name!r}")
    bad = sorted({c for c in name if c in FORBIDDEN_NAME_CHARACTERS})
    if bad:
        raise ConfigurationError(
            f"limit name {name!r} contains {' '.join(bad)}: a name cannot contain any of "
            f"{' '.join(FORBIDDEN_NAME_CHARACTERS)}"
        )
    return name


def validate_settings(limit: int | None, slot_decay_per_second: float | None) -> None:
    """Raise when a limit's slot count or decay cannot be used."""
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_SLOTS
    ):
        raise ConfigurationError(
            f"a limit must be a whole number of slots from 0 to {MAX_SLOTS}, not {limit!r}"
        )
    if slot_decay_per_second is not None and (
        not isinstance(slot_decay_per_second, int | float)
        or not math.isfinite(slot_decay_per_second)
        or slot_decay_per_second < 0
    ):
        raise ConfigurationError(
            f"slot_decay_per_second must be a number >= 0, not {slot_decay_per_second!r}"
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_lease_duration(seconds: float) -> float:
    """``seconds`` if it can be a lease's length: a finite number of seconds, at least one."""
    if not _is_number(seconds) or not MIN_LEASE_SECONDS <= seconds < math.inf:
        raise ConfigurationError(
            f"lease_duration must be a finite number of seconds, at least "
            f"{MIN_LEASE_SECONDS:g} s (default {DEFAULT_LEASE_SECONDS:g}), not {seconds!r}"
        )
    return float(seconds)


def validate_occupy(occupy: int) -> int:
    """``occupy`` if it is a whole number of slots, at least one."""
    if not isinstance(occupy, int) or isinstance(occupy, bool) or occupy < 1:
        raise ConfigurationError(f"occupy must be a whole number of slots >= 1, not {occupy!r}")
    return occupy


def validate_timeout(seconds: float | None) -> float | None:
    """``timeout_seconds`` if it is None (wait as long as it takes) or a number >= 0."""
    if seconds is not None and (not _is_number(seconds) or not seconds >= 0):
        raise ConfigurationError(
            f"timeout_seconds must be None (wait as long as it takes) or a number of seconds "
            f">= 0, not {seconds!r}"
        )
    return None if seconds is None else float(seconds)


def normalize_names(names: str | Sequence[str]) -> tuple[str, ...]:
    """One name or many as a tuple without duplicates, in the order given."""
    if isinstance(names, str):
        names = [names]
    elif not isinstance(names, Sequence):
        raise ConfigurationError(
            f"names must be a limit's name or a list of names, like 'db' or ['db', 'api'], "
            f"not {names!r}"
        )
    return tuple(dict.fromkeys(validate_name(n) for n in names))
