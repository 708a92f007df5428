"""``runnel task-run ls`` on the history of real flow runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Runner


pytestmark = pytest.mark.usefixtures("history")


def test_ls_of_one_flow_run_in_the_order_they_ran(
    cli_json: Callable[..., Any], runnel_cli: Runner
) -> None:
    flow_run = cli_json("flow-run", "inspect", "second-etl")
    task_runs = cli_json("task-run", "ls", "--flow-run", "second-etl")
    assert [t["task_name"] for t in task_runs] == ["double", "flaky"]
    assert all(t["flow_run_id"] == flow_run["id"] for t in task_runs)
    assert cli_json("task-run", "ls", "--flow-run", flow_run["id"][:5]) == task_runs
    table = runnel_cli("task-run", "ls", "--flow-run", "second-etl")
    assert table.returncode == 0, table.stderr
    for task_run in task_runs:
        assert task_run["id"][-8:] in table.stdout and task_run["name"] in table.stdout
    assert "second-etl" in table.stdout and "Completed" in table.stdout


def test_ls_without_flow_run_shows_the_newest_of_any_flow(cli_json: Callable[..., Any]) -> None:
    task_runs = cli_json("task-run", "ls")
    assert len(task_runs) == 4
    newest_flow = cli_json("flow-run", "inspect", "second-etl")["id"]
    assert [t["flow_run_id"] == newest_flow for t in task_runs] == [True, True, False, False]
    assert [t["task_name"] for t in task_runs] == ["flaky", "double", "flaky", "double"]
    assert len(cli_json("task-run", "ls", "--limit", "3")) == 3


def test_ls_without_task_runs(runnel_cli: Runner) -> None:
    result = runnel_cli("task-run", "ls", "--flow-run", "broken-run")
    assert result.returncode == 0, result.stderr
    assert "No task runs" in result.stdout
