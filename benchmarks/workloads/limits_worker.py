"""One process sharing a limit: takes it in a loop and reports when it held it.

Usage: BENCH_OUT=result.json python limits_worker.py {runnel|prefect} {rate|hold} NAME SECONDS GO
       BENCH_OUT=result.json python limits_worker.py {runnel|prefect|floor} latency NAME N

``rate`` calls ``rate_limit(NAME)`` in a loop and reports each grant's wall-clock time (taken as
the call returns); ``hold`` loops ``with concurrency(NAME): time.sleep(HOLD_SECONDS)`` and reports
each hold as (entered, leaving), both taken inside the block, so a recorded hold lies within the
real one. Before the loop the process imports its library and makes one call on a limit that does
not exist (opening the store or the API client), creates ``GO.ready-<pid>``, then waits for the
file GO, which holds the wall-clock time at which every process starts; the loop runs SECONDS.

``latency`` times N uncontended ``with concurrency(NAME): pass`` and N ``rate_limit(NAME + "-rate")``
calls in this one process after a warm-up; the floor is a ``threading.Semaphore`` acquire/release.
"""

import importlib
import os
import statistics
import sys
import time
from pathlib import Path

from common import report

HOLD_SECONDS = 0.05
WARM_UP_NAME = "bench-warm-up-no-such-limit"
LATENCY_WARM_UP = 20


def limits_api(lib):
    """``(concurrency, rate_limit)`` of ``lib``; the floor a bare semaphore."""
    if lib == "floor":
        return floor_api()
    module = importlib.import_module(f"{lib}.concurrency.sync")
    return module.concurrency, module.rate_limit


def floor_api():
    """A bare ``threading.Semaphore`` in place of both: its context, and acquire + release."""
    import threading

    semaphore = threading.Semaphore(2)

    def rate_limit(name):
        semaphore.acquire()
        semaphore.release()

    return lambda name: semaphore, rate_limit


def wait_for_go(go):
    """Say this process is ready, then sleep until the start time the driver writes to ``go``."""
    Path(f"{go}.ready-{os.getpid()}").touch()
    while not os.path.exists(go):
        time.sleep(0.001)
    start = float(Path(go).read_text())
    time.sleep(max(0.0, start - time.time()))
    return start


def take_rate(rate_limit, name, seconds, go):
    rate_limit(WARM_UP_NAME)
    end = wait_for_go(go) + seconds
    grants = []
    while time.time() < end:
        rate_limit(name)
        grants.append(time.time())
    return {"grants": grants}


def take_slots(concurrency, name, seconds, go):
    with concurrency(WARM_UP_NAME):
        pass
    end = wait_for_go(go) + seconds
    holds = []
    while time.time() < end:
        with concurrency(name):
            entered = time.time()
            time.sleep(HOLD_SECONDS)
            holds.append((entered, time.time()))
    return {"holds": holds}


def median_micros(call, n):
    for _ in range(LATENCY_WARM_UP):
        call()
    took = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        took.append(time.perf_counter() - start)
    return statistics.median(took) * 1e6


def latency(concurrency, rate_limit, name, n):
    def hold():
        with concurrency(name):
            pass

    return {
        "concurrency_us": median_micros(hold, n),
        "rate_limit_us": median_micros(lambda: rate_limit(f"{name}-rate"), n),
    }


if __name__ == "__main__":
    lib, mode, name = sys.argv[1], sys.argv[2], sys.argv[3]
    concurrency, rate_limit = limits_api(lib)
    if mode == "rate":
        report(**take_rate(rate_limit, name, float(sys.argv[4]), sys.argv[5]))
    elif mode == "hold":
        report(**take_slots(concurrency, name, float(sys.argv[4]), sys.argv[5]))
    else:
        report(**latency(concurrency, rate_limit, name, int(sys.argv[4])))
