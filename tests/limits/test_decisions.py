"""The pure decisions of ``runnel.limits``: decay arithmetic and waits, at explicit times."""

from __future__ import annotations

import math

import pytest

from runnel.exceptions import ConfigurationError
from runnel.limits import (
    MAX_PAUSE_SECONDS,
    Decision,
    check_occupy,
    current_slots,
    decide,
    normalize_names,
    pause_seconds,
    validate_lease_duration,
    validate_name,
)
from runnel.store.base import LimitRecord


def limit(
    name: str, slots: float, size: int, decay: float = 0.0, active: bool = True
) -> LimitRecord:
    return LimitRecord(name, size, active, slots, decay, updated=100.0, created=0.0)


def test_current_slots_decays_lazily_keeping_fractions() -> None:
    record = limit("r", 3.0, 5, decay=0.016)
    assert current_slots(record, 100.0) == 3.0
    assert current_slots(record, 110.0) == pytest.approx(3.0 - 0.16)
    assert current_slots(record, 1000.0) == 0.0
    assert current_slots(record, 90.0) == 3.0  # a clock behind the last writer decays nothing
    assert current_slots(limit("c", 2.0, 2), 1e9) == 2.0


def test_rate_wait_is_exact() -> None:
    assert decide([limit("r", 1.0, 1, decay=10.0)], 1, 100.0) == (
        False,
        pytest.approx(0.1),
        ("r",),
    )
    assert decide([limit("r", 5.0, 5, decay=5.0)], 2, 100.1).wait_seconds == pytest.approx(0.3)
    # The tutorial's limit: 60 taken, one more frees in 1 / 0.016 s.
    granted, wait, _ = decide([limit("github-api", 60.0, 60, decay=0.016)], 1, 100.0)
    assert not granted and wait == pytest.approx(62.5)
    assert decide([limit("r", 1.0, 1, decay=10.0)], 1, 100.1) == Decision(True, 0.0)


def test_all_or_nothing_the_longest_wait_and_who_blocks() -> None:
    records = [limit("a", 1.0, 1, decay=1.0), limit("b", 1.0, 1, decay=4.0), limit("c", 0.0, 1)]
    assert decide(records, 1, 100.0) == Decision(False, 1.0, ("a", "b"))
    assert decide([*records, limit("d", 1.0, 1)], 1, 100.0) == Decision(
        False, None, ("a", "b", "d")
    )
    assert decide([limit("off", 1.0, 1, active=False)], 1, 100.0) == Decision(True, 0.0)


def test_occupy_more_than_a_limit_fails_at_once() -> None:
    with pytest.raises(ConfigurationError, match="occupy=3 is more than limit 'a'"):
        check_occupy([limit("a", 0.0, 2)], 3)
    for bad in (0, -1, 1.5, True, "2", None):
        with pytest.raises(ConfigurationError, match="occupy must be a whole number"):
            check_occupy([limit("a", 0.0, 2)], bad)  # type: ignore[arg-type]


def test_a_tiny_decay_pauses_at_most_the_cap_and_asks_again() -> None:
    granted, wait, _ = decide([limit("slow", 1.0, 1, decay=1e-300)], 1, 100.0)
    assert not granted and wait == pytest.approx(1e300)
    assert pause_seconds(wait) == MAX_PAUSE_SECONDS
    assert pause_seconds(0.25) == 0.25


@pytest.mark.parametrize("name", ["", "  ", "a/b", "100%", "a&b", "a>b", "a<b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ConfigurationError):
        validate_name(name)


def test_names_and_leases() -> None:
    assert validate_name("github-api") == "github-api"
    assert normalize_names("db") == ("db",)
    assert normalize_names(["a", "b", "a"]) == ("a", "b")
    assert validate_lease_duration(1) == 1.0
    assert validate_lease_duration(1e300) == 1e300  # long, but waits on it are capped
    for bad in (0.5, -3, 0, math.inf, math.nan, True, "300", None):
        with pytest.raises(ConfigurationError, match="lease_duration must be a finite number"):
            validate_lease_duration(bad)  # type: ignore[arg-type]
