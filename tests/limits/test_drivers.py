"""``runnel.concurrency.sync`` and ``.asyncio`` in one process, waits driven by a fake clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from runnel import runtime
from runnel.clock import FakeClock
from runnel.concurrency import asyncio as aconc
from runnel.concurrency import sync
from runnel.concurrency._acquirer import holder
from runnel.exceptions import AcquireTimeout, ConfigurationError, LimitNotFound
from runnel.limits import MAX_PAUSE_SECONDS, current_slots
from runnel.store import get_store
from runnel.store.sqlite import SQLiteStore


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


def test_cancelling_callers_during_the_acquire_leaves_no_slot_taken() -> None:
    store = get_store()
    assert isinstance(store, SQLiteStore)
    store.create_limit("db", 1)

    async def hold_forever() -> None:
        async with aconc.concurrency("db"):
            await asyncio.sleep(60)

    async def cancel_after(seconds: float) -> None:
        caller = asyncio.create_task(hold_forever())
        await asyncio.sleep(seconds)
        caller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await caller

    async def main() -> None:
        # At a different moment each time: before, during and after the worker thread's
        # acquire transaction commits.
        for attempt in range(80):
            await cancel_after(attempt % 20 * 0.0005)
        # Surely during: another connection holds the write lock, so the acquire waits for it
        # in its thread, and commits only after its caller has gone; then asyncio.run ends.
        writer = sqlite3.connect(store.path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        try:
            await cancel_after(0.2)
        finally:
            writer.execute("COMMIT")
            writer.close()

    asyncio.run(main())
    assert store.list_leases("db") == []
    assert slots("db", time.time()) == 0.0
    with sync.concurrency("db", timeout_seconds=0.5):  # nobody is queued ahead either
        pass


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"names": None}, "names must be a limit's name or a list of names"),
        ({"names": 3}, "names must be a limit's name"),
        ({"occupy": None}, "occupy must be a whole number of slots >= 1, not None"),
        ({"occupy": "2"}, "occupy must be a whole number"),
        ({"occupy": -1}, "occupy must be a whole number"),
        ({"occupy": 1.0}, "occupy must be a whole number"),
        ({"timeout_seconds": "soon"}, "timeout_seconds must be None (wait as long as it"),
        ({"timeout_seconds": -1}, "timeout_seconds must be None"),
        ({"timeout_seconds": math.nan}, "timeout_seconds must be None"),
    ],
)
def test_bad_arguments_fail_at_once_saying_what_to_pass(
    arguments: dict[str, Any], fragment: str
) -> None:
    get_store().create_limit("db", 2)
    get_store().create_limit("api", 2, slot_decay_per_second=1.0)
    calls = {"names": "db", **arguments}
    rate_calls = {**calls, "names": "api" if calls["names"] == "db" else calls["names"]}
    with pytest.raises(ConfigurationError) as raised, sync.concurrency(**calls):
        pass
    assert fragment in str(raised.value)
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        sync.rate_limit(**rate_calls)

    async def both() -> None:
        with pytest.raises(ConfigurationError, match=re.escape(fragment)):
            async with aconc.concurrency(**calls):
                pass
        with pytest.raises(ConfigurationError, match=re.escape(fragment)):
            await aconc.rate_limit(**rate_calls)

    asyncio.run(both())
    assert get_store().list_leases("db") == []


@pytest.mark.parametrize("lease", [math.inf, math.nan, 0, True, "300"])
def test_a_lease_duration_that_is_not_a_finite_number_of_seconds_is_refused(lease: Any) -> None:
    get_store().create_limit("db", 1)
    with (
        pytest.raises(ConfigurationError, match="lease_duration must be a finite number"),
        sync.concurrency("db", lease_duration=lease),
    ):
        pass


def test_a_huge_lease_is_renewed_without_overflowing_the_renewer() -> None:
    from runnel.concurrency._local import RENEWER

    store = get_store()
    store.create_limit("db", 1)
    with sync.concurrency("db", lease_duration=1e300):
        thread = RENEWER._thread
        assert thread is not None
        time.sleep(0.1)  # the renewer computes its next wait, a third of the lease
        assert thread.is_alive()
        [lease] = store.list_leases("db")
        assert lease.expires > 1e299
    assert store.list_leases("db") == []


def test_a_tiny_decay_sleeps_at_most_the_cap_between_attempts(clock: FakeClock) -> None:
    get_store().create_limit("slow", 1, slot_decay_per_second=1e-300, now=clock.now())
    sync.rate_limit("slow")
    with pytest.raises(AcquireTimeout):
        sync.rate_limit("slow", timeout_seconds=3 * MAX_PAUSE_SECONDS + 1)
    assert clock.slept == [MAX_PAUSE_SECONDS] * 3 + [1.0]


def test_the_holder_is_named_once_per_process_and_anew_in_a_forked_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostname = socket.gethostname()
    lookups: list[str] = []

    def counting_gethostname() -> str:
        lookups.append(hostname)
        return hostname

    monkeypatch.setattr(socket, "gethostname", counting_gethostname)
    assert {holder() for _ in range(5)} == {f"{hostname}:{os.getpid()}"}
    assert len(lookups) <= 1
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        child = os.fork()
    if child == 0:
        os.write(write_end, holder().encode())
        os._exit(0)
    os.close(write_end)
    named = os.read(read_end, 1000).decode()
    os.close(read_end)
    os.waitpid(child, 0)
    assert named == f"{hostname}:{child}"
