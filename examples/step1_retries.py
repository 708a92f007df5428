"""Step 1, when a call fails: retries.

Any web API sometimes answers 502 or 503, or drops the connection. ``@task(retries=3)``
runs ``fetch_stats`` again when it raises, up to three more times, so one bad answer no
longer ends the whole pipeline. The console shows each failed attempt and its retry.

    python examples/step1_retries.py [OWNER/NAME ...]

It asks https://api.github.com (60 requests an hour without a token); set GITHUB_API_URL
to ask any server with the same ``/repos/OWNER/NAME`` route instead. The requests use the
standard library, so runnel is all it needs.
"""

import json
import os
import sys
import urllib.request

from runnel import flow, task

API_URL = os.environ.get("GITHUB_API_URL", "https://api.github.com")
REPOS = ["PrefectHQ/prefect", "pydantic/pydantic", "huggingface/transformers"]


@task(retries=3)
def fetch_stats(github_repo: str) -> dict:
    # urlopen raises HTTPError on a 4xx or 5xx answer, and the error is what makes it retry.
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
