"""The tutorial's retry step runs on runnel with only its import (and URL) changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from runnel.cli.demo_api import RepoStatsApi, serve

TUTORIAL = """
import httpx
from runnel import flow, task

@flow(log_prints=True)
def show_stars(github_repos: list[str]):
    for repo in github_repos:
        repo_stats = fetch_stats(repo)
        stars = get_stars(repo_stats)
        print(f"{repo}: {stars} stars")

@task(retries=3)
def fetch_stats(github_repo: str):
    api_response = httpx.get(f"https://api.github.com/repos/{github_repo}")
    api_response.raise_for_status()
    return api_response.json()

@task
def get_stars(repo_stats: dict):
    return repo_stats['stargazers_count']

if __name__ == "__main__":
    show_stars(["PrefectHQ/prefect", "pydantic/pydantic", "huggingface/transformers"])
"""

STARS = {"PrefectHQ/prefect": 17000, "pydantic/pydantic": 21000, "huggingface/transformers": 130000}


def runnel_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("runnel")
    env = {**os.environ, "RUNNEL_HOME": str(home)}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=60)


def test_retry_step_rides_through_503s(tmp_path: Path, runnel_home: Path) -> None:
    with serve(RepoStatsApi(STARS, fail_first=2)) as api:
        script = tmp_path / "show_stars.py"
        script.write_text(TUTORIAL.replace("https://api.github.com", api.url))
        env = {**os.environ, "RUNNEL_HOME": str(runnel_home)}
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
        )
    assert done.returncode == 0, done.stderr
    log = done.stderr
    for repo, stars in STARS.items():
        assert f"{repo}: {stars} stars" in log
        assert api.calls[repo] == 3
    assert log.count("Task run failed with exception: HTTPStatusError(") == 6
    assert log.count("- Retry 1/3 will start in 0 second(s)") == 3
    assert log.count("- Retry 2/3 will start in 0 second(s)") == 3
    assert "Traceback" not in log

    runs = json.loads(runnel_cli("flow-run", "ls", "-o", "json", home=runnel_home).stdout)
    assert len(runs) == 1
    assert runs[0]["flow_name"] == "show-stars"
    assert runs[0]["state_type"] == "COMPLETED"
    from runnel.store import get_store

    tasks = get_store().list_task_runs(runs[0]["id"])
    assert [t.task_name for t in tasks] == ["fetch_stats", "get_stars"] * 3
    assert all(t.state_type == "COMPLETED" for t in tasks)
    assert [t.run_count for t in tasks if t.task_name == "fetch_stats"] == [3, 3, 3]
