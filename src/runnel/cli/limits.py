"""``runnel gcl`` and ``runnel concurrency-limit``: global concurrency and rate limits.

A limit with ``slot_decay_per_second`` is a rate limit (taken slots free themselves); without,
a concurrency limit (slots held until released). A tag limit is a concurrency limit named
``tag:<TAG>``: a task with that tag holds one of its slots while it runs.
"""

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
    iso_utc,
    local_time,
    make_table,
    print_json,
)
from runnel.limits import MAX_SLOTS, TAG_PREFIX
from runnel.store.base import LeaseRecord, LimitRecord, Store
from runnel.store.factory import get_store

GCL = "global concurrency limit"

gcl_app = typer.Typer(
    help="Global concurrency and rate limits, shared by every process "
    "(alias: global-concurrency-limit).",
    no_args_is_help=True,
)
tag_app = typer.Typer(
    help="Concurrency limits on task tags: a task with the tag holds a slot while it runs.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The limit's name.")]
TagArgument = Annotated[str, typer.Argument(metavar="TAG", help="The task tag.")]
DecayOption = Annotated[
    float | None,
    typer.Option(
        "--slot-decay-per-second",
        min=0.0,
        help="Slots freed per second: a rate limit (0: slots are held until released).",
        show_default=False,
    ),
]


# -- runnel gcl -----------------------------------------------------------------------------


@gcl_app.command("create")
def create(
    name: NameArgument,
    limit: Annotated[
        int, typer.Option("--limit", "-l", min=0, max=MAX_SLOTS, help="How many slots.")
    ],
    slot_decay_per_second: DecayOption = None,
    disable: Annotated[
        bool, typer.Option("--disable", help="Create it inactive: it blocks nobody until enabled.")
    ] = False,
) -> None:
    """Create a global concurrency limit (a rate limit with --slot-decay-per-second)."""
    from runnel.limits import validate_name, validate_settings

    validate_name(name)
    validate_settings(limit, slot_decay_per_second)
    store = get_store()
    if store.read_limit(name) is not None:
        raise CommandError(
            f"{GCL} {name!r} already exists (change it with 'runnel gcl update {name}')"
        )
    record = store.create_limit(
        name,
        limit,
        slot_decay_per_second=slot_decay_per_second or 0.0,
        active=not disable,
        now=time.time(),
    )
    typer.echo(f"Created {GCL} {name!r} ({_describe(record)})")


@gcl_app.command("ls")
def list_limits(output: OutputOption = OutputFormat.table) -> None:
    """List every global concurrency limit (tag limits included) with its slots in use."""
    records = get_store().list_limits()
    now = time.time()
    if output is OutputFormat.json:
        print_json([_limit_json(record, now) for record in records])
        return
    table = make_table("Name", "Limit", "In use", "Available", "Decay/s", "Active")
    for record in records:
        data = _limit_json(record, now)
        add_row(
            table,
            record.name,
            record.limit,
            _slots(data["active_slots"]),
            _slots(data["available_slots"]),
            f"{record.slot_decay_per_second:g}",
            "yes" if record.active else "no",
        )
    console().print(table if records else "No global concurrency limits.")


@gcl_app.command("inspect")
def inspect(name: NameArgument, output: OutputOption = OutputFormat.table) -> None:
    """Show one limit: its slots in use now (after decay), and who holds them until when."""
    _show(name, output, title=f"Global concurrency limit {name!r}", unknown=_unknown(name))


@gcl_app.command("update")
def update(
    name: NameArgument,
    limit: Annotated[
        int | None, typer.Option("--limit", "-l", min=0, max=MAX_SLOTS, help="How many slots.")
    ] = None,
    slot_decay_per_second: DecayOption = None,
    active: Annotated[
        bool | None,
        typer.Option(
            "--enable/--disable", help="Make it block (or stop blocking).", show_default=False
        ),
    ] = None,
) -> None:
    """Change a limit's slots, decay or active flag; what is not given stays."""
    if limit is None and slot_decay_per_second is None and active is None:
        raise CommandError(
            "nothing to update: give --limit, --slot-decay-per-second, --enable or --disable"
        )
    from runnel.limits import validate_settings

    validate_settings(limit, slot_decay_per_second)
    store = get_store()
    _require(store, name)
    record = store.update_limit(
        name,
        now=time.time(),
        limit=limit,
        slot_decay_per_second=slot_decay_per_second,
        active=active,
    )
    typer.echo(f"Updated {GCL} {name!r} ({_describe(record)})")


@gcl_app.command("enable")
def enable(name: NameArgument) -> None:
    """Make a limit block again."""
    _set_active(name, True)
    typer.echo(f"Enabled {GCL} {name!r}")


@gcl_app.command("disable")
def disable(name: NameArgument) -> None:
    """Stop a limit from blocking anyone (it is kept, with its settings)."""
    _set_active(name, False)
    typer.echo(f"Disabled {GCL} {name!r}")


@gcl_app.command("delete")
def delete(name: NameArgument) -> None:
    """Delete a limit; code that names it no longer waits for it."""
    if not get_store().delete_limit(name):
        raise CommandError(_unknown(name))
    typer.echo(f"Deleted {GCL} {name!r}")


# -- runnel concurrency-limit ----------------------------------------------------------------


@tag_app.command("create")
def create_tag_limit(
    tag: TagArgument,
    limit: Annotated[
        int, typer.Argument(metavar="N", min=0, max=MAX_SLOTS, help="How many slots.")
    ],
) -> None:
    """Let at most N tasks with this tag run at once (an existing limit is changed to N)."""
    from runnel.limits import validate_name

    validate_name(tag)
    name = TAG_PREFIX + tag
    store = get_store()
    if store.read_limit(name) is None:
        store.create_limit(name, limit, now=time.time())
        verb = "Created"
    else:
        store.update_limit(name, now=time.time(), limit=limit)
        verb = "Updated"
    typer.echo(f"{verb} concurrency limit for tag {tag!r} ({_plural(limit, 'slot')})")


