"""The tutorial's final pipeline: a rate limit made from the CLI, used from code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from runnel.cli.demo_api import RepoStatsApi, serve

PIPELINE = """
import httpx
from runnel import flow, task
from runnel.concurrency.sync import rate_limit

@flow(log_prints=True)
def show_stars(github_repos: list[str]):
    repo_stats = []
    for repo in github_repos:
        rate_limit("github-api")
        repo_stats.append({'repo': repo, 'task': fetch_stats.submit(repo)})
    for repo in repo_stats:
        print(f"{repo['repo']}: {get_stars(repo['task'].result())} stars")

@task
def fetch_stats(github_repo: str):
    return httpx.get(f"https://api.github.com/repos/{github_repo}").json()

@task
def get_stars(repo_stats: dict):
    return repo_stats['stargazers_count']

if __name__ == "__main__":
    show_stars(REPOS)
"""


def runnel(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("runnel")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=dict(os.environ), timeout=60
    )


def test_final_pipeline_under_the_tutorials_rate_limit(tmp_path: Path) -> None:
    made = runnel(
        "gcl", "create", "github-api", "--limit", "60", "--slot-decay-per-second", "0.016"
    )
    assert made.returncode == 0, made.stderr
    repos = [f"org/repo-{i}" for i in range(5)]
    stars = {repo: 100 + i for i, repo in enumerate(repos)}
    with serve(RepoStatsApi(stars, max_per_second=10)) as api:
        script = tmp_path / "pipeline.py"
        script.write_text(
            PIPELINE.replace("https://api.github.com", api.url).replace("REPOS", repr(repos))
        )
        done = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    for repo, count in stars.items():
        assert f"{repo}: {count} stars" in done.stderr
    assert api.statuses.get(429, 0) == 0
    assert "WARNING" not in done.stderr  # the limit exists: no missing-limit warning

    shown = json.loads(runnel("gcl", "inspect", "github-api", "-o", "json").stdout)
    taken = shown.get("current_slots", shown.get("active_slots"))
    assert 4.5 < taken <= 5  # five slots taken, decaying at 0.016 per second since
    time.sleep(0.1)
