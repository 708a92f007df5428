"""In-process benchmarks: what orchestrating one task run costs."""

from __future__ import annotations

from functools import partial

from harness import Config, Row, median_reported


def per_task(config: Config) -> list[Row]:
    """A flow calling a trivial task N times, per task; the floor is a plain call loop."""
    reps = config.reps(3)
    rows = []
    for n in (1_000,) if config.quick else (1_000, 10_000):
        ours = _micros(config.python, "runnel", n, reps)
        floor = _micros(config.python, "plain", n, reps)
        peer = config.peer(partial(_micros, lib="prefect", n=n, reps=reps))
        rows.append(
            Row(f"per-task overhead, N={n:,}", ours, floor, peer, "µs/task", "< 100 µs", ours < 100)
        )
    return rows


def _micros(python: str, lib: str, n: int, reps: int) -> float:
    """Median µs per task over ``reps`` fresh processes, each timing one flow of ``n`` tasks."""
    return median_reported(python, ["loop.py", lib, str(n)], "seconds", reps) / n * 1e6
