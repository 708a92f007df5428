"""Every mistake a user can make gives one ``Error: ...`` line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Runner


def _assert_one_line_error(result: object, code: int, *fragments: str) -> str:
    returncode, stdout, stderr = (getattr(result, n) for n in ("returncode", "stdout", "stderr"))
    assert "Traceback" not in stderr
    assert returncode == code, stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return str(lines[0])


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["flow-run", "inspect", "no-such-run"], "no flow run 'no-such-run'"),
        (["flow-run", "logs", "no-such-run"], "no flow run 'no-such-run'"),
        (["flow-run", "inspect", "abcdef12"], "no flow run 'abcdef12'"),
        (["task-run", "ls", "--flow-run", "no-such-run"], "no flow run 'no-such-run'"),
    ],
)
def test_unknown_run(args: list[str], fragment: str, runnel_cli: Runner) -> None:
    _assert_one_line_error(runnel_cli(*args), 1, fragment)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["flow-run", "ls", "--limit", "-1"], ["--limit"]),
        (["flow-run", "ls", "--limit", "0"], ["--limit"]),
        (["flow-run", "ls", "--limit", "abc"], ["--limit", "integer"]),
        (["task-run", "ls", "--limit", "-3"], ["--limit"]),
        (["flow-run", "ls", "--limit"], ["--limit"]),
        (["no-such-command"], ["no-such-command"]),
        (["flow-run", "no-such-command"], ["no-such-command"]),
        (["flow-run", "ls", "-o", "xml"], ["xml", "table", "json"]),
        (["flow-run", "inspect", "x", "-o", "yaml"], ["yaml"]),
        (["config", "view", "-o", "csv"], ["csv"]),
        (["flow-run", "ls", "--no-such-option"], ["--no-such-option"]),
        (["flow-run", "inspect"], ["ID_OR_NAME"]),
        (["flow-run", "logs"], ["ID_OR_NAME"]),
        (["flow-run", "ls", "extra"], ["extra"]),
    ],
)
def test_usage_errors(args: list[str], fragments: list[str], runnel_cli: Runner) -> None:
    line = _assert_one_line_error(runnel_cli(*args), 2, *fragments)
    assert "--help" in line


@pytest.mark.parametrize(
    "args",
    [
        ["flow-run", "ls"],
        ["flow-run", "inspect", "x"],
        ["flow-run", "logs", "x"],
        ["task-run", "ls"],
        ["version"],
    ],
)
def test_corrupt_database(args: list[str], runnel_cli: Runner, runnel_home: Path) -> None:
    runnel_home.mkdir(parents=True)
    database = runnel_home / "runnel.db"
    database.write_bytes(b"this is not SQLite \x00\xff" * 500)
    result = runnel_cli(*args)
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and str(database) in lines[0]
    assert database.read_bytes().startswith(b"this is not SQLite")


def test_bad_setting(runnel_cli: Runner) -> None:
    result = runnel_cli("flow-run", "ls", env={"RUNNEL_HEARTBEAT_EXPIRY_SECONDS": "soon"})
    _assert_one_line_error(result, 1, "RUNNEL_HEARTBEAT_EXPIRY_SECONDS", "soon")


def test_unsupported_database_url(runnel_cli: Runner) -> None:
    result = runnel_cli("config", "view", env={"RUNNEL_DATABASE_URL": "mysql://me@db/runnel"})
    assert result.returncode == 0, result.stderr
    result = runnel_cli("flow-run", "ls", env={"RUNNEL_DATABASE_URL": "mysql://me@db/runnel"})
    _assert_one_line_error(result, 1, "RUNNEL_DATABASE_URL")
