"""``runnel config view``, ``runnel version``, ``--help`` everywhere, and the import boundary."""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import runnel

if TYPE_CHECKING:
    from tests.cli.conftest import Runner


def test_config_view_shows_value_source_and_variable(runnel_cli: Runner, runnel_home: Path) -> None:
    runnel_home.mkdir(parents=True)
    (runnel_home / "config.toml").write_text("heartbeat_seconds = 5\n")
    result = runnel_cli("config", "view", env={"RUNNEL_LOGGING_LEVEL": "debug"})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│")}
    assert "DEBUG" in rows["logging_level"] and "env" in rows["logging_level"]
    assert "RUNNEL_LOGGING_LEVEL" in rows["logging_level"]
    assert "5.0" in rows["heartbeat_seconds"] and "config.toml" in rows["heartbeat_seconds"]
    assert "default" in rows["heartbeat_expiry_seconds"]
    assert str(runnel_home) in rows["home"] and "RUNNEL_HOME" in rows["home"]


def test_config_view_json(cli_json: Callable[..., Any], runnel_home: Path) -> None:
    rows = cli_json("config", "view", env={"RUNNEL_HEARTBEAT_EXPIRY_SECONDS": "7"})
    settings = {row["setting"]: row for row in rows}
    assert settings["heartbeat_expiry_seconds"] == {
        "setting": "heartbeat_expiry_seconds",
        "value": 7.0,
        "source": "env",
        "env": "RUNNEL_HEARTBEAT_EXPIRY_SECONDS",
    }
    assert settings["home"]["value"] == str(runnel_home)
    assert settings["database_url"]["source"] == "default"


def test_config_view_hides_database_password(cli_json: Callable[..., Any]) -> None:
    url = "postgresql://me:s3cret@db.example:5432/runnel"
    rows = cli_json("config", "view", env={"RUNNEL_DATABASE_URL": url})
    database_url = next(row for row in rows if row["setting"] == "database_url")
    assert database_url["value"] == "postgresql://me@db.example:5432/runnel"


def test_version(runnel_cli: Runner, runnel_home: Path) -> None:
    result = runnel_cli("version")
    assert result.returncode == 0, result.stderr
    assert runnel.__version__ in result.stdout
    assert platform.python_version() in result.stdout
    assert str(runnel_home / "runnel.db") in result.stdout
    from runnel.store.migrations import LATEST

    assert f"Schema:   {LATEST}" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["flow-run"],
        ["flow-run", "ls"],
        ["flow-run", "inspect"],
        ["flow-run", "logs"],
        ["task-run"],
        ["task-run", "ls"],
        ["config"],
        ["config", "view"],
        ["version"],
    ],
)
def test_every_command_has_help(command: list[str], runnel_cli: Runner) -> None:
    result = runnel_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: runnel" in result.stdout and result.stderr == ""


def test_no_command_prints_help(runnel_cli: Runner) -> None:
    result = runnel_cli()
    assert result.returncode == 2
    assert "flow-run" in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_import_runnel_does_not_import_the_cli_libraries() -> None:
    code = "import sys, runnel; print(sorted({'typer', 'rich', 'click'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
