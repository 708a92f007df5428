"""The tutorial's concurrency step runs on runnel with only its import (and URL) changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from runnel.cli.demo_api import RepoStatsApi, serve

TUTORIAL = """
import httpx
from runnel import flow, task

@flow(log_prints=True)
def show_stars(github_repos: list[str]):
    repo_stats = []
    for repo in github_repos:
        repo_stats.append({'repo': repo, 'task': fetch_stats.submit(repo)})
    for repo in repo_stats:
        stars = get_stars(repo['task'].result())
        print(f"{repo['repo']}: {stars} stars")

@task
def fetch_stats(github_repo: str):
    return httpx.get(f"https://api.github.com/repos/{github_repo}").json()

@task
def get_stars(repo_stats: dict):
    return repo_stats['stargazers_count']

if __name__ == "__main__":
    show_stars(REPOS)
"""

STARS = {f"octo-org/repo-{i:02d}": 1000 + 37 * i for i in range(16)}
LATENCY_SECONDS = 0.5
# One round trip, plus interpreter start, imports and history; 16 in a row would take 8 s.
WALL_BUDGET_SECONDS = 3.0


def runnel_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("runnel")
    env = {**os.environ, "RUNNEL_HOME": str(home)}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=60)


def test_concurrent_step_takes_one_round_trip(tmp_path: Path, runnel_home: Path) -> None:
    with serve(RepoStatsApi(STARS, latency=LATENCY_SECONDS)) as api:
        script = tmp_path / "show_stars.py"
        source = TUTORIAL.replace("https://api.github.com", api.url)
        script.write_text(source.replace("REPOS", repr(list(STARS))))
        env = {**os.environ, "RUNNEL_HOME": str(runnel_home)}
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
        )
        wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    log = done.stderr
    for repo, stars in STARS.items():
        assert f"{repo}: {stars} stars" in log
        assert api.calls[repo] == 1
    assert "Traceback" not in log
    assert wall < WALL_BUDGET_SECONDS, f"took {wall:.2f} s: the fetches did not overlap"

    runs = json.loads(runnel_cli("flow-run", "ls", "-o", "json", home=runnel_home).stdout)
    assert len(runs) == 1
    assert runs[0]["flow_name"] == "show-stars"
    assert runs[0]["state_type"] == "COMPLETED"
    inspected = runnel_cli("flow-run", "inspect", runs[0]["id"], "-o", "json", home=runnel_home)
    task_runs = json.loads(inspected.stdout)["task_runs"]
    assert len(task_runs) == 2 * len(STARS)
    names = sorted(t["task_name"] for t in task_runs)
    assert names == ["fetch_stats"] * len(STARS) + ["get_stars"] * len(STARS)
    assert all(t["state_type"] == "COMPLETED" for t in task_runs)
