"""Async tasks on the flow's event loop, and what the thread pool buys in wall time and memory.

The time bounds are several times the ideal, so that a loaded two-core machine passes;
what they catch is running one task after another (seconds), not a slow scheduler.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import subprocess
import sys
import threading
import time

import pytest

from runnel import flow, task
from runnel.store import Store
from runnel.task_runners import ThreadPoolTaskRunner

PATIENCE = 30.0


@task
async def nap(seconds: float) -> asyncio.AbstractEventLoop:
    await asyncio.sleep(seconds)
    return asyncio.get_running_loop()


@task
async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


@task
def thread_name() -> str:
    return threading.current_thread().name


@task
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_async_tasks_run_concurrently_on_the_flows_event_loop() -> None:
    @flow
    async def naps() -> tuple[float, bool]:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        futures = [nap.submit(0.3) for _ in range(10)]
        loops = [await future for future in futures]
        return time.monotonic() - started, all(used is loop for used in loops)

    elapsed, same_loop = asyncio.run(naps())
    assert same_loop
    assert elapsed < 1.0  # 10 x 0.3 s one after another would be 3 s


def test_awaiting_a_future_returns_its_result() -> None:
    @flow
    async def awaited() -> tuple[int, list[int]]:
        first = await double.submit(21)
        return first, [await future for future in double.map([1, 2, 3])]

    assert asyncio.run(awaited()) == (42, [2, 4, 6])


def test_async_tasks_wait_for_their_upstream_futures_on_the_loop() -> None:
    @flow
    async def chain() -> int:
        link = double.submit(1)
        for _ in range(9):
            link = double.submit(link)
        return await link

    assert asyncio.run(chain()) == 2**10


def test_an_async_flow_returns_after_its_dropped_async_tasks_finished(store: Store) -> None:
    @flow
    async def fire_and_forget() -> str:
        nap.submit(0.3)
        return "returned"

    started = time.monotonic()
    assert asyncio.run(fire_and_forget()) == "returned"
    assert time.monotonic() - started >= 0.3
    flow_run = store.list_flow_runs(limit=1)[0]
    states = [(row.task_name, row.state_type) for row in store.list_task_runs(flow_run.id)]
    assert states == [("nap", "COMPLETED")]


def test_sync_tasks_submitted_from_an_async_flow_run_on_the_thread_pool(store: Store) -> None:
    @flow
    async def mixed() -> tuple[list[str], str, list[int]]:
        names = [await future for future in [thread_name.submit() for _ in range(3)]]
        return names, threading.current_thread().name, [await double.submit(1)]

    names, flow_thread, doubled = asyncio.run(mixed())
    assert doubled == [2]
    assert all(name.startswith("runnel-task") for name in names), names
    assert flow_thread not in names
    flow_run = store.list_flow_runs(limit=1)[0]
    runners = {(row.task_name, row.runner) for row in store.list_task_runs(flow_run.id)}
    assert runners == {("thread_name", "thread"), ("double", "event-loop")}


def test_the_default_runner_runs_sixteen_sleeping_tasks_at_once() -> None:
    @flow
    def sixteen() -> float:
        started = time.monotonic()
        for future in sleepy.map([0.5] * 16):
            future.result(timeout=PATIENCE)
        return time.monotonic() - started

    assert sixteen() < 1.5  # one after another: 8 s; the default pool has 32 threads


def test_a_pool_of_twenty_runs_two_hundred_short_tasks_near_the_ideal_time() -> None:
    @flow(task_runner=ThreadPoolTaskRunner(max_workers=20))
    def many() -> float:
        started = time.monotonic()
        for future in sleepy.map([0.01] * 200):
            future.result(timeout=PATIENCE)
        return time.monotonic() - started

    with cf.ThreadPoolExecutor(20) as pool:  # what this machine manages right now, bare
        started = time.monotonic()
        list(pool.map(time.sleep, [0.01] * 200))
        bare = time.monotonic() - started
    elapsed = many()
    # Ideal: 200 x 10 ms / 20 workers = 100 ms; one after another: 2 s. On a loaded machine
    # the bare pool is slow too, hence the bound relative to it.
    assert elapsed < max(0.5, 2.5 * bare), f"{elapsed:.2f} s; a bare pool took {bare:.2f} s"


@task
def meet(barrier: threading.Barrier) -> str:
    barrier.wait(timeout=PATIENCE)  # BrokenBarrierError unless every party runs at once
    return threading.current_thread().name


def test_the_pool_wakes_every_thread_for_runs_that_block_together() -> None:
    """Runs that each wait for all the others need every thread awake at once: the pool wakes
    threads one at a time (a woken thread passes the search on), started and parked alike."""
    parties = 8

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=parties))
    def rounds() -> list[set[str]]:
        seen = []
        for _ in range(3):  # the first round starts the threads, the next ones wake them
            barrier = threading.Barrier(parties)
            futures = meet.map([barrier] * parties)
            seen.append({future.result(timeout=PATIENCE) for future in futures})
            time.sleep(0.05)  # let every thread find the queue empty and park
        return seen

    for names in rounds():
        assert len(names) == parties, names


# Memory is measured in a fresh interpreter: pytest keeps every log record of a test, and
# a "Finished in state ..." record's arguments hold the final state with its result.
MEMORY_PROBE = """
import gc, json, sys, tracemalloc
from runnel import flow, task

count, size, collector = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

@task
def payload(size: int) -> bytes:
    return bytes(size)

@flow
def fan_out(runs: int) -> None:
    for _ in range(runs):
        payload.submit(size)  # dropped at once; the flow still waits for each run

fan_out(50)  # warm up: logging, the store, the recorder thread, the pool's code paths
gc.collect()
if collector == "off":
    gc.disable()
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
fan_out(count)
if collector == "collect":
    gc.collect()
print(json.dumps({"growth": tracemalloc.get_traced_memory()[0] - before}))
"""


def memory_growth(count: int, size: int, collector: str) -> int:
    """Bytes still traced after a flow that dropped ``count`` results of ``size`` bytes."""
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(count), str(size), collector],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    growth: int = json.loads(done.stdout.splitlines()[-1])["growth"]
    return growth


@pytest.mark.slow
def test_a_flow_does_not_keep_the_results_of_dropped_futures() -> None:
    growth = memory_growth(5_000, 100_000, "collect")
    assert growth < 50 * 2**20, f"{growth / 2**20:.1f} MB kept after 5,000 dropped results"


def test_results_of_dropped_futures_are_freed_when_their_runs_end() -> None:
    # Without the cycle collector whatever only it would free stays: deterministic, where in
    # a real process its timing decides how many hundreds of MB a flow holds at a time.
    growth = memory_growth(1_000, 100_000, "off")
    assert growth < 20 * 2**20, f"{growth / 2**20:.1f} MB kept after 1,000 dropped results"
