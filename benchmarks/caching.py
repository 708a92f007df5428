"""Caching benchmarks: what a cached task costs when it misses and writes, and when it hits.

Each measurement is a pair of fresh processes sharing one home (workloads/cached.py): the first
runs a flow calling a ``cache_policy=INPUTS`` task on N distinct inputs (every call a miss that
writes a record), the second runs the same flow (every call a hit, nothing computed). Prefect's
task also says ``persist_result=True`` (a cache policy implies it, but settings can turn it off)
and keeps its records in its default local storage under the fresh PREFECT_HOME. Both processes
run a warm-up flow first, so Prefect's temporary server starts before the timed flow.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import tempfile
from functools import partial
from pathlib import Path

from harness import Config, Row, _spawn, _why_it_failed, clean_env

N = 1_000


def miss_and_hit(config: Config) -> list[Row]:
    """µs per task of N misses (with writes), then of N hits in a new process; floor: by hand."""
    reps = config.reps(3)
    ours_miss, ours_hit = _medians(config.python, "runnel", N, reps)
    floor_miss, floor_hit = _medians(config.python, "floor", N, reps)
    measured = functools.cache(partial(_medians, lib="prefect", n=N, reps=reps))
    peer_miss = config.peer(lambda python: measured(python)[0])
    peer_hit = None if peer_miss is None else config.peer(lambda python: measured(python)[1])
    config.notes.append(
        "Cached-task floor, per task: a miss is cloudpickle.dumps + sha256 + a temporary file "
        "renamed into place (no fsync); a hit is one file read + sha256 check + "
        "cloudpickle.loads. runnel's figures include its whole task run (states, log line, "
        "history) and its miss fsyncs the record and its directory."
    )
    return [
        Row(f"cached task miss + write, N={N:,}", ours_miss, floor_miss, peer_miss,
            "µs/task", "- (no budget)", None),
        Row(f"cached task hit, new process, N={N:,}", ours_hit, floor_hit, peer_hit,
            "µs/task", "< 3x floor = read + sha256 + unpickle", ours_hit < 3 * floor_hit),
    ]  # fmt: skip


def _medians(python: str, lib: str, n: int, reps: int) -> tuple[float, float]:
    """Median µs per task of the miss process and of the hit process, over ``reps`` pairs."""
    _pair(python, lib, n)  # compiles bytecode, warms the OS file cache
    misses, hits = zip(*(_pair(python, lib, n) for _ in range(reps)), strict=True)
    return statistics.median(misses), statistics.median(hits)


def _pair(python: str, lib: str, n: int) -> tuple[float, float]:
    """µs per task of a miss process, then of a hit process in the same fresh home."""
    with tempfile.TemporaryDirectory(prefix="runnel-bench-") as home:
        return _micros(python, lib, "miss", n, home), _micros(python, lib, "hit", n, home)


def _micros(python: str, lib: str, phase: str, n: int, home: str) -> float:
    out = Path(home) / f"{phase}.json"
    env = clean_env(home)
    env["BENCH_OUT"] = str(out)
    done = _spawn(python, ["cached.py", lib, phase, str(n)], env, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(_diagnose(python, lib, phase, n))
    return json.loads(out.read_text())["seconds"] / n * 1e6


def _diagnose(python: str, lib: str, phase: str, n: int) -> str:
    """The end of the error output of ``phase``, run again untimed in another fresh home."""
    with tempfile.TemporaryDirectory(prefix="runnel-bench-") as home:
        env = clean_env(home)
        env["BENCH_OUT"] = os.devnull
        if phase == "hit":  # the records the hit process expects
            _spawn(python, ["cached.py", lib, "miss", str(n)], env, stderr=subprocess.DEVNULL)
        return _why_it_failed(python, ["cached.py", lib, phase, str(n)], env)
