"""``runnel task-run ls``: the task runs of one flow run, or the newest of any."""

from __future__ import annotations

from typing import Annotated

import typer

from runnel.cli.history import find_flow_run, reading_history
from runnel.cli.output import (
    OutputFormat,
    OutputOption,
    console,
    print_json,
    record_json,
    task_run_table,
)

app = typer.Typer(help="Look at task runs.", no_args_is_help=True)


@app.command("ls")
def list_task_runs(
    flow_run: Annotated[
        str | None,
        typer.Option(
            "--flow-run",
            help="Id, id prefix or name of a flow run: its task runs in order.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            "-n",
            min=1,
            max=2**31 - 1,
            help="How many to show [default: all of a flow run, else 20]",
            show_default=False,
        ),
    ] = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List task runs: those of --flow-run in the order they ran, else the newest 20 of any flow."""
    with reading_history() as store:
        if flow_run is None:
            task_runs = store.list_task_runs(None, limit=limit or 20)
        else:
            task_runs = store.list_task_runs(find_flow_run(store, flow_run).id, limit=limit)
        flow_run_ids = {t.flow_run_id for t in task_runs if t.flow_run_id is not None}
        flow_run_names = {
            i: r.name for i in flow_run_ids if (r := store.read_flow_run(i)) is not None
        }
    if output is OutputFormat.json:
        print_json([record_json(t) for t in task_runs])
        return
    console().print(task_run_table(task_runs, flow_run_names) if task_runs else "No task runs.")