@tag_app.command("ls")
def list_tag_limits(output: OutputOption = OutputFormat.table) -> None:
    """List the tag concurrency limits with their slots in use."""
    records = [r for r in get_store().list_limits() if r.name.startswith(TAG_PREFIX)]
    now = time.time()
    if output is OutputFormat.json:
        print_json([_limit_json(record, now) for record in records])
        return
    table = make_table("Tag", "Limit", "In use", "Available", "Active")
    for record in records:
        data = _limit_json(record, now)
        add_row(
            table,
            data["tag"],
            record.limit,
            _slots(data["active_slots"]),
            _slots(data["available_slots"]),
            "yes" if record.active else "no",
        )
    console().print(table if records else "No tag concurrency limits.")


@tag_app.command("inspect")
def inspect_tag_limit(tag: TagArgument, output: OutputOption = OutputFormat.table) -> None:
    """Show one tag limit: its slots in use and which processes hold them until when."""
    _show(
        TAG_PREFIX + tag,
        output,
        title=f"Concurrency limit for tag {tag!r}",
        unknown=_unknown_tag(tag),
    )


@tag_app.command("delete")
def delete_tag_limit(tag: TagArgument) -> None:
    """Delete a tag limit; tasks with the tag no longer wait for it."""
    if not get_store().delete_limit(TAG_PREFIX + tag):
        raise CommandError(_unknown_tag(tag))
    typer.echo(f"Deleted concurrency limit for tag {tag!r}")


@tag_app.command("reset")
def reset_tag_limit(tag: TagArgument) -> None:
    """Free every slot of a tag limit (after holders went away without releasing)."""
    name = TAG_PREFIX + tag
    store = get_store()
    if store.read_limit(name) is None:
        raise CommandError(_unknown_tag(tag))
    store.reset_limit(name, now=time.time())
    typer.echo(f"Reset concurrency limit for tag {tag!r}: all slots are free")


# -- shared -----------------------------------------------------------------------------------


def _require(store: Store, name: str) -> LimitRecord:
    record = store.read_limit(name)
    if record is None:
        raise CommandError(_unknown(name))
    return record


def _unknown(name: str) -> str:
    return f"no {GCL} {name!r} ('runnel gcl ls' lists them)"


def _unknown_tag(tag: str) -> str:
    return f"no concurrency limit for tag {tag!r} ('runnel concurrency-limit ls' lists them)"


def _set_active(name: str, active: bool) -> None:
    store = get_store()
    _require(store, name)
    store.update_limit(name, now=time.time(), active=active)


def _show(name: str, output: OutputFormat, title: str, unknown: str) -> None:
    """A limit with its slots in use now and its leases; ``unknown``: the error if there is none."""
    store = get_store()
    record = store.read_limit(name)
    if record is None:
        raise CommandError(unknown)
    leases = store.list_leases(name)
    now = time.time()
    data = _limit_json(record, now)
    data["leases"] = [_lease_json(lease, now) for lease in leases]
    if output is OutputFormat.json:
        print_json(data)
        return
    fields = make_table("Field", "Value", title=title)
    for label, value in (
        ("Name", record.name),
        ("Limit", _plural(record.limit, "slot")),
        ("Active", "yes" if record.active else "no (blocks nobody)"),
        (
            "Slot decay",
            f"{record.slot_decay_per_second:g}/s"
            if record.slot_decay_per_second
            else "none (concurrency limit)",
        ),
        ("In use now", _slots(data["active_slots"])),
        ("Available now", _slots(data["available_slots"])),
        ("Created", local_time(record.created)),
        ("Updated", local_time(record.updated)),
    ):
        add_row(fields, label, value)
    out = console()
    out.print(fields)
    holders = make_table("Holder", "Slots", "Lease", title="Holders")
    for lease in data["leases"]:
        left = lease["expires_in_seconds"]
        add_row(
            holders,
            lease["holder"],
            lease["slots"],
            f"expires in {round(left):.10g} s" if left > 0 else "expired",
        )
    out.print(holders if leases else "No holders.")


def _limit_json(record: LimitRecord, now: float) -> dict[str, Any]:
    from runnel.limits import current_slots

    in_use = current_slots(record, now)
    data: dict[str, Any] = {
        "name": record.name,
        "limit": record.limit,
        "active": record.active,
        "slot_decay_per_second": record.slot_decay_per_second,
        "active_slots": round(in_use, 6),
        "available_slots": round(max(record.limit - in_use, 0.0), 6),
        "created": iso_utc(record.created),
        "updated": iso_utc(record.updated),
    }
    if record.name.startswith(TAG_PREFIX):
        data["tag"] = record.name.removeprefix(TAG_PREFIX)
    return data


def _lease_json(lease: LeaseRecord, now: float) -> dict[str, Any]:
    return {
        "id": lease.id,
        "holder": lease.holder,
        "slots": lease.slots,
        "expires": iso_utc(lease.expires),
        "expires_in_seconds": round(max(lease.expires - now, 0.0), 3),
        "created": iso_utc(lease.created),
    }


def _describe(record: LimitRecord) -> str:
    parts = [_plural(record.limit, "slot")]
    if record.slot_decay_per_second:
        parts.append(f"decaying {record.slot_decay_per_second:g}/s")
    if not record.active:
        parts.append("inactive")
    return ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _slots(value: float) -> str:
    """Whole slots as integers, fractions of a decaying limit to two places."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
