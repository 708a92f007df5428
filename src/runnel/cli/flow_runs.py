"""``runnel flow-run ls | inspect | logs``: what flow runs did, read from the run history."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import typer

from runnel.cli.history import find_flow_run, reading_history
from runnel.cli.output import (
    OutputFormat,
    OutputOption,
    add_row,
    console,
    duration_seconds,
    format_duration,
    local_time,
    make_table,
    print_json,
    record_json,
    short_id,
    state_text,
    task_run_table,
)
from runnel.logging.setup import RunFormatter
from runnel.store.base import FlowRunRecord, LogRecord, StateRecord, Store, TaskRunRecord

app = typer.Typer(
    help="Look at flow runs: list them, inspect one, read its logs.", no_args_is_help=True
)

IdOrName = Annotated[
    str,
    typer.Argument(
        metavar="ID_OR_NAME",
        help="Full id, unique id prefix (4+ characters) or run name.",
        show_default=False,
    ),
]


@app.command("ls")
def list_flow_runs(
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=2**31 - 1, help="How many runs to show.")
    ] = 20,
    flow: Annotated[str | None, typer.Option("--flow", help="Only runs of this flow.")] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List flow runs, newest first."""
    with reading_history() as store:
        runs = store.list_flow_runs(limit=limit, flow_name=flow)
    if output is OutputFormat.json:
        print_json([record_json(run) for run in runs])
        return
    table = make_table("ID", "Name", "Flow", "State", "Start", "Duration")
    for run in runs:
        add_row(
            table,
            short_id(run.id),
            run.name,
            run.flow_name,
            state_text(run.state_type, run.state_name),
            local_time(run.start_time),
            format_duration(duration_seconds(run.start_time, run.end_time)),
        )
    console().print(table if runs else "No flow runs yet.")


@app.command("inspect")
def inspect_flow_run(id_or_name: IdOrName, output: OutputOption = OutputFormat.table) -> None:
    """Show one flow run: its fields, parameters, state history and task runs."""
    with reading_history() as store:
        run = find_flow_run(store, id_or_name)
        states = store.list_states(run.id)
        task_runs = store.list_task_runs(run.id)
    if output is OutputFormat.json:
        print_json(
            {
                **record_json(run),
                "states": [record_json(s) for s in states],
                "task_runs": [record_json(t) for t in task_runs],
                "cache_hits": cache_hits(task_runs),
                "cache_saved_seconds": cache_saved(task_runs),
            }
        )
        return
    _print_flow_run(run, states, task_runs)


def cache_hits(task_runs: list[TaskRunRecord]) -> int:
    return sum(1 for t in task_runs if t.state_name == "Cached")


def cache_saved(task_runs: list[TaskRunRecord]) -> float:
    """The time the cache saved: what the runs that made the records took."""
    return sum(t.cache_saved_seconds or 0.0 for t in task_runs if t.state_name == "Cached")


def _print_flow_run(
    run: FlowRunRecord, states: list[StateRecord], task_runs: list[TaskRunRecord]
) -> None:
    out = console()
    fields = make_table("Field", "Value", title=f"Flow run {run.name!r}")
    data = record_json(run)
    state = state_text(run.state_type, run.state_name)
    if run.state_message:
        state.append(f": {run.state_message}", style="")
    for label, value in (
        ("ID", run.id),
        ("Name", run.name),
        ("Flow", run.flow_name),
        ("State", state),
        ("Parameters", _compact(data["parameters"])),
        ("Tags", _compact(data["tags"])),
        ("Run count", run.run_count),
        ("Created", local_time(run.created)),
        ("Start", local_time(run.start_time)),
        ("End", local_time(run.end_time)),
        ("Duration", format_duration(data["duration_seconds"])),
        (
            "Cache",
            f"{cache_hits(task_runs)} hit(s), saved {format_duration(cache_saved(task_runs))}"
            if cache_hits(task_runs)
            else None,
        ),
        ("Host", run.hostname),
        ("PID", run.pid),
        ("Parent task run", run.parent_task_run_id),
    ):
        add_row(fields, label, value)
    out.print(fields)
    history = make_table("#", "State", "Time", "Message", title="State history")
    for record in states:
        add_row(
            history,
            str(record.seq),
            state_text(record.type, record.name),
            local_time(record.timestamp, date=False),
            record.message,
        )
    out.print(history)
    out.print(task_run_table(task_runs, title="Task runs") if task_runs else "No task runs.")


def _compact(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@app.command("logs")
def show_logs(id_or_name: IdOrName) -> None:
    """Print a flow run's log lines, oldest first, as the run printed them."""
    with reading_history() as store:
        run = find_flow_run(store, id_or_name)
        lines = store.list_logs(run.id)
        labels = _run_labels(store, run, lines)
    if not lines:
        typer.echo(f"no log lines for flow run {run.name!r}", err=True)
        return
    formatter = RunFormatter()
    for line in lines:
        label = labels.get(line.task_run_id or run.id, f"Task run {short_id(line.task_run_id)!r}")
        typer.echo(formatter.format(_log_record(line, label)))


def _run_labels(store: Store, run: FlowRunRecord, lines: list[LogRecord]) -> dict[str, str]:
    """Run id -> ``Flow run 'name'`` / ``Task run 'name'`` for every run these lines name."""
    labels = {run.id: f"Flow run {run.name!r}"}
    labels.update({t.id: f"Task run {t.name!r}" for t in store.list_task_runs(run.id)})
    for task_run_id in {line.task_run_id for line in lines} - labels.keys():
        if task_run_id is not None and (task_run := store.read_task_run(task_run_id)) is not None:
            labels[task_run_id] = f"Task run {task_run.name!r}"
    return labels


def _log_record(line: LogRecord, label: str) -> logging.LogRecord:
    """The stored line as a ``logging`` record, so it prints exactly as the console printed it."""
    record = logging.LogRecord(line.logger, line.level, "", 0, line.message, None, None)
    record.created = line.timestamp
    record.msecs = int(line.timestamp % 1 * 1000)
    record.run_label = label
    return record
