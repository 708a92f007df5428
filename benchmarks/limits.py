"""Limit benchmarks: a rate limit and a concurrency limit shared by 1, 4 and 8 processes.

Every measurement runs its processes (workloads/limits_worker.py) together in one fresh home,
after creating the limit with the library's own CLI (``runnel gcl create`` / ``prefect gcl
create``). The workers write down when they were granted the limit; this file replays that record:

- rate: a limit of RATE_BURST slots decaying at RATE_PER_SECOND, so RATE_PER_SECOND calls a second
  after a burst of RATE_BURST. Achieved rate = grants after the burst / time from first to last
  grant. The grants are replayed through the same decay model; any moment at which more slots
  would be taken than the limit holds is an overshoot and fails the row.
- slots: SLOTS slots held 50 ms at a time. Busy = the recorded hold time / (SLOTS x the time from
  the first hold to the end of the last); a recorded hold lies within the real one, so more than
  SLOTS recorded holds at once is a real overlap and fails the row.

Prefect keeps its limits in its server: one ``prefect server start`` on 127.0.0.1, in its own
fresh PREFECT_HOME, serves all Prefect rows and is stopped afterwards; its workers use its default
300 s lease (it refuses leases under 60 s; runnel's default is the same 300 s).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from harness import WORKLOADS, Config, Row, _why_it_failed, clean_env

PROCESSES = (1, 4, 8)
SECONDS = 3.0
RATE_BURST = 5
RATE_PER_SECOND = 10.0
SLOTS = 2
#: A grant's time is read as its call returns, a little after the store granted it; replayed
#: grants may exceed the limit by this many seconds of decay before it counts as an overshoot.
RECORDING_SLACK_SECONDS = 0.005
LATENCY_CALLS = 1_000
PEER_LATENCY_CALLS = 100  # each Prefect call is an HTTP request to its server
FAST_LIMIT, FAST_DECAY = 1_000, 1e6  # a rate limit that never makes the latency loop wait
READY_SECONDS = 120
SERVER_SECONDS = 90


def shared_limits(config: Config) -> list[Row]:
    """Rate-limit and slot use for 1, 4 and 8 processes, and uncontended acquire latency."""
    config.notes.append(
        f"Limit rows: one run of {SECONDS:.0f} s per process count (each row is an aggregate "
        f"of every grant in it). Rate limit: limit {RATE_BURST}, slot_decay_per_second "
        f"{RATE_PER_SECOND:g}, overshoot = a replayed grant over the limit by more than "
        f"{RECORDING_SLACK_SECONDS * 1e3:.0f} ms of decay. Slots: {SLOTS}-slot limit, 50 ms "
        "holds; the floor is the most a perfect limiter can keep busy."
    )
    with _prefect_server(config) as api_url:

        def peer(measure: Callable[[str, dict[str, str]], float]) -> float | None:
            if api_url is None:
                return None
            return config.peer(lambda python: measure(python, {"PREFECT_API_URL": api_url}))

        rows = [_rate_row(config, n, peer) for n in PROCESSES]
        rows += [_slots_row(config, n, peer) for n in PROCESSES]
        rows += _latency_rows(config, peer)
    return rows


def _rate_row(config: Config, n: int, peer: Callable[..., float | None]) -> Row:
    ours, overshoot = _rate(config.python, {}, n)
    theirs = peer(lambda python, extra: _rate(python, extra, n)[0])
    if overshoot > 0:
        config.notes.append(
            f"runnel rate limit, {n} process(es): OVERSHOOT, {overshoot:.2f} slots over the limit."
        )
    return Row(f"rate limit {RATE_PER_SECOND:g}/s burst {RATE_BURST}, {n} process(es)", ours,
               100.0, theirs, "% of configured rate after burst",
               ">= 90%, never over (replayed)", ours >= 90 and overshoot == 0)  # fmt: skip


def _slots_row(config: Config, n: int, peer: Callable[..., float | None]) -> Row:
    ours, most = _slots(config.python, {}, n)
    theirs = peer(lambda python, extra: _slots(python, extra, n)[0])
    if most > SLOTS:
        config.notes.append(f"runnel {SLOTS}-slot limit, {n} process(es): {most} holders at once.")
    contended = n > SLOTS
    return Row(f"{SLOTS}-slot concurrency limit, {n} process(es)", ours,
               100.0 * min(n, SLOTS) / SLOTS, theirs, "% of slots busy",
               f">= 80%, holders <= {SLOTS}" if contended else f"holders <= {SLOTS}",
               most <= SLOTS and (ours >= 80 or not contended))  # fmt: skip


def _latency_rows(config: Config, peer: Callable[..., float | None]) -> list[Row]:
    ours = _latency(config.python, "runnel", {}, LATENCY_CALLS)
    floor = _latency(config.python, "floor", {}, LATENCY_CALLS)
    theirs: dict[str, float] | None = None

    def measured(key: str) -> Callable[[str, dict[str, str]], float]:
        def measure(python: str, extra: dict[str, str]) -> float:
            nonlocal theirs
            if theirs is None:
                theirs = _latency(python, "prefect", extra, PEER_LATENCY_CALLS)
            return theirs[key]

        return measure

    peer_hold = peer(measured("concurrency_us"))
    peer_rate = None if peer_hold is None else peer(measured("rate_limit_us"))
    return [
        Row("uncontended `with concurrency(name): pass`", ours["concurrency_us"],
            floor["concurrency_us"], peer_hold, "µs median, one process",
            "- (no budget); floor = threading.Semaphore", None),
        Row("uncontended rate_limit(name), fast decay", ours["rate_limit_us"],
            floor["rate_limit_us"], peer_rate, "µs median, one process",
            "- (no budget); floor = threading.Semaphore", None),
    ]  # fmt: skip


def _rate(python: str, extra: dict[str, str], n: int) -> tuple[float, float]:
    """% of the configured rate achieved after the burst, and the worst overshoot in slots."""
    name = f"bench-rate-{n}"
    reports = _together(python, extra, n, name, "rate", RATE_BURST, RATE_PER_SECOND)
    grants = sorted(t for report in reports for t in report["grants"])
    if len(grants) <= RATE_BURST or grants[-1] == grants[0]:
        return 0.0, 0.0
    achieved = (len(grants) - RATE_BURST) / (grants[-1] - grants[0])
    taken, worst, previous = 0.0, 0.0, grants[0]
    for at in grants:
        taken = max(0.0, taken - (at - previous) * RATE_PER_SECOND) + 1
        worst = max(worst, taken - RATE_BURST)
        previous = at
    overshoot = worst if worst > RECORDING_SLACK_SECONDS * RATE_PER_SECOND else 0.0
    return 100 * achieved / RATE_PER_SECOND, overshoot


def _slots(python: str, extra: dict[str, str], n: int) -> tuple[float, int]:
    """% of the slots' time held, and the most holders recorded at once."""
    name = f"bench-slots-{n}"
    reports = _together(python, extra, n, name, "hold", SLOTS, None)
    holds = [(start, end) for report in reports for start, end in report["holds"]]
    if not holds:
        return 0.0, 0
    window = max(end for _, end in holds) - min(start for start, _ in holds)
    busy = sum(end - start for start, end in holds) / (SLOTS * window)
    # At equal times a leaving holder is counted before an entering one.
    events = sorted([(end, -1) for _, end in holds] + [(start, 1) for start, _ in holds])
    holders = most = 0
    for _, change in events:
        holders += change
        most = max(most, holders)
    return 100 * busy, most


