"""Run runnel's benchmarks and print one table, with Prefect beside it when PEER_PYTHON allows.

Usage: python benchmarks/run.py [--quick]

Every workload runs in a fresh process with a fresh RUNNEL_HOME / PREFECT_HOME and its logs sent
to DEVNULL. Budgets come from DESIGN.md section 5; a FAIL is reported, not an error (exit 0).
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
from pathlib import Path

import caching
import concurrency
import limits
import overhead
import startup
from harness import Config, Row

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
RESULTS = Path(__file__).resolve().parent.parent / ".bench" / "results.json"


def find_peer() -> tuple[str | None, str]:
    """The PEER_PYTHON interpreter if it can import prefect, and a note saying what was found."""
    peer = os.environ.get("PEER_PYTHON")
    if not peer:
        return None, "Prefect column skipped: PEER_PYTHON is not set."
    probe = "import prefect; print(prefect.__version__)"
    try:
        done = subprocess.run([peer, "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"Prefect column skipped: cannot run PEER_PYTHON={peer}: {error}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        return None, f"Prefect column skipped: PEER_PYTHON={peer} cannot import prefect ({last})."
    return peer, f"Prefect column: prefect {done.stdout.strip()} via PEER_PYTHON={peer}."


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def ratio(top: float, bottom: float | None) -> str:
    if not bottom:
        return "-"
    times = top / bottom
    return f"{times:.1f}x" if times >= 1 else f"{times:.2g}x"


HEADER = ("workload", "unit", "runnel", "floor", "/floor", "prefect", "runnel/prefect", "budget")
LEFT_ALIGNED = {"workload", "unit", "budget", "result"}


def cells(row: Row) -> tuple[str, ...]:
    verdict = "-" if row.passed is None else "PASS" if row.passed else "FAIL  <<<"
    return (row.workload, row.unit, number(row.runnel), number(row.floor),
            ratio(row.runnel, row.floor), number(row.prefect), ratio(row.runnel, row.prefect),
            row.budget_text, verdict)  # fmt: skip


def table(rows: list[Row]) -> str:
    header = (*HEADER, "result")
    lines = [header, *map(cells, rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    aligned = [
        "  ".join(
            cell.ljust(width) if name in LEFT_ALIGNED else cell.rjust(width)
            for name, cell, width in zip(header, line, widths, strict=True)
        ).rstrip()
        for line in lines
    ]
    aligned.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(aligned)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, N=1,000 only")
    args = parser.parse_args()
    peer, peer_note = find_peer()
    config = Config(quick=args.quick, python=sys.executable, peer_python=peer)
    rows: list[Row] = []
    errors = 0
    for benchmark in BENCHMARKS:
        name = f"{benchmark.__module__}.{benchmark.__name__}"
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows.extend(benchmark(config))
        except Exception as error:  # a broken workload should not hide the other rows
            errors += 1
            config.notes.append(f"{name} could not run: {error}")
    mode = "quick smoke run" if args.quick else "full run"
    print(
        f"\nrunnel benchmarks ({mode}; Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; median of fresh processes)\n"
    )
    print(table(rows))
    for note in [peer_note, *config.notes]:
        print(f"\n{note}")
    RESULTS.parent.mkdir(exist_ok=True)
    results = {
        "quick": args.quick, "python": platform.python_version(), "peer": peer_note,
        "rows": [row._asdict() for row in rows], "notes": config.notes,
    }  # fmt: skip
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\n(also written to {os.path.relpath(RESULTS)})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
