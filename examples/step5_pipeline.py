"""Step 5, the whole pipeline: retries, concurrency, a rate limit and a cache together.

Each fetch is submitted at once (step 2), takes a slot of the ``github-api`` rate limit
before its request (step 3), is retried when the request fails (step 1), and is answered
from the cache when the same repo was fetched in the last day (step 4): a cache hit does
not run the function, so it spends no slot and makes no request.

    runnel gcl create github-api --limit 60 --slot-decay-per-second 0.016   # once
    python examples/step5_pipeline.py [OWNER/NAME ...]

It asks https://api.github.com; set GITHUB_API_URL to ask any server with the same
``/repos/OWNER/NAME`` route instead. Afterwards ``runnel flow-run ls`` and
``runnel flow-run inspect NAME`` show what happened.
"""

import json
import os
import sys
import urllib.request
from datetime import timedelta

from runnel import flow, task
from runnel.cache_policies import INPUTS
from runnel.concurrency.sync import rate_limit

API_URL = os.environ.get("GITHUB_API_URL", "https://api.github.com")
REPOS = ["PrefectHQ/prefect", "pydantic/pydantic", "huggingface/transformers"]


@task(retries=3, cache_policy=INPUTS, cache_expiration=timedelta(days=1))
def fetch_stats(github_repo: str) -> dict:
    rate_limit("github-api")
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
