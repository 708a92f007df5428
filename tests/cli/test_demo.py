"""``runnel demo`` tells its story offline and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_plain_run_fails_and_retried_run_completes(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("runnel")
    home = tmp_path / "demo-home"
    env = {**os.environ, "COLUMNS": "120"}
    done = subprocess.run(
        [str(exe), "demo", "--repos", "3", "--home", str(home)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "│" in line]
    plain = next(line for line in rows if "plain" in line)
    robust = next(line for line in rows if "retries=3" in line)
    assert "Failed" in plain and "Completed" in robust
    # Each of the 3 repos fails twice with 503, then answers: 6 retries, 9 requests.
    assert [cell.strip() for cell in robust.split("│")[5:8]] == ["9", "6", "6"]
    assert "Retry 1/3 will start" in done.stderr
    assert (home / "runnel.db").exists()
    listing = subprocess.run(
        [str(exe), "flow-run", "ls", "-o", "json"],
        capture_output=True,
        text=True,
        env={**env, "RUNNEL_HOME": str(home)},
        timeout=60,
    )
    assert listing.stdout.count('"show-stars"') == 2


def test_demo_refuses_a_bad_option() -> None:
    exe = Path(sys.executable).with_name("runnel")
    done = subprocess.run(
        [str(exe), "demo", "--repos", "0"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith("Error:") and "Traceback" not in done.stderr
