"""``runnel cache``: list, inspect and clear the cache records of tasks."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from runnel.cli.output import (
    CommandError,
    OutputFormat,
    OutputOption,
    add_row,
    console,
    format_duration,
    iso_utc,
    local_time,
    make_table,
    print_json,
)

app = typer.Typer(help="List, inspect and clear cached task results.", no_args_is_help=True)

StorageOption = Annotated[
    str | None,
    typer.Option("--storage", help="A result_storage path or URL (default: RUNNEL_RESULTS_DIR)."),
]
TaskOption = Annotated[str | None, typer.Option("--task", help="Only records of this task name.")]


def _storage(location: str | None) -> Any:
    from runnel.results import storage_from

    return storage_from(location)


# Hits are extra: a history locked by another process is not waited for as long as a run would.
HITS_BUSY_TIMEOUT_SECONDS = 2.0


def _hits() -> dict[str, int] | None:
    """Cache hits by key from the run history; None (shown as '-') when it cannot be read."""
    from runnel.exceptions import RunnelError
    from runnel.settings import get_settings
    from runnel.store import open_store

    try:
        settings = get_settings()
        if not (settings.database_url or settings.api_url) and not settings.database_path.exists():
            return None  # no history yet: none is created just to count hits
        store = open_store(settings, busy_timeout=HITS_BUSY_TIMEOUT_SECONDS)
        try:
            return store.cache_hits()
        finally:
            store.close()
    except RunnelError as error:
        typer.echo(
            f"Note: cache hits are unknown, the run history cannot be read: {error}", err=True
        )
        return None


def _as_json(metadata: Any, hits: dict[str, int] | None) -> dict[str, Any]:
    data = metadata.to_dict()
    data["created"] = iso_utc(metadata.created)
    data["expiration"] = iso_utc(metadata.expiration)
    data["hits"] = None if hits is None else hits.get(metadata.key, 0)
    return dict(data)


@app.command("ls")
def list_records(
    task: TaskOption = None,
    storage: StorageOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """List cache records: key, task, created, expires, size and hits."""
    from runnel.results import list_records as records_of

    records = [r for r in records_of(_storage(storage)) if task is None or r.task_name == task]
    hits = _hits()
    if output is OutputFormat.json:
        print_json([_as_json(r, hits) for r in records])
        return
    table = make_table("Key", "Task", "Created", "Expires", "Size", "Hits", "Saves")
    now = time.time()
    for r in records:
        expires = (
            "never"
            if r.expiration is None
            else ("expired" if r.is_expired(now) else local_time(r.expiration))
        )
        add_row(
            table,
            r.key[:16],
            r.task_name,
            local_time(r.created),
            expires,
            _size(r.size),
            None if hits is None else hits.get(r.key, 0),
            format_duration(r.duration_seconds),
        )
    console().print(table if records else "No cache records.")


@app.command("inspect")
def inspect_record(
    key: Annotated[str, typer.Argument(help="A key or a unique key prefix.")],
    storage: StorageOption = None,
    output: OutputOption = OutputFormat.table,
) -> None:
    """Show one record's metadata (without loading its value)."""
    from runnel.results import CorruptRecord, read_metadata

    store = _storage(storage)
    matches = [k for k in store.keys() if k.startswith(key)]
    if len(matches) != 1:
        raise CommandError(
            f"no cache record {key!r}"
            if not matches
            else f"{key!r} matches {len(matches)} records: give more of the key"
        )
    try:
        metadata = read_metadata(store, matches[0])
    except CorruptRecord as error:
        raise CommandError(str(error)) from None
    data = _as_json(metadata, _hits())
    data["location"] = store.describe(matches[0])
    if output is OutputFormat.json:
        print_json(data)
        return
    table = make_table("Field", "Value", title=f"Cache record {metadata.key[:16]}")
    for name, value in data.items():
        add_row(table, name, value)
    console().print(table)


@app.command("clear")
def clear(
    task: TaskOption = None,
    expired: Annotated[
        bool, typer.Option("--expired", help="Only expired (and corrupt) records.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    storage: StorageOption = None,
) -> None:
    """Delete cache records: all, one task's, or only the expired ones."""
    from runnel.results import collect_expired
    from runnel.results import list_records as records_of

    store = _storage(storage)
    if expired and task is None:
        removed = collect_expired(store, time.time())
        console().print(f"Removed {removed} expired or corrupt record(s).")
        return
    now = time.time()
    doomed = [
        r.key
        for r in records_of(store)
        if (task is None or r.task_name == task) and (not expired or r.is_expired(now))
    ]
    if not doomed:
        console().print("No cache records to remove.")
        return
    if not yes and not typer.confirm(f"Remove {len(doomed)} cache record(s)?", default=False):
        raise CommandError("nothing removed (pass --yes to skip the question)")
    for key in doomed:
        store.delete(key)
    console().print(f"Removed {len(doomed)} cache record(s).")


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)
