"""``runnel demo`` tells its story offline in three runs and exits 0 when it went as planned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNNEL = Path(sys.executable).with_name("runnel")
CACHE_HIT = "Finished in state Cached(type=COMPLETED)"


def runnel(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RUNNEL), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "150", **(env or {})},
        timeout=60,
    )


def summary(stdout: str) -> dict[str, dict[str, str]]:
    """The summary table's rows, by run, as {column: cell}."""
    lines = [line for line in stdout.splitlines() if "┃" in line or "│" in line]
    columns = [cell.strip() for cell in lines[0].split("┃")[1:-1]]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines[1:]]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in rows}


def flow_runs(home: Path) -> list[dict[str, object]]:
    listed = runnel("flow-run", "ls", "-o", "json", env={"RUNNEL_HOME": str(home)})
    assert listed.returncode == 0, listed.stderr
    runs: list[dict[str, object]] = json.loads(listed.stdout)
    return runs


@pytest.mark.slow
def test_plain_fails_robust_rides_through_and_cached_sends_nothing(
    tmp_path: Path, runnel_home: Path
) -> None:
    home = tmp_path / "demo-home"
    done = runnel("demo", "--repos", "6", "--home", str(home))
    assert done.returncode == 0, done.stderr
    runs = summary(done.stdout)
    assert list(runs) == ["plain", "robust", "cached"]
    plain, robust, cached = runs["plain"], runs["robust"], runs["cached"]
    # Every third repo's first call answers 503: the plain run dies on the third repo.
    assert (plain["outcome"], plain["requests"], plain["retries"]) == ("Failed", "3", "0")
    # The robust run retries both flaky repos, once each, and never hears 429.
    assert robust["outcome"] == "Completed"
    assert (robust["requests"], robust["retries"], robust["429s"]) == ("8", "2", "0")
    assert (cached["outcome"], cached["requests"], cached["cache hits"]) == ("Completed", "0", "6")
    assert cached["cache saved"].endswith(("ms", "s")) and robust["cache saved"] == "-"

    log = done.stderr
    assert "No retries configured" in log and "Retry 1/3 will start in 0.5" in log
    assert "for rate limit 'repo-api'" in log and "| WARNING | " in log
    assert log.count(CACHE_HIT) == 6
    assert "Created global concurrency limit 'repo-api' (5 slots, decaying 10/s)" in done.stdout

    # --home keeps the history, rate limit included; the environment's home is not touched.
    listed = flow_runs(home)
    assert [run["name"] for run in listed] == [
        cached["flow run"],
        robust["flow run"],
        plain["flow run"],
    ]
    assert [run["state_name"] for run in listed] == ["Completed", "Completed", "Failed"]
    limit = runnel("gcl", "inspect", "repo-api", "-o", "json", env={"RUNNEL_HOME": str(home)})
    assert json.loads(limit.stdout)["slot_decay_per_second"] == 10
    assert not runnel_home.exists()


@pytest.mark.slow
def test_the_temporary_home_is_removed_unless_kept(tmp_path: Path, runnel_home: Path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    assert runnel("demo", "--repos", "3", env=env).returncode == 0
    assert list(temp.iterdir()) == []

    kept = runnel("demo", "--repos", "3", "--keep", env=env)
    assert kept.returncode == 0, kept.stderr
    [home] = temp.iterdir()
    assert f"RUNNEL_HOME={home} runnel flow-run ls" in kept.stdout
    assert len(flow_runs(home)) == 3
    assert not runnel_home.exists()


@pytest.mark.slow
def test_a_home_with_its_own_limit_keeps_it_and_a_broken_story_exits_1(
    tmp_path: Path, runnel_home: Path
) -> None:
    home = tmp_path / "demo-home"
    env = {"RUNNEL_HOME": str(home)}
    assert runnel("gcl", "create", "repo-api", "--limit", "0", env=env).returncode == 0
    done = runnel("demo", "--repos", "3", "--home", str(home))
    assert done.returncode == 1
    assert "Using the rate limit 'repo-api' this home already has" in done.stderr
    runs = summary(done.stdout)
    # Its 0 slots can never be granted: the robust pipeline cannot send a request.
    assert [runs[run]["outcome"] for run in ("plain", "robust", "cached")] == ["Failed"] * 3
    assert runs["robust"]["requests"] == "0"
    assert not runnel_home.exists()
    assert "The story did not go as planned" in done.stderr and "Traceback" not in done.stderr


def test_demo_refuses_a_bad_option() -> None:
    done = runnel("demo", "--repos", "2")
    assert done.returncode == 2
    assert done.stderr.startswith("Error:") and "Traceback" not in done.stderr
