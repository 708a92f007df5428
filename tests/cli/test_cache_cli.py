"""``runnel cache`` and the cache lines of ``runnel flow-run inspect``, through the console script."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import time
from datetime import timedelta
from runnel import flow, task
from runnel.cache_policies import INPUTS

@task(cache_policy=INPUTS, cache_expiration=timedelta(days=1))
def slow_square(n):
    time.sleep(0.2)
    return n * n

@task(cache_policy=INPUTS, cache_expiration=timedelta(seconds=0.2))
def brief(n):
    return n

@flow(flow_run_name="{name}")
def squares():
    return sum(slow_square(n) for n in range(3)) + brief(1)

print(squares())
"""


def run_script(tmp_path: Path, name: str) -> None:
    script = tmp_path / f"{name}.py"
    script.write_text(SCRIPT.replace("{name}", name))
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("runnel")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=dict(os.environ),
        timeout=60,
    )


def test_cache_ls_inspect_clear_and_saved_time(tmp_path: Path) -> None:
    run_script(tmp_path, "first-run")
    time.sleep(0.3)  # brief's record (0.2 s) expires in between
    run_script(tmp_path, "second-run")

    records = json.loads(cli("cache", "ls", "-o", "json").stdout)
    assert sorted(r["task_name"] for r in records) == [
        "brief",
        "slow_square",
        "slow_square",
        "slow_square",
    ]
    squares = [r for r in records if r["task_name"] == "slow_square"]
    assert all(r["hits"] == 1 and r["duration_seconds"] >= 0.2 for r in squares)
    assert all(r["expiration"] is not None and r["size"] > 0 for r in records)
    assert "slow_square" in cli("cache", "ls", "--task", "slow_square").stdout

    key = squares[0]["key"]
    shown = json.loads(cli("cache", "inspect", key[:12], "-o", "json").stdout)
    assert shown["key"] == key and shown["location"].endswith(key)

    second = json.loads(cli("flow-run", "inspect", "second-run", "-o", "json").stdout)
    assert second["cache_hits"] == 3  # brief's record expired in between: a miss
    assert second["cache_saved_seconds"] >= 0.6
    assert "3 hit(s), saved" in cli("flow-run", "inspect", "second-run").stdout

    cleared = cli("cache", "clear", "--expired")
    assert cleared.returncode == 0 and "Removed 1 expired" in cleared.stdout
    refused = cli("cache", "clear", "--task", "slow_square", stdin="n\n")
    assert refused.returncode == 1 and refused.stderr.startswith("Error: nothing removed")
    assert cli("cache", "clear", "--task", "slow_square", "--yes").stdout.startswith(
        "Removed 3 cache record(s)"
    )
    assert json.loads(cli("cache", "ls", "-o", "json").stdout) == []


def test_cache_inspect_of_an_unknown_key_is_one_line() -> None:
    done = cli("cache", "inspect", "feedbeef")
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: no cache record 'feedbeef'"


def _hits_when_listed() -> list[object]:
    """``runnel cache ls``'s hits, checking that it succeeds (as a table, too)."""
    listed = cli("cache", "ls", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    table = cli("cache", "ls")
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if "slow_square" in line]
    assert rows and all(" - " in row for row in rows), table.stdout
    return [record["hits"] for record in json.loads(listed.stdout)]


@pytest.mark.slow
def test_cache_ls_works_without_a_readable_run_history(tmp_path: Path, runnel_home: Path) -> None:
    run_script(tmp_path, "only-run")
    database = runnel_home / "runnel.db"
    assert json.loads(cli("cache", "ls", "-o", "json").stdout)[0]["hits"] == 0

    # Locked by another process: not waited for as a run would wait. (Nothing in this
    # process may open the file meanwhile: closing it would drop the lock.)
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as conn:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()  # takes the lock
        started = time.monotonic()
        assert _hits_when_listed() == [None] * 4
        assert time.monotonic() - started < 20
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)

    # Missing: none is created just to count hits.
    assert _hits_when_listed() == [None] * 4
    assert not database.exists()

    # Another application's database, or garbage: hits are unknown, a note says why, and
    # the file is left as it was.
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
        conn.commit()
    assert _hits_when_listed() == [None] * 4
    noted = cli("cache", "ls").stderr
    assert "cache hits are unknown" in noted and "customers" in noted
    garbage = b"this is not SQLite \x00\xff" * 500
    database.write_bytes(garbage)
    assert _hits_when_listed() == [None] * 4
    assert database.read_bytes() == garbage
