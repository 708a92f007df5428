"""The live progress line: on for terminals (or when asked), off otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import time
from runnel import flow, task

@task
def work(i):
    time.sleep(0.01)
    if i == 3:
        raise ValueError("x")
    return i

@flow
def many():
    futures = work.map(range(40))
    values = [f.result(raise_on_failure=False) for f in futures]
    return sum(v for v in values if isinstance(v, int))

print(many())
"""


def run(progress: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNEL_LOGGING_LEVEL": "CRITICAL"}
    env.pop("RUNNEL_PROGRESS", None)
    if progress is not None:
        env["RUNNEL_PROGRESS"] = progress
    script = tmp_path / "many.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
    )


def test_progress_shows_counts_when_asked(tmp_path: Path) -> None:
    done = run("on", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sum(range(40)) - 3)
    assert "submitted" in done.stderr
    assert "1 failed" in done.stderr and "40 submitted" in done.stderr


def test_progress_is_off_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    done = run(None, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "submitted" not in done.stderr


def test_a_bad_progress_setting_is_refused(tmp_path: Path) -> None:
    done = run("sometimes", tmp_path)
    assert done.returncode != 0
    assert "RUNNEL_PROGRESS='sometimes': use one of auto, on, off" in done.stderr
