"""A flow run whose process is killed shows as Crashed once its heartbeat expires."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.cli.conftest import Runner

BLOCKING_FLOW = """
import os, sys, time
from runnel import flow, task

@task
def wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.05)

@flow(flow_run_name="doomed-run", validate_parameters=False)
def blocker(path):
    wait_for(path)

blocker(sys.argv[1])
"""


def _flow_runs(runnel_cli: Runner, **env: str) -> list[dict[str, object]]:
    result = runnel_cli("flow-run", "ls", "-o", "json", env=env)
    assert result.returncode == 0, result.stderr
    runs: list[dict[str, object]] = json.loads(result.stdout)
    return runs


def test_killed_flow_run_shows_as_crashed(runnel_cli: Runner, tmp_path: Path) -> None:
    never = tmp_path / "never-created"
    process = subprocess.Popen(
        [sys.executable, "-c", BLOCKING_FLOW, str(never)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            runs = _flow_runs(runnel_cli)
            if runs and runs[0]["state_name"] == "Running":
                break
            assert process.poll() is None and time.monotonic() < deadline, runs
            time.sleep(0.1)
        task_runs = json.loads(runnel_cli("task-run", "ls", "-o", "json").stdout)
        assert [t["state_name"] for t in task_runs] == ["Running"]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    # Within the default expiry (90 s) the run still counts as alive.
    assert _flow_runs(runnel_cli)[0]["state_name"] == "Running"
    time.sleep(1.5)
    runs = _flow_runs(runnel_cli, RUNNEL_HEARTBEAT_EXPIRY_SECONDS="1")
    assert [(r["name"], r["state_type"]) for r in runs] == [("doomed-run", "CRASHED")]
    table = runnel_cli("flow-run", "ls")
    assert "doomed-run" in table.stdout and "Crashed" in table.stdout

    result = runnel_cli("flow-run", "inspect", "doomed-run", "-o", "json")
    run = json.loads(result.stdout)
    assert [s["name"] for s in run["states"]] == ["Pending", "Running", "Crashed"]
    assert [t["state_name"] for t in run["task_runs"]] == ["Crashed"]
    assert run["end_time"] is not None and "heartbeat" in run["state_message"]
    inspect = runnel_cli("flow-run", "inspect", "doomed-run")
    assert inspect.returncode == 0 and "Crashed" in inspect.stdout
