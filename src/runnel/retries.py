"""Retry decisions: how many, after how long, and whether a server asked for more patience."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from runnel.exceptions import ConfigurationError

RetryDelay = float | int | Sequence[float] | Callable[[int], Any]


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """A ``retry_delay_seconds`` callable: ``factor``, ``2*factor``, ``4*factor``, ..."""
    if backoff_factor < 0:
        raise ConfigurationError("exponential_backoff: backoff_factor must be 0 or more")

    def delays(retries: int) -> list[float]:
        return [backoff_factor * 2**attempt for attempt in range(retries)]

    return delays


def check_retry_options(retries: int, delay: RetryDelay, jitter: float | None) -> None:
    """Refuse retry options that cannot work, at decoration time."""
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ConfigurationError(f"retries={retries!r}: use a whole number of 0 or more")
    if jitter is not None and (not isinstance(jitter, int | float) or jitter < 0):
        raise ConfigurationError(f"retry_jitter_factor={jitter!r}: use a number of 0 or more")
    if callable(delay):
        return
    values = list(delay) if isinstance(delay, list | tuple) else [delay]
    for value in values:
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ConfigurationError(
                f"retry_delay_seconds={delay!r}: use seconds (>= 0), a list of them, or a callable"
            )


def delay_schedule(delay: RetryDelay, retries: int) -> list[float]:
    """The base delay before each of ``retries`` retries (before jitter)."""
    if retries <= 0:
        return []
    if callable(delay):
        produced = delay(retries)
        values = list(produced) if isinstance(produced, list | tuple) else [produced]
    elif isinstance(delay, list | tuple):
        values = list(delay)
    else:
        values = [delay]
    if not values:
        values = [0.0]
    # A list shorter than the retries repeats its last delay.
    values = values + [values[-1]] * (retries - len(values))
    return [float(v) for v in values[:retries]]


def apply_jitter(
    delay: float, jitter_factor: float | None, rng: random.Random | None = None
) -> float:
    """A delay ``d`` becomes a random value in ``[d, d * (1 + jitter_factor)]``."""
    if not jitter_factor or delay <= 0:
        return delay
    return delay * (1.0 + (rng or random).random() * jitter_factor)


def retry_after_seconds(error: BaseException, now: float) -> float | None:
    """The wait a server asked for in a ``Retry-After`` header of a 429 or 503 answer, if any."""
    response = getattr(error, "response", None)
    if response is None and hasattr(error, "headers") and hasattr(error, "code"):
        response = error  # urllib.error.HTTPError is its own response
    if response is None:
        return None
    status = getattr(response, "status_code", None) or getattr(response, "code", None)
    if status not in (429, 503):
        return None
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("Retry-After")
    except Exception:
        return None
    if not value:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def next_retry_delay(
    *,
    attempt: int,
    delay: RetryDelay,
    retries: int,
    jitter_factor: float | None,
    error: BaseException | None,
    now: float,
    retry_after_cap: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    base = delay_schedule(delay, retries)[attempt - 1]
    wait = apply_jitter(base, jitter_factor, rng)
    if error is not None:
        asked = retry_after_seconds(error, now)
        if asked is not None:
            wait = max(wait, min(asked, retry_after_cap))
    return wait
