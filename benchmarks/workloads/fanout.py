"""A flow submitting N tasks and collecting their results; reports the seconds the timed call took.

Usage: BENCH_OUT=result.json python fanout.py {runnel|prefect|plain} {inc|nap} N

``inc`` is a trivial task (what submitting costs); ``nap`` sleeps 10 ms (how well the pool of
WORKERS threads is kept busy). Every library gets WORKERS threads: runnel its default runner,
Prefect ThreadPoolTaskRunner(max_workers=WORKERS), plain a bare ThreadPoolExecutor. A short
warm-up flow runs first, as in loop.py; the timed call includes starting and shutting down the
pool and writing the history.
"""

import sys
import time

from common import WORKERS, decorators, pooled_flow, report

LIB = sys.argv[1]
_, task = decorators(LIB)
flow = pooled_flow(LIB)
NAP_SECONDS = 0.010


@task
def inc(x):
    return x + 1


@task
def nap(x):
    time.sleep(NAP_SECONDS)
    return x


@flow
def fan_out(work, n):
    futures = [work.submit(i) for i in range(n)]
    return [future.result() for future in futures]


if __name__ == "__main__":
    work = {"inc": inc, "nap": nap}[sys.argv[2]]
    n = int(sys.argv[3])
    fan_out(work, WORKERS)
    start = time.perf_counter()
    results = fan_out(work, n)
    seconds = time.perf_counter() - start
    assert len(results) == n
    report(seconds=seconds, n=n)
