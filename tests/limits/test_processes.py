"""Limits shared by real processes, checked against the record each worker writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runnel.concurrency.sync import concurrency
from runnel.exceptions import AcquireTimeout
from runnel.limits import EPSILON, current_slots
from runnel.store import get_store
from runnel.store.base import LimitRecord

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 1.5  # time for every worker to import runnel before they all begin


def spawn(
    mode: str, name: str, record: Path, start: float, end: float, *rest: float
) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "tests.limits.worker",
        mode,
        name,
        str(record),
        str(start),
        str(end),
    ]
    return subprocess.Popen([*args, *map(str, rest)], cwd=ROOT, env=dict(os.environ))


def events(record: Path, kind: str) -> list[float]:
    lines = record.read_text().splitlines() if record.exists() else []
    return [float(t) for k, t in (line.split() for line in lines) if k == kind]


def finish(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        assert worker.wait(timeout=30) == 0


def test_a_shared_rate_limit_is_never_exceeded_and_nearly_fully_used(tmp_path: Path) -> None:
    limit, decay, seconds = 2, 10.0, 2.0
    get_store().create_limit("api", limit, slot_decay_per_second=decay)
    start = time.time() + STARTUP_SECONDS
    records = [tmp_path / f"rate-{i}.txt" for i in range(4)]
    finish([spawn("rate", "api", r, start, start + seconds) for r in records])
    grants = sorted(t for r in records for t in events(r, "grant"))
    assert all(events(r, "grant") for r in records), "every process got some grants"

    # Replay the external record through the decay model: never above the limit.
    model = LimitRecord("api", limit, True, 0.0, decay, grants[0], 0.0)
    for at in grants:
        model = LimitRecord("api", limit, True, current_slots(model, at) + 1, decay, at, 0.0)
        assert model.active_slots <= limit + EPSILON * 1e3, f"exceeded at {at}"
    # Any window of W seconds holds at most limit + decay * W grants.
    for i, first in enumerate(grants):
        for j in range(i, len(grants)):
            assert j - i + 1 <= limit + decay * (grants[j] - first) + 1e-6
    used = (len(grants) - limit) / (decay * (grants[-1] - grants[0]))
    assert used >= 0.9, f"delivered {used:.0%} of the configured rate"
    # First come, first served: no process starves, each gets close to an even share.
    shares = [len(events(r, "grant")) for r in records]
    assert min(shares) >= len(grants) / len(records) / 2, f"grants per process: {shares}"


def test_a_shared_concurrency_limit_never_has_too_many_holders_and_stays_busy(
    tmp_path: Path,
) -> None:
    slots, hold, seconds = 2, 0.25, 2.5
    get_store().create_limit("db", slots)
    start = time.time() + STARTUP_SECONDS
    records = [tmp_path / f"hold-{i}.txt" for i in range(4)]
    finish([spawn("hold", "db", r, start, start + seconds, hold, 5) for r in records])
    holds = [
        (s, e) for r in records for s, e in zip(events(r, "start"), events(r, "end"), strict=True)
    ]
    assert all(events(r, "start") for r in records), "every process held the limit"
    # Sweep the holds (an end before a start at the same instant).
    moves = sorted(
        [(s, 1) for s, _ in holds] + [(e, -1) for _, e in holds], key=lambda m: (m[0], m[1])
    )
    holders = 0
    for _, step in moves:
        holders += step
        assert holders <= slots
    # Busy fraction while all four workers are still contending.
    begin = max(events(r, "ready")[0] for r in records)
    stop = min(events(r, "end")[-1] for r in records)
    busy = sum(max(0.0, min(e, stop) - max(s, begin)) for s, e in holds)
    utilisation = busy / (slots * (stop - begin))
    assert utilisation >= 0.8, f"slots busy {utilisation:.0%} of the time"
    # First come, first served: no process starves, each gets close to an even share.
    shares = [len(events(r, "start")) for r in records]
    assert min(shares) >= len(holds) / len(records) / 2, f"holds per process: {shares}"
    assert get_store().list_leases("db") == []


def test_a_killed_holder_loses_its_slots_when_its_lease_expires(tmp_path: Path) -> None:
    get_store().create_limit("db", 1)
    record = tmp_path / "killed.txt"
    start = time.time()
    worker = spawn("once", "db", record, start, start + 60, 60, 1)
    deadline = time.time() + 20
    while not events(record, "start"):
        assert time.time() < deadline and worker.poll() is None
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    killed = time.time()
    with concurrency("db", timeout_seconds=5):
        waited = time.time() - killed
        assert [lease.holder for lease in get_store().list_leases("db")] == [
            f"{os.uname().nodename}:{os.getpid()}"
        ]
    assert waited <= 1.0 + 0.5, f"slots came back {waited:.2f} s after the kill"


def test_renewal_keeps_a_long_holders_slots(tmp_path: Path) -> None:
    get_store().create_limit("db", 1)
    record = tmp_path / "long.txt"
    start = time.time()
    worker = spawn("once", "db", record, start, start + 60, 3.0, 1)
    deadline = time.time() + 20
    while not events(record, "start"):
        assert time.time() < deadline and worker.poll() is None
        time.sleep(0.02)
    with pytest.raises(AcquireTimeout), concurrency("db", timeout_seconds=2.0):
        pass  # 2 s is twice the lease: only renewal keeps it from being reclaimed
    finish([worker])
    assert events(record, "end")
    with concurrency("db", timeout_seconds=1):
        pass


def test_a_rate_limit_that_frees_a_slot_in_centuries_sleeps_without_overflowing(
    tmp_path: Path,
) -> None:
    get_store().create_limit("crawl", 1, slot_decay_per_second=1e-300)
    record = tmp_path / "crawl.txt"
    start = time.time()
    worker = spawn("rate", "crawl", record, start, start + 60)
    try:
        deadline = time.time() + 20
        while not events(record, "grant"):
            assert time.time() < deadline and worker.poll() is None
            time.sleep(0.02)
        time.sleep(0.5)  # its second call computed a wait of 1e300 s and sleeps on it
        assert worker.poll() is None, "the worker died instead of waiting"
        assert len(events(record, "grant")) == 1
    finally:
        worker.kill()
        worker.wait()
