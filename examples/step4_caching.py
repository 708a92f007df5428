"""Step 4, when work repeats: caching.

Star counts change slowly, and every request spends the hourly budget. With
``cache_policy=INPUTS`` a call with a repo it has fetched before is answered from a record
on disk (``RUNNEL_HOME/storage``) instead of the network, for a day
(``cache_expiration``). Run the script twice: the second run makes no request, and the
console shows ``Finished in state Cached(type=COMPLETED)`` for each fetch.

    python examples/step4_caching.py [OWNER/NAME ...]
    python examples/step4_caching.py [OWNER/NAME ...]    # again: from the cache

It asks https://api.github.com; set GITHUB_API_URL to ask any server with the same
``/repos/OWNER/NAME`` route instead. ``runnel cache ls`` lists the records.
"""

import json
import os
import sys
import urllib.request
from datetime import timedelta

from runnel import flow, task
from runnel.cache_policies import INPUTS

API_URL = os.environ.get("GITHUB_API_URL", "https://api.github.com")
REPOS = ["PrefectHQ/prefect", "pydantic/pydantic", "huggingface/transformers"]


@task(cache_policy=INPUTS, cache_expiration=timedelta(days=1))
def fetch_stats(github_repo: str) -> dict:
    with urllib.request.urlopen(f"{API_URL}/repos/{github_repo}", timeout=30) as response:
        return json.load(response)


@task
def get_stars(repo_stats: dict) -> int:
    return repo_stats["stargazers_count"]


@flow(log_prints=True)
def show_stars(github_repos: list[str]) -> None:
    for repo in github_repos:
        stars = get_stars(fetch_stats(repo))
        print(f"{repo}: {stars} stars")


if __name__ == "__main__":
    show_stars(sys.argv[1:] or REPOS)
