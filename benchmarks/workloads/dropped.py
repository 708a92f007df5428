"""A flow submitting N trivial tasks without keeping their futures; reports peak RSS growth.

Usage: BENCH_OUT=result.json python dropped.py {runnel|prefect|plain} N

Results are collected as the runs go, at most WINDOW futures behind the newest, so what the
peak holds is what a library keeps per *finished* run, not a queue of N waiting ones. The peak
resident set size is reset after a warm-up flow (Linux ``clear_refs``) and read after the timed
flow; elsewhere the growth of ``ru_maxrss`` stands in for it.
"""

import gc
import resource
import sys
from collections import deque

from common import WORKERS, decorators, pooled_flow, report

LIB = sys.argv[1]
_, task = decorators(LIB)
flow = pooled_flow(LIB)
WINDOW = 2 * WORKERS  # keeps every thread busy while the oldest result is collected


@task
def inc(x):
    return x + 1


@flow
def drop_all(n):
    in_flight = deque()
    for i in range(n):
        in_flight.append(inc.submit(i))
        if len(in_flight) > WINDOW:
            in_flight.popleft().result()
    for future in in_flight:
        future.result()


def peak_rss_kb():
    """The process's peak resident set size, in KB, since the last ``reset_peak``."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1])
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak


def reset_peak():
    """Start measuring the peak from the current resident set (a no-op where unsupported)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass


if __name__ == "__main__":
    n = int(sys.argv[2])
    drop_all(10 * WORKERS)
    gc.collect()
    reset_peak()
    before = peak_rss_kb()
    drop_all(n)
    grown = peak_rss_kb() - before
    report(kb_per_run=grown / n, grown_kb=grown, n=n)
