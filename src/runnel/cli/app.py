"""The ``runnel`` command: its commands, and ``main()`` that turns every mistake into one line.

Typer's own entry point prints errors in multi-line Rich boxes and unexpected ones as pretty
tracebacks; ``main()`` runs the click command in non-standalone mode instead and prints
``Error: <message>`` on stderr (exit 2 for usage errors, 1 for everything else).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from runnel.cli import cache, config, demo, flow_runs, limits, task_runs
from runnel.cli.output import CommandError
from runnel.exceptions import RunnelError

try:  # typer >= 0.22 ships its own click; TyperException is the base of its ClickException
    from typer import TyperException as ClickError
except ImportError:  # pragma: no cover - typer with the click package
    import click

    ClickError = click.ClickException  # type: ignore[misc,assignment,unused-ignore]

app = typer.Typer(
    name="runnel",
    help="runnel: your flow runs, task runs, caches, limits and settings, and the demo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# -- commands ------------------------------------------------------------------------------
# A command group lives in its own module as a ``typer.Typer`` (added with ``add_typer``); a
# single command is a function (added with ``app.command``). Register new ones here.
app.add_typer(flow_runs.app, name="flow-run")
app.add_typer(task_runs.app, name="task-run")
app.add_typer(config.app, name="config")
app.add_typer(cache.app, name="cache")
app.add_typer(limits.gcl_app, name="gcl")
app.add_typer(limits.gcl_app, name="global-concurrency-limit", hidden=True)
app.add_typer(limits.tag_app, name="concurrency-limit")
app.command("version")(config.version)
app.command("demo")(demo.demo)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run ``runnel`` with ``argv`` (default: the process arguments) and exit."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``runnel`` and return its exit code; errors are printed as one line on stderr."""
    command = typer.main.get_command(app)
    try:
        result: Any = command.main(args=argv, prog_name="runnel", standalone_mode=False)
    except ClickError as error:
        return _usage_or_click_error(error)
    except (CommandError, RunnelError) as error:
        return _error(str(error), 1)
    except typer.Exit as exit_:
        return exit_.exit_code
    except typer.Abort:
        return _error("aborted", 1)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    # Non-standalone click returns the code of an explicit ``Exit`` (--help: 0), else the
    # command's return value, which for our commands is None.
    return result if isinstance(result, int) else 0


def _usage_or_click_error(error: Any) -> int:
    ctx = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":
        # A group called without a command: its help says what to type (Typer's Rich help
        # printed it already; plain help is the message).
        message = error.format_message()
        if message.strip():
            typer.echo(message, err=True)
        return int(error.exit_code)
    message = error.format_message()
    if error.exit_code == 2:  # a usage error: say where the usage is explained
        command_path = ctx.command_path if ctx is not None else "runnel"
        message = f"{message.rstrip()} (see '{command_path} --help')"
    return _error(message, int(error.exit_code))


def _error(message: str, code: int) -> int:
    one_line = " ".join(line.strip() for line in str(message).splitlines() if line.strip())
    typer.echo(f"Error: {one_line or 'failed'}", err=True)
    return code
