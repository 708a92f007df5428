"""What every benchmark shares: the row it returns, its settings, and fresh-process timing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

WORKLOADS = Path(__file__).resolve().parent / "workloads"
PYCACHE = WORKLOADS.parent.parent / ".bench" / "pycache"
TIMEOUT_SECONDS = 900


class Row(NamedTuple):
    """One line of the table; ``prefect`` is None when the peer column was skipped."""

    workload: str
    runnel: float
    floor: float
    prefect: float | None
    unit: str
    budget_text: str
    passed: bool | None  # None: no budget for this row


@dataclass(frozen=True)
class Config:
    """How hard to run, which interpreters to use, and notes collected on the way."""

    quick: bool
    python: str
    peer_python: str | None
    notes: list[str] = field(default_factory=list)
    #: Why a Prefect figure is missing, in order; the table footnotes each "-" with its reason.
    peer_gaps: list[str] = field(default_factory=list)

    def reps(self, full: int) -> int:
        """Repetitions for a measurement: ``full``, or 2 for a ``--quick`` smoke run."""
        return 2 if self.quick else full

    def peer(self, measure: Callable[[str], float]) -> float | None:
        """``measure(peer_python)``, or None (with a note) if there is no peer or it fails."""
        if self.peer_python is None:
            return None
        try:
            return measure(self.peer_python)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            self.peer_gaps.append(f"Prefect measurement failed: {error}")
            return None


def clean_env(home: str) -> dict[str, str]:
    """The environment of a user's plain ``python script.py``, homed in a fresh directory.

    Drops runnel/Prefect settings and the interpreter's ``PYTHON*`` knobs: a shell exporting
    PYTHONDONTWRITEBYTECODE would make every process recompile runnel from source (Prefect's
    installed wheel ships bytecode), doubling runnel's import time. Bytecode is cached under
    ``.bench/pycache`` so the working tree is left alone.
    """
    drop = ("RUNNEL_", "PREFECT_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["RUNNEL_HOME"] = env["PREFECT_HOME"] = home
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def run_fresh(python: str, args: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Run ``python args`` in a fresh process and home; wall seconds and what it reported."""
    with tempfile.TemporaryDirectory(prefix="runnel-bench-") as home:
        out = Path(home) / "bench-out.json"
        env = clean_env(home)
        env["BENCH_OUT"] = str(out)
        start = time.perf_counter()
        done = _spawn(python, args, env, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(_why_it_failed(python, args, env))
        reported = json.loads(out.read_text()) if out.exists() else {}
    return wall, reported


def median_wall(python: str, args: Sequence[str], reps: int) -> float:
    """Median wall seconds of ``reps`` fresh processes, after one discarded warm-up run."""
    run_fresh(python, args)  # compiles bytecode, warms the OS file cache
    return statistics.median(run_fresh(python, args)[0] for _ in range(reps))


def median_reported(python: str, args: Sequence[str], key: str, reps: int) -> float:
    """Median of the value a workload reports under ``key`` over ``reps`` fresh processes."""
    return statistics.median(run_fresh(python, args)[1][key] for _ in range(reps))


def _why_it_failed(python: str, args: Sequence[str], env: dict[str, str]) -> str:
    """Run a failed workload again, untimed, to show the end of its error output."""
    again = _spawn(python, args, env, stderr=subprocess.PIPE)
    tail = again.stderr.decode(errors="replace").strip().splitlines()[-5:]
    return f"{Path(python).name} {' '.join(args)} failed:\n  " + "\n  ".join(tail)


def _spawn(
    python: str, args: Sequence[str], env: dict[str, str], stderr: int
) -> subprocess.CompletedProcess[bytes]:
    """Run a workload in its own process group, so a timeout also ends servers it started."""
    with subprocess.Popen(
        [python, *args], env=env, cwd=WORKLOADS, start_new_session=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
    ) as process:  # fmt: skip
        try:
            _, err = process.communicate(timeout=TIMEOUT_SECONDS)
        except BaseException:  # a timeout, or Ctrl-C on the benchmark run
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, None, err)
