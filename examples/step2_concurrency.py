"""Step 2, when calls are slow: submit them all at once.

Each request spends most of its time waiting for the network. ``fetch_stats.submit(repo)``
starts the task on the flow's thread pool and returns a future at once, so every request is
in flight together; ``future.result()`` waits for that one. Ten repos then take about one
round trip instead of ten.

    python examples/step2_concurrency.py [OWNER/NAME ...]

It asks https://api.github.com (60 requests an hour without a token); set GITHUB_API_URL
to ask any server with the same ``/repos/OWNER/NAME`` route instead.
"""

import json
import os
import sys
import urllib.request

from runnel import flow, task

API_URL = os.environ.get("GITHUB_API_URL", "https://api.github.com")
REPOS = ["PrefectHQ/prefect", "pydantic/pydantic", "huggingface/transformers"]


@task
def fetch_stats(github_repo: str) -> dict:
    with urllib.request.urlopen(f"{API_URL}/repos/{github_repo}", timeout=30) as response:
        return json.load(response)


@task
def get_stars(repo_stats: dict) -> int:
    return repo_stats["stargazers_count"]


@flow(log_prints=True)
def show_stars(github_repos: list[str]) -> None:
    futures = {repo: fetch_stats.submit(repo) for repo in github_repos}
    for repo, future in futures.items():
        stars = get_stars(future.result())
        print(f"{repo}: {stars} stars")


if __name__ == "__main__":
    show_stars(sys.argv[1:] or REPOS)
