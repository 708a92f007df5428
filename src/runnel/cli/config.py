"""``runnel config view`` and ``runnel version``: what this installation uses, and from where."""

from __future__ import annotations

import platform
from pathlib import Path

import typer

import runnel
from runnel.cli.output import OutputFormat, OutputOption, add_row, console, make_table, print_json
from runnel.settings import environment_names, get_settings
from runnel.store.factory import open_store, redact

app = typer.Typer(help="Show runnel's settings.", no_args_is_help=True)


@app.command("view")
def view(output: OutputOption = OutputFormat.table) -> None:
    """Show every setting, its value, where it came from (env, config.toml, default) and its variable."""
    settings = get_settings()
    rows = []
    for name, env in environment_names().items():
        value = getattr(settings, name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, str) and name.endswith("_url"):
            value = redact(value)
        rows.append(
            {"setting": name, "value": value, "source": settings.sources.get(name), "env": env}
        )
    if output is OutputFormat.json:
        print_json(rows)
        return
    table = make_table(
        "Setting",
        "Value",
        "Source",
        "Environment variable",
        title=f"Settings (config file: {settings.home / 'config.toml'})",
    )
    for row in rows:
        add_row(table, row["setting"], row["value"], row["source"], row["env"])
    console().print(table)


def version() -> None:
    """Show the runnel and Python versions and the run history's location and schema."""
    typer.echo(f"runnel:   {runnel.__version__}")
    typer.echo(f"Python:   {platform.python_version()} ({platform.python_implementation()})")
    store = open_store(get_settings())
    try:
        typer.echo(f"Database: {store.location}")
        typer.echo(f"Schema:   {store.schema_version()}")
    finally:
        store.close()
