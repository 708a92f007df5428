"""A flow calling one cached task with N distinct inputs; reports the seconds the timed call took.

Usage: BENCH_OUT=result.json python cached.py {runnel|prefect|floor} {miss|hit} N

Run ``miss`` then ``hit`` as two processes sharing one home: the first computes every input and
writes its record, the second, a new process, finds them all and computes nothing (checked). A
short warm-up flow on other inputs runs first in both, so one-off costs (imports, opening the
history, Prefect starting its temporary server) stay out of the per-task figure.

The floor does by hand what any disk cache must: for a miss, cloudpickle the value, sha256 it
and write digest + bytes atomically (temporary file, then rename); for a hit, read the file,
check the sha256 and unpickle.
"""

import os
import sys
import time

from common import report

WARM_UP = range(-10, 0)
computed = 0


def compute(x):
    global computed
    computed += 1
    return {"input": x, "double": 2 * x}


def cached_flow(lib):
    """The flow of ``lib``: one cached task (INPUTS) called once per input."""
    if lib == "runnel":
        from runnel import flow, task
        from runnel.cache_policies import INPUTS

        cached = task(cache_policy=INPUTS)(compute)
    else:
        from prefect import flow, task
        from prefect.cache_policies import INPUTS

        # Prefect caches only what it persists. A cache policy turns persistence on in 3.x,
        # but settings can turn it off; said explicitly, the workload cannot depend on them.
        cached = task(cache_policy=INPUTS, persist_result=True)(compute)

    @flow
    def pipeline(inputs):
        for x in inputs:
            cached(x)

    return pipeline


def floor_flow(phase):
    import hashlib
    from pathlib import Path

    import cloudpickle

    directory = Path(os.environ["RUNNEL_HOME"]) / "floor"
    directory.mkdir(parents=True, exist_ok=True)

    def write_all(inputs):
        for x in inputs:
            blob = cloudpickle.dumps(compute(x))
            temporary = directory / f".{x}.tmp"
            temporary.write_bytes(hashlib.sha256(blob).digest() + blob)
            os.replace(temporary, directory / str(x))

    def read_all(inputs):
        for x in inputs:
            data = (directory / str(x)).read_bytes()
            digest, blob = data[:32], data[32:]
            if hashlib.sha256(blob).digest() != digest:
                raise ValueError(f"record {x} is damaged")
            cloudpickle.loads(blob)

    return write_all if phase == "miss" else read_all


if __name__ == "__main__":
    lib, phase, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    run = floor_flow(phase) if lib == "floor" else cached_flow(lib)
    run(WARM_UP)
    start = time.perf_counter()
    run(range(n))
    seconds = time.perf_counter() - start
    expected = len(WARM_UP) + n if phase == "miss" else 0
    assert computed == expected, f"{lib} {phase}: computed {computed} values, expected {expected}"
    report(seconds=seconds, n=n)
