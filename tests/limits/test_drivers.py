"""``runnel.concurrency.sync`` and ``.asyncio`` in one process, waits driven by a fake clock."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator

import pytest

from runnel import runtime
from runnel.clock import FakeClock
from runnel.concurrency import asyncio as aconc
from runnel.concurrency import sync
from runnel.exceptions import AcquireTimeout, ConfigurationError, LimitNotFound
from runnel.limits import current_slots
from runnel.store import get_store


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock()
    previous = runtime.use_clock(fake)
    yield fake
    runtime.use_clock(previous)


def slots(name: str, now: float) -> float:
    record = get_store().read_limit(name)
    assert record is not None
    return current_slots(record, now)


def test_rate_limit_sleeps_the_computed_wait(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    get_store().create_limit("github-api", 2, slot_decay_per_second=4.0, now=clock.now())
    caplog.set_level(logging.INFO, "runnel.limits")
    for _ in range(5):
        sync.rate_limit("github-api")
    # Two at once, then one every 1/4 s: exactly three waits of 0.25 s, no polling.
    assert clock.slept == pytest.approx([0.25, 0.25, 0.25])
    assert "Waiting 0.25 s for rate limit 'github-api'" in caplog.text


def test_async_rate_limit_sleeps_the_computed_wait(clock: FakeClock) -> None:
    get_store().create_limit("api", 1, slot_decay_per_second=2.0, now=clock.now())

    async def main() -> None:
        for _ in range(3):
            await aconc.rate_limit(["api"])

    asyncio.run(main())
    assert clock.slept == pytest.approx([0.5, 0.5])


def test_occupy_and_multiple_limits(clock: FakeClock) -> None:
    store = get_store()
    store.create_limit("a", 4, slot_decay_per_second=1.0, now=clock.now())
    store.create_limit("b", 4, slot_decay_per_second=2.0, now=clock.now())
    sync.rate_limit(["a", "b"], occupy=4)
    sync.rate_limit(["a", "b"], occupy=2)
    assert clock.slept == pytest.approx([2.0])  # "a" is the slower one
    with pytest.raises(ConfigurationError, match="occupy=5"):
        sync.rate_limit("a", occupy=5)


def test_missing_limit_warns_once_and_does_not_block(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        sync.rate_limit("nowhere-1")
        with sync.concurrency("nowhere-1"):
            pass
    warnings = [r for r in caplog.records if "nowhere-1" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    with pytest.raises(LimitNotFound, match="nowhere-1"):
        sync.rate_limit("nowhere-1", strict=True)
    with pytest.raises(LimitNotFound), sync.concurrency(["nowhere-1"], strict=True):
        pass


def test_timeout_names_the_limit(clock: FakeClock) -> None:
    get_store().create_limit("slow", 1, slot_decay_per_second=0.1, now=clock.now())
    sync.rate_limit("slow")
    with pytest.raises(AcquireTimeout, match="'slow'") as raised:
        sync.rate_limit("slow", timeout_seconds=3)
    assert isinstance(raised.value, TimeoutError)
    assert sum(clock.slept) == pytest.approx(3.0)


def test_concurrency_releases_on_exceptions() -> None:
    store = get_store()
    store.create_limit("db", 1)
    with pytest.raises(RuntimeError), sync.concurrency("db"):
        assert len(store.list_leases("db")) == 1
        raise RuntimeError("boom")
    assert store.list_leases("db") == []
    record = store.read_limit("db")
    assert record is not None and record.active_slots == 0.0


def test_concurrency_timeout_and_local_release_wakes_a_waiter() -> None:
    get_store().create_limit("db", 1)
    with sync.concurrency("db"), pytest.raises(AcquireTimeout, match="'db'"):
        with sync.concurrency("db", timeout_seconds=0.05):
            pass
    got = threading.Event()

    def other() -> None:
        with sync.concurrency("db"):
            got.set()

    with sync.concurrency("db"):
        thread = threading.Thread(target=other)
        thread.start()
        assert not got.wait(0.3)  # the waiter is at its 250 ms backoff cap by now
    assert got.wait(0.1)  # woken by the release, not by its next poll
    thread.join()


def test_lease_duration_below_one_second_is_refused() -> None:
    get_store().create_limit("db", 1)
    with (
        pytest.raises(ConfigurationError, match="lease_duration"),
        sync.concurrency("db", lease_duration=0.5),
    ):
        pass
    with sync.concurrency("db", lease_duration=1):
        pass


def test_async_concurrency_holds_and_releases() -> None:
    store = get_store()
    store.create_limit("db", 2)
    peak = 0
    holding = 0

    async def one() -> None:
        nonlocal peak, holding
        async with aconc.concurrency("db"):
            holding += 1
            peak = max(peak, holding)
            await asyncio.sleep(0.02)
            holding -= 1

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(6)))

    asyncio.run(main())
    assert peak == 2 and store.list_leases("db") == []


def test_rate_limit_refuses_a_concurrency_limit() -> None:
    get_store().create_limit("db", 2)
    with pytest.raises(ConfigurationError, match="no slot decay"):
        sync.rate_limit("db")
