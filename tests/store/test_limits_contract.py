"""The limits part of the ``Store`` contract, on SQLite and PostgreSQL, with explicit times."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.store import test_contract

from runnel.exceptions import ConfigurationError
from runnel.limits import MAX_PAUSE_SECONDS, current_slots
from runnel.store.base import Acquisition, LimitRecord, Store
from runnel.store.migrations import LATEST
from runnel.store.sql import WAITER_TTL_SECONDS
from runnel.store.sqlite import SQLiteStore

# The same fixtures as the rest of the contract: a fresh SQLite file, or a PostgreSQL schema.
open_store = test_contract.open_store
store = test_contract.store

T0 = 1_000.0


def slots(store: Store, name: str, now: float) -> float:
    record = store.read_limit(name)
    assert record is not None
    return current_slots(record, now)


def test_schema_has_limits(store: Store) -> None:
    assert store.schema_version() == LATEST >= 2


def test_create_read_list_update_delete(store: Store) -> None:
    made = store.create_limit("github-api", 60, slot_decay_per_second=0.016, now=T0)
    assert made == LimitRecord("github-api", 60, True, 0.0, 0.016, T0, T0)
    store.create_limit("db", 2, active=False, now=T0)
    assert store.read_limit("github-api") == made
    assert [r.name for r in store.list_limits()] == ["db", "github-api"]
    assert store.read_limit("nope") is None

    changed = store.update_limit("db", T0 + 1, limit=5, active=True)
    assert (changed.limit, changed.active, changed.slot_decay_per_second) == (5, True, 0.0)
    assert store.read_limit("db") == changed
    assert store.update_limit("db", T0 + 2, active=False).active is False

    assert store.delete_limit("db") is True
    assert store.delete_limit("db") is False
    assert [r.name for r in store.list_limits()] == ["github-api"]


def test_errors(store: Store) -> None:
    store.create_limit("x", 1, now=T0)
    with pytest.raises(ConfigurationError, match="limit 'x' exists"):
        store.create_limit("x", 3, now=T0)
    with pytest.raises(ConfigurationError, match="no limit 'y'"):
        store.update_limit("y", T0, limit=3)
    with pytest.raises(ConfigurationError, match="no limit 'y'"):
        store.reset_limit("y", T0)
    for bad_limit in (-1, 1.5):
        with pytest.raises(ConfigurationError, match="whole number"):
            store.create_limit("z", bad_limit, now=T0)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="slot_decay_per_second"):
        store.create_limit("z", 1, slot_decay_per_second=-1.0, now=T0)
    for bad_name in ("", "a/b", "50%", "a&b", "a>b", "a<b"):
        with pytest.raises(ConfigurationError):
            store.create_limit(bad_name, 1, now=T0)
    with pytest.raises(ConfigurationError, match="whole number"):
        store.update_limit("x", T0, limit=-2)
    assert store.read_limit("z") is None and store.read_limit("x") == LimitRecord(
        "x", 1, True, 0.0, 0.0, T0, T0
    )


def test_decay_is_lazy_and_keeps_fractions(store: Store) -> None:
    store.create_limit("rate", 3, slot_decay_per_second=0.5, now=T0)
    for _ in range(3):
        assert store.acquire_slots(["rate"], 1, T0).granted
    denied = store.acquire_slots(["rate"], 1, T0)
    assert denied == Acquisition(False, 2.0, blocked=("rate",))  # (3 + 1 - 3) / 0.5
    assert slots(store, "rate", T0 + 0.5) == pytest.approx(2.75)
    # 0.3 s later 0.15 slots have freed: the wait is exactly what is left.
    assert store.acquire_slots(["rate"], 1, T0 + 0.3).wait_seconds == pytest.approx(1.7)
    assert store.acquire_slots(["rate"], 1, T0 + 2.0).granted
    assert slots(store, "rate", T0 + 2.0) == pytest.approx(3.0)
    assert slots(store, "rate", T0 + 100) == 0.0
    # An update first applies the decay at the old rate.
    changed = store.update_limit("rate", T0 + 3.0, slot_decay_per_second=0.25)
    assert changed.active_slots == pytest.approx(2.5) and changed.updated == T0 + 3.0
    assert slots(store, "rate", T0 + 5.0) == pytest.approx(2.0)


def test_occupy_more_than_the_limit_fails_at_once(store: Store) -> None:
    store.create_limit("rate", 2, slot_decay_per_second=1.0, now=T0)
    with pytest.raises(ConfigurationError, match="occupy=3 is more than limit 'rate'"):
        store.acquire_slots(["rate"], 3, T0)
    with pytest.raises(ConfigurationError, match="occupy"):
        store.acquire_slots(["rate"], 0, T0)


def test_acquire_is_all_or_nothing(store: Store) -> None:
    store.create_limit("a", 2, now=T0)
    store.create_limit("b", 1, now=T0)
    first = store.acquire_slots(["a", "b"], 1, T0, "lease-1", T0 + 60, "box:1")
    assert first.granted and first.wait_seconds is None
    second = store.acquire_slots(["a", "b"], 1, T0, "lease-2", T0 + 60, "box:2")
    assert second == Acquisition(False, None, blocked=("b",))
    assert slots(store, "a", T0) == 1.0 and slots(store, "b", T0) == 1.0
    assert [(x.id, x.limit_name, x.slots, x.holder) for x in store.list_leases("a")] == [
        ("lease-1", "a", 1, "box:1")
    ]
    store.release_slots("lease-1", T0 + 1)
    assert slots(store, "a", T0 + 1) == 0.0 and slots(store, "b", T0 + 1) == 0.0
    assert store.list_leases("a") == [] and store.list_leases("b") == []
    store.release_slots("lease-1", T0 + 1)  # twice: nothing more
    assert slots(store, "a", T0 + 1) == 0.0
    assert store.acquire_slots(["a", "b"], 1, T0 + 1, "lease-2", T0 + 60).granted


def test_rate_wait_is_the_longest_of_the_blocking_limits(store: Store) -> None:
    store.create_limit("slow", 1, slot_decay_per_second=0.5, now=T0)
    store.create_limit("fast", 1, slot_decay_per_second=4.0, now=T0)
    assert store.acquire_slots(["slow", "fast"], 1, T0).granted
    denied = store.acquire_slots(["fast", "slow"], 1, T0)
    assert (denied.granted, denied.wait_seconds) == (False, 2.0)
    assert set(denied.blocked) == {"slow", "fast"}


def test_missing_and_inactive_limits_never_block(store: Store) -> None:
    store.create_limit("off", 1, active=False, now=T0)
    store.create_limit("on", 1, slot_decay_per_second=1.0, now=T0)
    for _ in range(2):
        got = store.acquire_slots(["ghost", "off"], 5, T0, "lease", T0 + 60)
        assert got == Acquisition(True, None, missing=("ghost",), inactive=("off",))
    assert slots(store, "off", T0) == 0.0 and store.list_leases("off") == []
    got = store.acquire_slots(["on", "ghost"], 1, T0)
    assert got.granted and got.missing == ("ghost",)


def test_rate_limit_use_of_a_concurrency_limit_is_refused(store: Store) -> None:
    store.create_limit("db", 2, now=T0)
    with pytest.raises(ConfigurationError, match="no slot decay"):
        store.acquire_slots(["db"], 1, T0)
    assert slots(store, "db", T0) == 0.0


def test_expired_leases_are_reclaimed_and_renewed_ones_are_not(store: Store) -> None:
    store.create_limit("db", 2, now=T0)
    assert store.acquire_slots(["db"], 1, T0, "dead", T0 + 1, "box:1").granted
    assert store.acquire_slots(["db"], 1, T0, "alive", T0 + 1, "box:2").granted
    assert not store.acquire_slots(["db"], 1, T0 + 0.5, "late", T0 + 10).granted
    assert store.renew_lease("alive", T0 + 5) is True
    # At T0 + 2 the dead holder's lease has expired: its slot goes to the next acquirer.
    assert store.acquire_slots(["db"], 1, T0 + 2, "late", T0 + 10, "box:3").granted
    assert sorted(x.id for x in store.list_leases("db")) == ["alive", "late"]
    assert slots(store, "db", T0 + 2) == 2.0
    assert store.renew_lease("dead", T0 + 20) is False
    store.release_slots("dead", T0 + 2)  # reclaimed: releasing it frees nothing more
    assert slots(store, "db", T0 + 2) == 2.0
    assert not store.acquire_slots(["db"], 1, T0 + 3, "other", T0 + 10).granted


def test_reset_frees_everything(store: Store) -> None:
    store.create_limit("db", 1, now=T0)
    assert store.acquire_slots(["db"], 1, T0, "lease", T0 + 60).granted
    store.reset_limit("db", T0 + 1)
    assert slots(store, "db", T0 + 1) == 0.0 and store.list_leases("db") == []
    assert store.acquire_slots(["db"], 1, T0 + 1, "next", T0 + 60).granted


def test_delete_drops_leases(store: Store) -> None:
    store.create_limit("db", 1, now=T0)
    assert store.acquire_slots(["db"], 1, T0, "lease", T0 + 60).granted
    assert store.delete_limit("db")
    assert store.list_leases("db") == []
    assert store.renew_lease("lease", T0 + 100) is False


def test_two_stores_share_limits(open_store: test_contract.Opener) -> None:
    one, two = open_store(), open_store()
    one.create_limit("db", 1, now=T0)
    assert one.acquire_slots(["db"], 1, T0, "a", T0 + 60).granted
    assert not two.acquire_slots(["db"], 1, T0, "b", T0 + 60).granted
    one.release_slots("a", T0 + 1)
    assert two.acquire_slots(["db"], 1, T0 + 1, "b", T0 + 60).granted


def test_waiters_are_served_first_come_first_served(store: Store) -> None:
    store.create_limit("q", 1, now=0.0)
    assert store.acquire_slots(["q"], 1, 1.0, "holder", 100.0, "h", "w-holder").granted
    first = store.acquire_slots(["q"], 1, 2.0, "first", 100.0, "h", "w-first")
    second = store.acquire_slots(["q"], 1, 2.5, "second", 100.0, "h", "w-second")
    assert not first.granted and not second.granted
    store.release_slots("holder", 3.0)
    # The slot is free, but the caller who came first is still waiting for it.
    assert not store.acquire_slots(["q"], 1, 3.2, "second", 100.0, "h", "w-second").granted
    assert store.acquire_slots(["q"], 1, 3.3, "first", 100.0, "h", "w-first").granted
    store.release_slots("first", 3.5)
    assert store.acquire_slots(["q"], 1, 3.6, "second", 100.0, "h", "w-second").granted


def test_a_waiter_that_stopped_asking_loses_its_place(store: Store) -> None:
    store.create_limit("q", 1, now=0.0)
    assert store.acquire_slots(["q"], 1, 1.0, "holder", 100.0, "h", "w-holder").granted
    assert not store.acquire_slots(["q"], 1, 2.0, "gone", 100.0, "h", "w-gone").granted
    store.release_slots("holder", 3.0)
    # 'gone' died: its place lapses a few seconds after it last asked.
    assert not store.acquire_slots(["q"], 1, 3.0, "next", 100.0, "h", "w-next").granted
    assert store.acquire_slots(["q"], 1, 10.0, "next", 100.0, "h", "w-next").granted


def test_rate_limit_waits_count_the_callers_ahead(store: Store) -> None:
    store.create_limit("r", 1, slot_decay_per_second=1.0, now=0.0)
    assert store.acquire_slots(["r"], 1, 0.0, waiter_id="a").granted
    b = store.acquire_slots(["r"], 1, 0.1, waiter_id="b")
    c = store.acquire_slots(["r"], 1, 0.2, waiter_id="c")
    assert b.wait_seconds == pytest.approx(0.9)
    assert c.wait_seconds == pytest.approx(1.8)  # behind b, not beside it


def test_a_waiter_that_leaves_the_queue_holds_back_nobody(store: Store) -> None:
    store.create_limit("q", 1, now=0.0)
    assert store.acquire_slots(["q"], 1, 1.0, "holder", 100.0, "h", "w-holder").granted
    assert not store.acquire_slots(["q"], 1, 2.0, "gone", 100.0, "h", "w-gone").granted
    store.leave_queue("w-gone")  # cancelled, or timed out
    store.leave_queue("w-gone")  # twice: nothing more
    store.release_slots("holder", 3.0)
    assert store.acquire_slots(["q"], 1, 3.0, "next", 100.0, "h", "w-next").granted


def test_a_dead_waiter_of_a_crawling_rate_limit_loses_its_place_after_the_longest_pause(
    store: Store,
) -> None:
    store.create_limit("crawl", 1, slot_decay_per_second=1e-300, now=0.0)
    assert store.acquire_slots(["crawl"], 1, 0.0, waiter_id="a").granted
    gone = store.acquire_slots(["crawl"], 1, 1.0, waiter_id="gone")
    assert gone.wait_seconds == pytest.approx(1e300) and gone.ahead == 0
    # 'gone' would have asked again after MAX_PAUSE_SECONDS at the latest: it died instead.
    later = 1.0 + MAX_PAUSE_SECONDS + WAITER_TTL_SECONDS + 1
    assert store.acquire_slots(["crawl"], 1, later, waiter_id="next").ahead == 0


def test_an_attempt_reads_the_callers_place_in_the_queue_once(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runnel.db")
    try:
        store.create_limit("q", 1, now=T0)
        assert store.acquire_slots(["q"], 1, T0, "holder", T0 + 60, "h", "w-holder").granted
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        got = store.acquire_slots(["q"], 1, T0 + 1, "next", T0 + 60, "h", "w-next")
        store._conn.set_trace_callback(None)
        assert got == Acquisition(False, None, blocked=("q",))
        assert sum("MIN(since)" in statement for statement in statements) == 1
    finally:
        store.close()
