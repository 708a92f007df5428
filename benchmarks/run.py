"""Run runnel's benchmarks and print one table, with Prefect 3 beside it when PEER_PYTHON allows.

Usage: python benchmarks/run.py [--quick] [--only MODULE ...]
       make bench        (runnel and the floor)
       make bench-peer   (the same, with Prefect 3 from the package index in .venv-peer)

Every workload runs in fresh processes with a fresh RUNNEL_HOME / PREFECT_HOME and its logs sent
to DEVNULL. Every figure of the table comes from the one run that prints it; the table is also
written as Markdown to .bench/table.md (for the README) and as JSON to .bench/results.json.
Budgets come from DESIGN.md section 5; a FAIL is reported, not an error (exit 0).
To add a benchmark, write a function ``(Config) -> list[Row]`` and list it in BENCHMARKS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import caching
import concurrency
import limits
import overhead
import report
import startup
from harness import Config, Row
from report import Report

BENCHMARKS: list[Callable[[Config], list[Row]]] = [
    startup.import_time,
    startup.flow_process,
    overhead.per_task,
    concurrency.submit_overhead,
    concurrency.sleep_fan_out,
    concurrency.memory_per_run,
    caching.miss_and_hit,
    limits.shared_limits,
]
MODULES = {benchmark.__module__ for benchmark in BENCHMARKS}
OUT = Path(__file__).resolve().parent.parent / ".bench"
RESULTS, TABLE = OUT / "results.json", OUT / "table.md"
PREFECT_SERVER_NOTE = (
    "Prefect runs as a plain script runs it: with no PREFECT_API_URL it starts a temporary local "
    "server (a separate process) in each script. The whole-process rows include starting and "
    "stopping it; the in-process rows run a warm-up flow first, so its start is not timed, but "
    "it serves the timed flow on the same CPUs. The limit rows share one `prefect server "
    "start`, started before and not timed. runnel starts no server in any row."
)


class Peer(NamedTuple):
    """The interpreter with Prefect 3 installed, if any, and what was found."""

    python: str | None
    version: str  # "Prefect 3.x.y (Python 3.11.z, path)", or why there is no Prefect column


def find_peer() -> Peer:
    """The PEER_PYTHON interpreter if it can import prefect."""
    peer = os.environ.get("PEER_PYTHON")
    if not peer:
        return Peer(None, "Prefect not measured: PEER_PYTHON is not set (see `make bench-peer`)")
    # Workloads run in benchmarks/workloads, so a relative path would point elsewhere; abspath
    # keeps the venv's own symlink, which resolve() would follow out of the venv.
    peer = os.path.abspath(peer)
    probe = "import platform, prefect; print(prefect.__version__, platform.python_version())"
    try:
        done = subprocess.run([peer, "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Peer(None, f"Prefect not measured: cannot run PEER_PYTHON={peer}: {error}")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        return Peer(None, f"Prefect not measured: {peer} cannot import prefect ({last})")
    version, python = done.stdout.split()
    return Peer(peer, f"Prefect {version} (Python {python}, {os.path.relpath(peer)})")


def heading(quick: bool, only: list[str] | None, peer: Peer) -> list[str]:
    """When, on what and with which versions this run was made."""
    one, five, fifteen = os.getloadavg()
    model = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    mode = "quick smoke run (--quick)" if quick else "full run"
    if only:
        mode += f" of {', '.join(only)} only"
    return [
        f"runnel benchmarks, {mode}, {when}: every figure from this one run, "
        "each workload in fresh processes",
        f"machine: {platform.system()} {platform.release()} {platform.machine()}, {model}, "
        f"{os.cpu_count()} cores, load average at start {one:.2f} {five:.2f} {fifteen:.2f}",
        f"Python {platform.python_version()}, runnel {metadata.version('runnel')} "
        f"({_source()}), {peer.version}",
    ]


def _source() -> str:
    """The commit runnel's source was measured at, and whether src/ differed from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=OUT.parent, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--", "src")
    return f"commit {commit} with uncommitted changes in src/" if dirty else f"commit {commit}"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, N=1,000 only")
    parser.add_argument(
        "--only", action="append", metavar="MODULE", choices=sorted(MODULES),
        help="run only this module's rows (repeatable); for development, not for the README",
    )  # fmt: skip
    args = parser.parse_args()
    peer = find_peer()
    title = heading(args.quick, args.only, peer)  # before the run adds to the load average
    config = Config(quick=args.quick, python=sys.executable, peer_python=peer.python)
    if peer.python is not None:
        config.notes.append(PREFECT_SERVER_NOTE)
    rows: list[Row] = []
    gaps: dict[int, list[int]] = {}
    errors = 0
    for benchmark in BENCHMARKS:
        if args.only and benchmark.__module__ not in args.only:
            continue
        name = f"{benchmark.__module__}.{benchmark.__name__}"
        print(f"running {name} ...", file=sys.stderr, flush=True)
        first_gap = len(config.peer_gaps)
        try:
            new_rows = benchmark(config)
        except Exception as error:  # a broken workload should not hide the other rows
            errors += 1
            config.notes.append(f"{name} could not run: {error}")
            continue
        if peer.python is not None and any(row.prefect is None for row in new_rows):
            if len(config.peer_gaps) == first_gap:
                config.peer_gaps.append(f"{name} did not measure Prefect.")
            footnotes = list(range(first_gap + 1, len(config.peer_gaps) + 1))
            for index, row in enumerate(new_rows, len(rows)):
                if row.prefect is None:
                    gaps[index] = footnotes
        rows.extend(new_rows)
    result = Report(title, rows, gaps, config.peer_gaps, config.notes)
    print("\n" + report.text(result))
    RESULTS.parent.mkdir(exist_ok=True)
    TABLE.write_text(report.markdown(result))
    results = {
        "heading": title, "quick": args.quick, "only": args.only, "peer": peer.version,
        "rows": [row._asdict() for row in rows], "peer_gaps": config.peer_gaps,
        "notes": config.notes,
    }  # fmt: skip
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\n(also written to {os.path.relpath(TABLE)} and {os.path.relpath(RESULTS)})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