def _latency(python: str, lib: str, extra: dict[str, str], calls: int) -> dict[str, float]:
    """Median µs of an uncontended concurrency block and rate_limit call, in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="runnel-bench-") as home:
        env = {**clean_env(home), **extra}
        name = f"bench-latency-{os.getpid()}-{time.time_ns()}"
        if lib != "floor":
            _create_limit(python, env, name, 1, None)
            _create_limit(python, env, f"{name}-rate", FAST_LIMIT, FAST_DECAY)
        args = ["limits_worker.py", lib, "latency", name, str(calls)]
        (report,) = _run_workers(python, env, [args], Path(home))
    return {key: float(value) for key, value in report.items()}


def _together(
    python: str, extra: dict[str, str], n: int, name: str, mode: str, limit: int,
    decay: float | None,
) -> list[dict[str, list]]:  # fmt: skip
    """Create the limit, run ``n`` workers on it from the same moment, and return their reports."""
    with tempfile.TemporaryDirectory(prefix="runnel-bench-") as home:
        env = {**clean_env(home), **extra}
        name = f"{name}-{time.time_ns()}"  # unique on a shared Prefect server
        _create_limit(python, env, name, limit, decay)
        go = str(Path(home) / "go")
        args = ["limits_worker.py", _lib(python), mode, name, str(SECONDS), go]
        return _run_workers(python, env, [args] * n, Path(home), go)


def _run_workers(
    python: str, env: dict[str, str], commands: list[list[str]], home: Path, go: str | None = None
) -> list[dict]:
    """Run the workers in parallel; when all are ready, write the start time to ``go``."""
    outs = [home / f"out-{i}.json" for i in range(len(commands))]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for args, out in zip(commands, outs, strict=True):
            processes.append(subprocess.Popen(
                [python, *args], env={**env, "BENCH_OUT": str(out)}, cwd=WORKLOADS,
                start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ))  # fmt: skip
        if go is not None:
            _start_together(processes, home, go)
        for process in processes:
            process.wait(timeout=READY_SECONDS + SECONDS * 10)
    finally:
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    for args, process in zip(commands, processes, strict=True):
        if process.returncode != 0:
            raise RuntimeError(_why_it_failed(python, args, env))
    return [json.loads(out.read_text()) for out in outs]


def _start_together(processes: list[subprocess.Popen[bytes]], home: Path, go: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while len(list(home.glob("go.ready-*"))) < len(processes):
        if any(process.poll() is not None for process in processes):
            return  # a worker died before it was ready; its exit code tells
        if time.monotonic() > deadline:
            raise RuntimeError(f"workers not ready after {READY_SECONDS} s")
        time.sleep(0.01)
    staged = Path(f"{go}.tmp")
    staged.write_text(repr(time.time() + 0.1))
    os.replace(staged, go)


def _create_limit(
    python: str, env: dict[str, str], name: str, limit: int, decay: float | None
) -> None:
    """``runnel gcl create`` / ``prefect gcl create``, from the interpreter's own bin folder."""
    cli = Path(python).parent / _lib(python)
    args = [str(cli), "gcl", "create", name, "--limit", str(limit)]
    if decay is not None:
        args += ["--slot-decay-per-second", repr(decay)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(args[1:])} failed: " + " / ".join(tail))


def _lib(python: str) -> str:
    """``prefect`` for the peer interpreter, ``runnel`` for ours (whose bin has runnel)."""
    return "runnel" if (Path(python).parent / "runnel").exists() else "prefect"


@contextlib.contextmanager
def _prefect_server(config: Config) -> Iterator[str | None]:
    """The API URL of a Prefect server started for these rows, or None (with a note)."""
    if config.peer_python is None:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    cli = str(Path(config.peer_python).parent / "prefect")
    with tempfile.TemporaryDirectory(prefix="runnel-bench-") as home:
        env = {**clean_env(home), "PREFECT_UI_ENABLED": "false"}
        server = subprocess.Popen(
            [cli, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env,
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            if _healthy(url, server):
                yield url
            else:
                config.peer_gaps.append(f"Prefect's server on {url} did not start.")
                yield None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _healthy(url: str, server: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + SERVER_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return True
        time.sleep(0.25)
    return False
