"""Run the real ``runnel`` console script, and real flows, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RUNNEL = Path(sys.executable).parent / "runnel"

# Three flow runs, oldest first: 'first-etl' (two tasks, one retried once), 'broken-run'
# (fails), 'second-etl'. Task runs log through get_run_logger; the flow prints (log_prints).
HISTORY_SCRIPT = """
from runnel import flow, get_run_logger, task

attempts = []

@task
def double(x):
    get_run_logger().info("doubling %s", x)
    return 2 * x

@task(retries=1)
def flaky(x):
    attempts.append(x)
    if len(attempts) == 1:
        raise ValueError("first attempt fails")
    return x + 1

@flow(name="etl", flow_run_name="{label}-etl", log_prints=True, validate_parameters=False)
def etl(label, n=3):
    print(f"starting {label} with n={n}")
    return flaky(double(n))

@flow(name="breaker", flow_run_name="broken-run", validate_parameters=False)
def breaker():
    raise RuntimeError("this flow breaks")

etl("first")
breaker(return_state=True)
etl("second", n=5)
"""

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update(extra or {})
    return env


@pytest.fixture
def runnel_cli() -> Runner:
    """Runs ``runnel ARGS...`` with the test's RUNNEL_HOME (plus ``env``) and returns the result."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RUNNEL), *args], capture_output=True, text=True, env=_env(env), timeout=60
        )

    return run


@pytest.fixture
def run_python() -> Runner:
    """Runs a Python script in a new interpreter with the test's RUNNEL_HOME."""

    def run(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            capture_output=True,
            text=True,
            env=_env(env),
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result

    return run


@pytest.fixture
def history(run_python: Runner) -> subprocess.CompletedProcess[str]:
    """The test's RUNNEL_HOME holds the runs of HISTORY_SCRIPT; returns that script's result."""
    return run_python(HISTORY_SCRIPT)


@pytest.fixture
def cli_json(runnel_cli: Runner) -> Callable[..., Any]:
    """Runs ``runnel ARGS... -o json``, checks it succeeded and returns the parsed output."""

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        result = runnel_cli(*args, "-o", "json", env=env)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run
