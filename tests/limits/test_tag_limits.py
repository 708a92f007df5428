"""Tag limits: tasks tagged ``db`` share the slots of the limit ``tag:db``."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from runnel import flow, task
from runnel.cache_policies import INPUTS
from runnel.concurrency._acquirer import BACKOFF_START_SECONDS, HEAD_OF_QUEUE_SECONDS
from runnel.concurrency.sync import concurrency
from runnel.concurrency.tags import TagGate
from runnel.limits import MAX_PAUSE_SECONDS
from runnel.store import get_store
from runnel.task_runners import ThreadPoolTaskRunner


def _limit(tag: str, slots: int) -> None:
    get_store().create_limit(f"tag:{tag}", slots, now=time.time())


class Gauge:
    """How many callers are inside at once, at most."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0

    def hold(self, seconds: float) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(seconds)
        with self.lock:
            self.inside -= 1


def test_submitted_tasks_share_their_tags_slots_and_wait_visibly() -> None:
    _limit("db", 2)
    gauge = Gauge()

    @task(tags=["db"])
    def query(i: int) -> int:
        gauge.hold(0.2)
        return i

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=8))
    def pipeline() -> list[int]:
        return [f.result() for f in query.map(range(6))]

    started = time.monotonic()
    assert pipeline() == list(range(6))
    assert gauge.most == 2
    assert time.monotonic() - started >= 0.55  # three waves of two
    store = get_store()
    flow_run = store.list_flow_runs(limit=1)[0]
    runs = store.list_task_runs(flow_run.id)
    waited = [
        r for r in runs if "AwaitingConcurrencySlot" in [s.name for s in store.list_states(r.id)]
    ]
    assert waited, "some runs must show that they waited for a slot"
    assert all(r.state_type == "COMPLETED" for r in runs)
    assert get_store().list_leases("tag:db") == []  # every slot was given back
    messages = [line.message for line in store.list_logs(flow_run.id)]
    assert any("Waiting for a slot of concurrency limit 'tag:db'" in m for m in messages)


def test_waiting_runs_hold_no_worker() -> None:
    _limit("slow", 1)
    order: list[str] = []

    @task(tags=["slow"])
    def limited(i: int) -> None:
        time.sleep(0.2)
        order.append(f"limited-{i}")

    @task
    def free() -> None:
        order.append("free")

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def pipeline() -> None:
        futures = limited.map(range(4))
        free.submit().result()  # must not wait behind the runs that wait for a slot
        for f in futures:
            f.result()

    pipeline()
    assert order.index("free") <= 1


def test_direct_calls_take_slots_and_cache_hits_take_none(tmp_path: Path) -> None:
    _limit("api", 1)

    @task(tags=["api"], cache_policy=INPUTS)
    def fetch(x: int) -> int:
        assert len(get_store().list_leases("tag:api")) == 1  # the running call holds it
        return x * 2

    @flow
    def pipeline() -> list[int]:
        return [fetch(1), fetch(1)]

    assert pipeline() == [2, 2]
    store = get_store()
    [miss, hit] = store.list_task_runs(store.list_flow_runs(limit=1)[0].id)
    assert [s.name for s in store.list_states(hit.id)] == ["Pending", "Cached"]
    assert store.list_leases("tag:api") == []


def test_tags_without_limits_never_block() -> None:
    @task(tags=["nolimit"])
    def plain() -> int:
        return 1

    @flow
    def pipeline() -> int:
        return plain() + plain.submit().result()

    assert pipeline() == 2


def test_submitted_cache_hits_take_no_slot_even_when_the_limit_is_full() -> None:
    _limit("full", 1)
    release = threading.Event()

    @task(tags=["full"])
    def blocker() -> None:
        release.wait(5)

    @task(tags=["full"], cache_policy=INPUTS)
    def cached(x: int) -> int:
        return x + 1

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
    def warm() -> int:
        return cached(1)

    assert warm() == 2  # the record now exists

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=4))
    def pipeline() -> int:
        held = blocker.submit()
        time.sleep(0.2)  # the blocker holds the only slot
        answer = cached.submit(1).result(timeout=3)  # a hit: needs no slot
        release.set()
        held.result()
        return answer

    assert pipeline() == 2
    store = get_store()
    runs = store.list_task_runs(store.list_flow_runs(limit=1)[0].id)
    hit = next(r for r in runs if r.task_name == "cached")
    assert [s.name for s in store.list_states(hit.id)] == ["Pending", "Cached"]


def test_a_tag_gate_waits_by_its_place_in_the_queue() -> None:
    _limit("db", 1)
    with concurrency("tag:db"):
        first, second = TagGate(("tag:db",)), TagGate(("tag:db",))
        # Next in line: asks again at once, so that a freed slot does not stay idle.
        assert first.try_acquire() == HEAD_OF_QUEUE_SECONDS
        # One caller ahead of it: backs off, doubling, like every other waiter.
        assert second.try_acquire() == BACKOFF_START_SECONDS
        assert second.try_acquire() == 2 * BACKOFF_START_SECONDS
    assert first.try_acquire() is None  # first come, first served
    assert second.try_acquire() is not None
    first.release()
    assert second.try_acquire() is None
    second.release()
    assert get_store().list_leases("tag:db") == []


def test_a_tag_gate_on_a_crawling_rate_limit_pauses_at_most_the_cap() -> None:
    get_store().create_limit("tag:slow", 1, slot_decay_per_second=1e-300, now=time.time())
    first, second = TagGate(("tag:slow",)), TagGate(("tag:slow",))
    assert first.try_acquire() is None
    assert second.try_acquire() == MAX_PAUSE_SECONDS
    first.release()
