"""The tutorial's caching step runs on runnel with only its import (and URL) changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runnel.cli.demo_api import RepoStatsApi, serve

TUTORIAL = """
import httpx
from datetime import timedelta
from runnel import flow, task
from runnel.cache_policies import INPUTS

@flow(log_prints=True)
def show_stars(github_repos: list[str]):
    for repo in github_repos:
        repo_stats = fetch_stats(repo)
        stars = get_stars(repo_stats)
        print(f"{repo}: {stars} stars")

@task(cache_policy=INPUTS, cache_expiration=timedelta(days=1))
def fetch_stats(github_repo: str):
    return httpx.get(f"https://api.github.com/repos/{github_repo}").json()

@task
def get_stars(repo_stats: dict):
    return repo_stats['stargazers_count']

if __name__ == "__main__":
    show_stars(["PrefectHQ/prefect", "pydantic/pydantic", "huggingface/transformers"])
"""

STARS = {"PrefectHQ/prefect": 17000, "pydantic/pydantic": 21000, "huggingface/transformers": 130000}
HIT_LINE = "Finished in state Cached(type=COMPLETED)"


def test_the_second_run_answers_from_the_cache(tmp_path: Path, runnel_home: Path) -> None:
    script = tmp_path / "show_stars.py"
    env = {**os.environ, "RUNNEL_HOME": str(runnel_home)}
    runs = []
    with serve(RepoStatsApi(STARS)) as api:
        script.write_text(TUTORIAL.replace("https://api.github.com", api.url))
        for _ in range(2):
            before = api.requests
            done = subprocess.run(
                [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60
            )
            assert done.returncode == 0, done.stderr
            runs.append((api.requests - before, done.stderr))
    (first_requests, first_log), (second_requests, second_log) = runs
    assert first_requests == 3
    assert second_requests == 0
    assert first_log.count(HIT_LINE) == 0
    assert second_log.count(HIT_LINE) == 3
    assert all(
        "Task run 'fetch_stats-" in line for line in second_log.splitlines() if HIT_LINE in line
    )
    for log in (first_log, second_log):
        for repo, stars in STARS.items():
            assert f"{repo}: {stars} stars" in log
        assert "Traceback" not in log and "| WARNING" not in log and "| ERROR" not in log
