"""Step 3, when calls are too fast: a rate limit.

GitHub answers 60 requests an hour to a client without a token, and 403 or 429 after that.
A rate limit named ``github-api`` keeps every process that uses it under that budget:
``rate_limit("github-api")`` returns at once while the limit has room, and otherwise
sleeps exactly until it has. Create the limit once; it lives in the run history's store:

    runnel gcl create github-api --limit 60 --slot-decay-per-second 0.016
    python examples/step3_rate_limit.py [OWNER/NAME ...]

60 slots, and one slot frees itself every 62 seconds (0.016 per second): bursts of up to
60, then about one request a minute. Without the limit the script still runs, logs a
warning that no limit is named ``github-api``, and does not wait.

It asks https://api.github.com; set GITHUB_API_URL to ask any server with the same
``/repos/OWNER/NAME`` route instead.
"""

import json
import os
import sys
import urllib.request

from runnel import flow, task
from runnel.concurrency.sync import rate_limit

API_URL = os.environ.get("GITHUB_API_URL", "https://api.github.com")
REPOS = ["PrefectHQ/prefect", "pydantic/pydantic", "huggingface/transformers"]


@task
def fetch_stats(github_repo: str) -> dict:
    # Taken here, next to the request, so that every request takes a slot and nothing else does.
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
