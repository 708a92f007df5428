"""Concurrency benchmarks: what ``Task.submit`` costs, how busy it keeps its threads, what it keeps.

Every library gets the same 32 threads (workloads/common.py WORKERS): runnel its default
ThreadPoolTaskRunner, Prefect ThreadPoolTaskRunner(max_workers=32) because its default is
unbounded, and the floor a bare ``concurrent.futures.ThreadPoolExecutor(32)``.
"""

from __future__ import annotations

from functools import partial

from harness import Config, Row, median_reported

#: Prefect takes ~9 ms per submitted task on a 2-CPU machine (one 10,000-task flow: 89 s); three
#: fresh processes of that would take over five minutes, so its column measures fewer tasks
#: (the row says how many). Per-task figures still compare.
PEER_SUBMIT_TASKS = 2_000


def submit_overhead(config: Config) -> list[Row]:
    """N trivial tasks submitted then collected in a flow, per task; floor: bare executor."""
    reps = config.reps(3)
    n = 1_000 if config.quick else 10_000
    peer_n = min(n, PEER_SUBMIT_TASKS)
    ours = _micros(config.python, "runnel", n, reps)
    floor = _micros(config.python, "plain", n, reps)
    peer = config.peer(partial(_micros, lib="prefect", n=peer_n, reps=reps))
    if config.peer_python is not None:
        config.notes.append(
            "Submitted-task rows give Prefect ThreadPoolTaskRunner(max_workers=32), the threads "
            "runnel and the floor use; Prefect's default runner is unbounded (sys.maxsize)."
        )
    name = f"submit+result, N={n:,} trivial tasks"
    if peer_n != n:
        name += f" (prefect N={peer_n:,})"
    return [
        Row(name, ours, floor, peer, "µs/task: flow wall / N",
            "< 3x floor = bare ThreadPoolExecutor(32)", ours < 3 * floor)
    ]  # fmt: skip


def sleep_fan_out(config: Config) -> list[Row]:
    """N tasks sleeping 10 ms on 32 threads, whole flow; the floor is N x 10 ms / 32."""
    reps = config.reps(3)
    n = 320 if config.quick else 1_000
    ideal = n * 10 / 32
    ours = _millis(config.python, "runnel", n, reps)
    bare = _millis(config.python, "plain", n, reps)
    peer = config.peer(partial(_millis, lib="prefect", n=n, reps=reps))
    config.notes.append(
        f"{n:,} x 10 ms sleep tasks: a bare ThreadPoolExecutor(32) takes {bare:.0f} ms; "
        f"{-(-n // 32)} waves of 10 ms make {-(-n // 32) * 10} ms the least any pool can do."
    )
    return [
        Row(f"{n:,} x 10 ms sleep tasks, 32 threads", ours, ideal, peer,
            "ms: flow wall", "< 1.3x floor = ideal N x 10 ms / 32", ours < 1.3 * ideal)
    ]  # fmt: skip


def memory_per_run(config: Config) -> list[Row]:
    """Peak RSS growth of a flow of N trivial tasks whose futures are dropped, per task run."""
    reps = config.reps(3)
    n = 5_000 if config.quick else 20_000
    ours = _kb(config.python, "runnel", n, reps)
    floor = _kb(config.python, "plain", n, reps)
    peer = config.peer(partial(_kb, lib="prefect", n=n, reps=reps))
    if peer is not None:
        config.notes.append(
            "Memory: Prefect's run history lives in its temporary server, a separate process "
            "whose memory is not counted; runnel's recorder and SQLite are in the measured one."
        )
    return [
        Row(f"memory per finished task run, N={n:,}", ours, floor, peer,
            "KB/run: peak RSS growth / N", "< 5 KB; floor = bare ThreadPoolExecutor(32)",
            ours < 5)
    ]  # fmt: skip


def _micros(python: str, lib: str, n: int, reps: int) -> float:
    seconds = median_reported(python, ["fanout.py", lib, "inc", str(n)], "seconds", reps)
    return seconds / n * 1e6


def _millis(python: str, lib: str, n: int, reps: int) -> float:
    return median_reported(python, ["fanout.py", lib, "nap", str(n)], "seconds", reps) * 1000


def _kb(python: str, lib: str, n: int, reps: int) -> float:
    return median_reported(python, ["dropped.py", lib, str(n)], "kb_per_run", reps)
