"""A flow calling one trivial task N times; reports the seconds the timed flow call took.

Usage: BENCH_OUT=result.json python loop.py {runnel|prefect|plain} N

A short warm-up flow runs first so one-off costs (opening the history, Prefect starting its
temporary server) stay out of the per-task figure; the timed call still includes writing the
history, which a flow flushes before it returns.
"""

import sys
import time

from common import decorators, report

flow, task = decorators(sys.argv[1])


@task
def inc(x):
    return x + 1


@flow
def repeat(n):
    for i in range(n):
        inc(i)
    return n


if __name__ == "__main__":
    n = int(sys.argv[2])
    repeat(10)
    start = time.perf_counter()
    repeat(n)
    report(seconds=time.perf_counter() - start, n=n)
