"""What every command shares: the ``-o`` choice, tables, JSON, times and durations."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from runnel.store.base import TaskRunRecord

TIME_FIELDS = frozenset({"created", "start_time", "end_time", "heartbeat", "timestamp"})
JSON_FIELDS = frozenset({"parameters", "tags"})
STATE_STYLES = {
    "COMPLETED": "green",
    "FAILED": "red",
    "CRASHED": "bold red",
    "CANCELLED": "yellow",
    "CANCELLING": "yellow",
    "RUNNING": "blue",
    "PENDING": "dim",
    "SCHEDULED": "cyan",
    "PAUSED": "magenta",
}


class CommandError(Exception):
    """A request the command cannot carry out (unknown run, ...): ``Error: ...``, exit 1."""

    exit_code = 1


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output", "-o", help="table for people, json for programs.", case_sensitive=False
    ),
]


def console() -> Console:
    """A console on stdout; wide when piped so that tables are not squeezed to 80 columns."""
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(width=200 if piped else None, highlight=False, soft_wrap=False)


def make_table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def add_row(table: Table, *cells: object) -> None:
    """A row whose strings are shown as written (a ``[`` in a run name is not Rich markup)."""
    table.add_row(
        *(c if isinstance(c, Text) else Text("-" if c is None else str(c)) for c in cells)
    )


def state_text(state_type: str, state_name: str) -> Text:
    return Text(state_name, style=STATE_STYLES.get(state_type, ""))


def task_run_table(
    task_runs: list[TaskRunRecord],
    flow_run_names: dict[str, str] | None = None,
    title: str | None = None,
) -> Table:
    """Task runs, one row each; with ``flow_run_names`` (id: name), a column for their flow run."""
    columns = ["ID", "Name", "Flow run", "State", "Runs", "Runner", "Start", "Duration"]
    if flow_run_names is None:
        columns.remove("Flow run")
    table = make_table(*columns, title=title)
    for t in task_runs:
        cells: list[object] = [short_task_id(t.id), t.name]
        if flow_run_names is not None:
            cells.append(flow_run_names.get(t.flow_run_id or "", short_id(t.flow_run_id)))
        cells += [
            state_text(t.state_type, t.state_name),
            t.run_count,
            t.runner or "direct",
            local_time(t.start_time),
            format_duration(duration_seconds(t.start_time, t.end_time)),
        ]
        add_row(table, *cells)
    return table


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def short_id(run_id: str | None) -> str | None:
    """The first 8 characters of a flow run id (random, so they tell runs apart)."""
    return None if run_id is None else run_id[:8]


def short_task_id(run_id: str | None) -> str | None:
    """The last 8 characters of a task run id (its first ones are a timestamp, shared by
    the task runs of one flow run)."""
    return None if run_id is None else run_id[-8:]


def iso_utc(timestamp: float | None) -> str | None:
    """``2024-05-01T14:02:11.402000+00:00``; ``None`` (or a time past year 9999) is ``None``."""
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()
    except (OverflowError, ValueError, OSError):  # a lease of a thousand years expires
        return None


def local_time(timestamp: float | None, date: bool = True) -> str | None:
    """``2024-05-01 16:02:11`` (or ``16:02:11.402`` without the date), in local time."""
    if timestamp is None or iso_utc(timestamp) is None:
        return None
    if date:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    return (
        time.strftime("%H:%M:%S", time.localtime(timestamp)) + f".{int(timestamp % 1 * 1000):03d}"
    )


def duration_seconds(start: float | None, end: float | None) -> float | None:
    """How long a run ran; ``None`` until it has both started and ended."""
    if start is None or end is None:
        return None
    return round(max(end - start, 0.0), 6)


def format_duration(seconds: float | None) -> str | None:
    """``0.42ms``, ``12.3s``, ``3m 05s``, ``2h 01m``."""
    if seconds is None:
        return None
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def record_json(record: Any) -> dict[str, Any]:
    """A store record as JSON: times in ISO-8601 UTC, JSON text parsed, a duration for runs."""
    data = dataclasses.asdict(record)
    for name, value in data.items():
        if name in TIME_FIELDS:
            data[name] = iso_utc(value)
        elif name in JSON_FIELDS and isinstance(value, str):
            try:
                data[name] = json.loads(value)
            except ValueError:
                pass
    if "start_time" in data:
        data["duration_seconds"] = duration_seconds(record.start_time, record.end_time)
    return data
