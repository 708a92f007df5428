"""``runnel flow-run ls | inspect | logs`` on the history of real flow runs."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Runner


pytestmark = pytest.mark.usefixtures("history")
JsonRunner = Callable[..., Any]


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == UTC.utcoffset(None)
    return moment


def test_ls_table_lists_runs_newest_first(runnel_cli: Runner) -> None:
    result = runnel_cli("flow-run", "ls")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = [line for line in lines if "-etl" in line or "broken-run" in line]
    assert ["second-etl" in rows[0], "broken-run" in rows[1], "first-etl" in rows[2]] == [True] * 3
    assert "Completed" in rows[0] and "Failed" in rows[1]
    for header in ("ID", "Name", "Flow", "State", "Start", "Duration"):
        assert header in result.stdout


def test_ls_table_shows_short_ids(runnel_cli: Runner, cli_json: JsonRunner) -> None:
    newest = cli_json("flow-run", "ls")[0]["id"]
    table = runnel_cli("flow-run", "ls").stdout
    assert newest[:8] in table and newest not in table


def test_ls_json_has_full_fields(cli_json: JsonRunner) -> None:
    runs = cli_json("flow-run", "ls")
    assert [r["name"] for r in runs] == ["second-etl", "broken-run", "first-etl"]
    second = runs[0]
    assert second["flow_name"] == "etl"
    assert second["state_type"] == "COMPLETED" and second["state_name"] == "Completed"
    assert second["parameters"] == {"label": "second", "n": 5}
    assert second["tags"] == []
    assert len(second["id"]) == 36
    start, end = _utc(second["start_time"]), _utc(second["end_time"])
    assert _utc(second["created"]) <= start <= end
    assert second["duration_seconds"] == pytest.approx((end - start).total_seconds(), abs=1e-3)
    assert runs[1]["state_type"] == "FAILED" and "this flow breaks" in runs[1]["state_message"]


def test_ls_limit_and_flow_filter(cli_json: JsonRunner, runnel_cli: Runner) -> None:
    assert [r["name"] for r in cli_json("flow-run", "ls", "--limit", "2")] == [
        "second-etl",
        "broken-run",
    ]
    assert [r["name"] for r in cli_json("flow-run", "ls", "-n", "1")] == ["second-etl"]
    assert [r["name"] for r in cli_json("flow-run", "ls", "--flow", "etl")] == [
        "second-etl",
        "first-etl",
    ]
    assert cli_json("flow-run", "ls", "--flow", "no-such-flow") == []
    assert "No flow runs" in runnel_cli("flow-run", "ls", "--flow", "no-such-flow").stdout


def test_output_format_is_case_insensitive(cli_json: JsonRunner, runnel_cli: Runner) -> None:
    result = runnel_cli("flow-run", "ls", "-o", "JSON")
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("[")


@pytest.mark.parametrize("how", ["id", "prefix", "name"])
def test_inspect_finds_the_run_by_id_prefix_or_name(
    how: str, runnel_cli: Runner, cli_json: JsonRunner
) -> None:
    run_id = next(r["id"] for r in cli_json("flow-run", "ls") if r["name"] == "first-etl")
    key = {"id": run_id, "prefix": run_id[:6], "name": "first-etl"}[how]
    assert cli_json("flow-run", "inspect", key)["id"] == run_id
    table = runnel_cli("flow-run", "inspect", key)
    assert table.returncode == 0, table.stderr
    for text in (
        run_id,
        "first-etl",
        "Completed",
        '{"label": "first", "n": 3}',
        "State history",
        "Task runs",
        "Running",
    ):
        assert text in table.stdout


def test_inspect_json_shape(cli_json: JsonRunner) -> None:
    run = cli_json("flow-run", "inspect", "first-etl")
    assert run["name"] == "first-etl" and run["flow_name"] == "etl"
    assert run["parameters"] == {"label": "first", "n": 3}
    assert [s["name"] for s in run["states"]] == ["Pending", "Running", "Completed"]
    assert [s["seq"] for s in run["states"]] == [1, 2, 3]
    for state in run["states"]:
        _utc(state["timestamp"])
    tasks = run["task_runs"]
    assert [t["task_name"] for t in tasks] == ["double", "flaky"]
    assert [t["state_name"] for t in tasks] == ["Completed", "Completed"]
    assert [t["run_count"] for t in tasks] == [1, 2]
    assert all(t["flow_run_id"] == run["id"] and t["duration_seconds"] >= 0 for t in tasks)
    assert all(re.fullmatch(r"(double|flaky)-[0-9a-f]{3}", t["name"]) for t in tasks)


def test_inspect_table_shows_task_runs_with_run_count(
    runnel_cli: Runner, cli_json: JsonRunner
) -> None:
    tasks = cli_json("flow-run", "inspect", "first-etl")["task_runs"]
    table = runnel_cli("flow-run", "inspect", "first-etl").stdout
    flaky_row = next(line for line in table.splitlines() if tasks[1]["name"] in line)
    assert "Completed" in flaky_row and " 2 " in flaky_row


def test_inspect_failed_run_shows_its_message(runnel_cli: Runner) -> None:
    result = runnel_cli("flow-run", "inspect", "broken-run")
    assert result.returncode == 0, result.stderr
    assert "Failed" in result.stdout and "this flow breaks" in result.stdout


_LINE = re.compile(
    r"^\d\d:\d\d:\d\d\.\d{3} \| (?P<level>[A-Z]+) *\| (?P<who>(Flow|Task) run '[^']+') - (?P<message>.*)$"
)


def test_logs_print_the_console_format(runnel_cli: Runner, cli_json: JsonRunner) -> None:
    tasks = {
        t["task_name"]: t["name"] for t in cli_json("flow-run", "inspect", "first-etl")["task_runs"]
    }
    result = runnel_cli("flow-run", "logs", "first-etl")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    parsed = [m.groupdict() for m in map(_LINE.match, lines) if m]
    assert parsed[0] == {
        "level": "INFO",
        "who": "Flow run 'first-etl'",
        "message": "Beginning flow run 'first-etl' for flow 'etl'",
    }
    assert {
        "level": "INFO",
        "who": "Flow run 'first-etl'",
        "message": "starting first with n=3",
    } in parsed
    assert {
        "level": "INFO",
        "who": f"Task run '{tasks['double']}'",
        "message": "doubling 3",
    } in parsed
    assert any(
        p["who"] == f"Task run '{tasks['flaky']}'"
        and p["level"] == "WARNING"
        and "first attempt fails" in p["message"]
        for p in parsed
    )
    assert parsed[-1] == {
        "level": "INFO",
        "who": "Flow run 'first-etl'",
        "message": "Finished in state Completed()",
    }
    assert "second-etl" not in result.stdout


def test_logs_match_what_the_run_printed(run_python: Runner, runnel_cli: Runner) -> None:
    script = """
        from runnel import flow, get_run_logger, task

        @task
        def shout(word):
            get_run_logger().warning("%s!", word.upper())

        @flow(flow_run_name="loud-run", validate_parameters=False)
        def loud():
            get_run_logger().info("100% sure")
            shout("hey")
            shout("ho")

        loud()
    """
    printed = [line for line in run_python(script).stderr.splitlines() if _LINE.match(line)]
    result = runnel_cli("flow-run", "logs", "loud-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == printed
    assert any(
        "WARNING | Task run 'shout-" in line and line.endswith(" - HEY!") for line in printed
    )


def test_logs_include_the_traceback_of_a_failure(runnel_cli: Runner) -> None:
    result: subprocess.CompletedProcess[str] = runnel_cli("flow-run", "logs", "broken-run")
    assert result.returncode == 0, result.stderr
    assert "RuntimeError: this flow breaks" in result.stdout


def test_names_are_shown_as_written_not_as_rich_markup(
    run_python: Runner, runnel_cli: Runner
) -> None:
    run_python("""
        from runnel import flow

        @flow(flow_run_name="[bold]odd[/bold]-name", validate_parameters=False)
        def odd():
            pass

        odd()
    """)
    for args in (["flow-run", "ls"], ["flow-run", "inspect", "[bold]odd[/bold]-name"]):
        result = runnel_cli(*args)
        assert result.returncode == 0, result.stderr
        assert "[bold]odd[/bold]-name" in result.stdout


def _table_rows(text: str, first_header: str) -> list[list[str]]:
    """The rows of the Rich table in ``text`` whose header starts with ``first_header``."""
    rows: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        cells = [c.strip() for c in re.split("[│┃]", line)[1:-1]]
        if line.startswith("┃"):
            inside = cells[0] == first_header
            if inside:
                rows.append(cells)
        elif line.startswith("│") and inside:
            rows.append(cells)
    return rows


def test_inspect_and_task_run_ls_show_task_runs_alike(runnel_cli: Runner) -> None:
    inspected = _table_rows(runnel_cli("flow-run", "inspect", "first-etl").stdout, "ID")
    listed = _table_rows(runnel_cli("task-run", "ls", "--flow-run", "first-etl").stdout, "ID")
    flow_run_column = listed[0].index("Flow run")
    assert [row[:flow_run_column] + row[flow_run_column + 1 :] for row in listed] == inspected
    assert inspected[0] == ["ID", "Name", "State", "Runs", "Runner", "Start", "Duration"]
    assert len(inspected) == 3


def test_logs_of_a_run_without_log_lines_say_so(runnel_cli: Runner) -> None:
    from tests.store.test_contract import flow_run

    from runnel.store import get_store
    from runnel.store.base import Batch

    quiet = flow_run(name="quiet-run", state_type="COMPLETED", state_name="Completed")
    get_store().write(Batch(flow_runs=[quiet]))
    result = runnel_cli("flow-run", "logs", "quiet-run")
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == "no log lines for flow run 'quiet-run'\n"
