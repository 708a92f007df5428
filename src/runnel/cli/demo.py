"""``runnel demo``: the tutorial's story, offline, against a misbehaving API on 127.0.0.1.

The API (``runnel.cli.demo_api``) misbehaves the way real ones do, and the same way every
time: every answer takes a quarter of a second, the first call for every third repo answers
503, and a request that makes more than 20 in one second gets 429 with ``Retry-After``.
Three runs of the tutorial's ``show-stars`` flow tell the story:

1. **plain**: the tutorial's first flow, one call at a time, no retries: slow, and the first
   503 ends it.
2. **robust**: ``@task(retries=3, retry_delay_seconds=0.5)`` rides through the 503s,
   ``.submit()`` overlaps the slow calls, and ``rate_limit("repo-api")`` keeps them under the
   API's threshold, so no 429 comes back. The task takes the rate limit itself, before each
   request, so that a retry takes a slot too: taken in the flow before ``.submit()``, the
   tutorial's place for it, the limit would let retries through uncounted. The limit is
   created in the demo's home with the code of ``runnel gcl create``: a burst of 5 and 10
   per second after, two and a half times what one call at a time gets through, and under
   the API's 20 in any second even when a request reaches the API half a second after its
   slot was granted (a loaded machine). A home that already has a ``repo-api`` limit keeps
   its own: with ``--home``, ``runnel gcl update repo-api`` shows what another limit does. ``fetch_stats`` caches on its inputs (``cache_policy=INPUTS``,
   a day's expiry); this run refreshes the records (``refresh_cache=True``) so that a kept
   home tells the same story the next time.
3. **cached**: the robust pipeline again: every fetch is answered from the cache and the API
   receives nothing.

Each run gets an API of its own, so its counts (and its first-call 503s) are its own. The
summary's "cache saved" is what ``runnel flow-run inspect`` shows: how long the task runs
that made the records took, summed over the hits (those runs overlapped and waited for the
rate limit, so the sum is more than the robust run's wall time).

The history goes to a temporary ``RUNNEL_HOME``, removed at the end unless ``--keep``, or
to ``--home`` (kept). The user's own home, database and result folder are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

REPOS = [
    "PrefectHQ/prefect",
    "pydantic/pydantic",
    "huggingface/transformers",
    "pandas-dev/pandas",
    "numpy/numpy",
    "psf/requests",
    "pallets/flask",
    "django/django",
    "fastapi/fastapi",
    "encode/httpx",
    "dask/dask",
    "apache/airflow",
    "python/cpython",
    "scikit-learn/scikit-learn",
    "pytorch/pytorch",
    "tiangolo/typer",
    "Textualize/rich",
    "psycopg/psycopg",
    "sqlalchemy/sqlalchemy",
    "astral-sh/ruff",
]
DEFAULT_REPOS = len(REPOS)

LATENCY_SECONDS = 0.25
FLAKY_EVERY = 3  # every third repo's first call answers 503
API_MAX_PER_SECOND = 20
LIMIT_NAME = "repo-api"
LIMIT_SLOTS = 5
LIMIT_DECAY_PER_SECOND = 10.0


@dataclass
class DemoRun:
    """What one run did, as the summary shows it."""

    title: str
    flow_run: str
    outcome: str
    seconds: float
    requests: int
    retries: int
    throttled: int
    cache_hits: int
    cache_saved: float


def _repos(count: int) -> list[str]:
    names = REPOS[:count]
    names += [f"example/repo-{i}" for i in range(len(names), count)]
    return names


def _get_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            data: dict[str, Any] = json.load(answer)
            return data
    except urllib.error.HTTPError as error:
        raise error.with_traceback(None) from None  # urllib's own frames are noise here


def _get_stars_task() -> Any:
    from runnel import task

    @task(name="get_stars")
    def get_stars(repo_stats: dict[str, Any]) -> int:
        return int(repo_stats["stargazers_count"])

    return get_stars


def _plain_pipeline(base_url: str) -> Any:
    """The tutorial's first flow: one call after the other, and nothing to catch a failure."""
    from runnel import flow, task

    get_stars = _get_stars_task()

    @task(name="fetch_stats")
    def fetch_stats(github_repo: str) -> dict[str, Any]:
        return _get_json(f"{base_url}/repos/{github_repo}")

    @flow(name="show-stars", log_prints=True)
    def show_stars(github_repos: list[str]) -> None:
        for repo in github_repos:
            print(f"{repo}: {get_stars(fetch_stats(repo))} stars")

    return show_stars


def _robust_pipeline(base_url: str, refresh_cache: bool) -> Any:
    """The tutorial's last flow: retries, overlapping calls, a rate limit and a cache."""
    from runnel import flow, task
    from runnel.cache_policies import INPUTS
    from runnel.concurrency.sync import rate_limit

    get_stars = _get_stars_task()

    @task(
        name="fetch_stats",
        retries=3,
        retry_delay_seconds=0.5,
        cache_policy=INPUTS,
        cache_expiration=timedelta(days=1),
        refresh_cache=refresh_cache,
    )
    def fetch_stats(github_repo: str) -> dict[str, Any]:
        rate_limit(LIMIT_NAME)  # every attempt is a request: retries take a slot too
        return _get_json(f"{base_url}/repos/{github_repo}")

    @flow(name="show-stars", log_prints=True)
    def show_stars(github_repos: list[str]) -> None:
        fetched = [fetch_stats.submit(repo) for repo in github_repos]
        for repo, repo_stats in zip(github_repos, fetched, strict=True):
            print(f"{repo}: {get_stars(repo_stats)} stars")

    return show_stars


def _create_rate_limit(console: Console) -> None:
    """Create the demo's rate limit with ``runnel gcl create``'s code, unless there is one."""
    from runnel.cli.limits import create
    from runnel.store import get_store

    if get_store().read_limit(LIMIT_NAME) is not None:
        console.print(f"Using the rate limit {LIMIT_NAME!r} this home already has")
        return
    console.print(
        f"$ runnel gcl create {LIMIT_NAME} --limit {LIMIT_SLOTS} "
        f"--slot-decay-per-second {LIMIT_DECAY_PER_SECOND:g}",
        highlight=False,
    )
    create(LIMIT_NAME, LIMIT_SLOTS, LIMIT_DECAY_PER_SECOND, disable=False)


def _one_run(
    title: str, show_stars_for: Callable[[str], Any], repos: list[str], stars: dict[str, int]
) -> DemoRun:
    """Run the flow ``show_stars_for(api_url)`` against a fresh API; what it did."""
    from runnel.cli.demo_api import RepoStatsApi, serve
    from runnel.cli.flow_runs import cache_hits, cache_saved
    from runnel.store import get_store

    flaky = repos[FLAKY_EVERY - 1 :: FLAKY_EVERY]
    api = RepoStatsApi(
        stars,
        fail_first=1,
        flaky=flaky,
        latency=LATENCY_SECONDS,
        max_per_second=API_MAX_PER_SECOND,
    )
    with serve(api):
        show_stars = show_stars_for(api.url)
        started = time.perf_counter()
        state = show_stars(repos, return_state=True)
        seconds = time.perf_counter() - started
    store = get_store()
    flow_run = store.list_flow_runs(limit=1)[0]
    task_runs = store.list_task_runs(flow_run.id)
    return DemoRun(
        title=title,
        flow_run=flow_run.name,
        outcome=state.name,
        seconds=seconds,
        requests=api.requests,
        retries=sum(t.run_count - 1 for t in task_runs if t.run_count > 1),
        throttled=api.statuses[429],
        cache_hits=cache_hits(task_runs),
        cache_saved=cache_saved(task_runs),
    )


def went_as_planned(runs: list[DemoRun]) -> bool:
    """Plain failed; robust completed; cached completed without sending a request."""
    outcomes = [run.outcome for run in runs]
    return outcomes == ["Failed", "Completed", "Completed"] and runs[2].requests == 0


_DEMO_SETTINGS = ("RUNNEL_HOME", "RUNNEL_DATABASE_URL", "RUNNEL_API_URL", "RUNNEL_RESULTS_DIR")


def _use_home(home: Path | None) -> None:
    """Run with ``home`` as RUNNEL_HOME (None: with the environment as it is)."""
    from runnel.settings import reset_settings
    from runnel.store import reset_store
    from runnel.store.recorder import reset_recorder

    reset_recorder()
    reset_store()
    if home is not None:
        os.environ["RUNNEL_HOME"] = str(home)
    reset_settings()


def demo(
    repos: int = typer.Option(
        DEFAULT_REPOS,
        "--repos",
        min=FLAKY_EVERY,
        max=200,
        help="How many repos the pipeline fetches (every third one fails its first call).",
    ),
    home: Path | None = typer.Option(
        None, "--home", help="RUNNEL_HOME for the demo's history (kept)."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the demo's history to browse with 'runnel flow-run ls'."
    ),
) -> None:
    """Run the tutorial's pipeline offline against a misbehaving API on 127.0.0.1."""
    if not went_as_planned(run_demo(repos, home, keep)):
        typer.echo(
            "The story did not go as planned: the plain run should fail, the robust and the "
            "cached runs complete, and the cached one send no request.",
            err=True,
        )
        raise typer.Exit(1)


def run_demo(
    repo_count: int = DEFAULT_REPOS, home: Path | None = None, keep: bool = False
) -> list[DemoRun]:
    """Run the demo's story and print its summary; returns the runs it made."""
    from rich.console import Console

    console = Console(stderr=True)
    own_home = home is None
    demo_home = Path(tempfile.mkdtemp(prefix="runnel-demo-")) if home is None else home
    # The demo keeps to its own home: a shared database or result folder is never touched.
    saved = {name: os.environ.pop(name, None) for name in _DEMO_SETTINGS}
    repos = _repos(repo_count)
    stars = {repo: 1000 + 7919 * i % 90000 for i, repo in enumerate(repos)}
    _use_home(demo_home)
    try:
        console.rule("[bold]1. plain: one call at a time, no retries: the first 503 ends it")
        runs = [_one_run("plain", _plain_pipeline, repos, stars)]
        console.rule("[bold]2. robust: retries, .submit() and a rate limit")
        _create_rate_limit(console)
        runs.append(_one_run("robust", lambda url: _robust_pipeline(url, True), repos, stars))
        console.rule("[bold]3. cached: the robust pipeline again, answered from the cache")
        runs.append(_one_run("cached", lambda url: _robust_pipeline(url, False), repos, stars))
    except BaseException:
        if own_home and not keep:
            shutil.rmtree(demo_home, ignore_errors=True)
        raise
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
        _use_home(None)

    _print_summary(runs)
    if own_home and not keep:
        shutil.rmtree(demo_home, ignore_errors=True)
    else:
        Console().print(
            f"Browse the history: RUNNEL_HOME={demo_home} runnel flow-run ls", highlight=False
        )
    return runs


def _print_summary(runs: list[DemoRun]) -> None:
    from rich.console import Console
    from rich.table import Table

    from runnel.cli.output import format_duration

    table = Table(
        title="runnel demo: what happened",
        caption="cache saved: how long the task runs that made the records took, summed",
    )
    columns = ("run", "flow run", "outcome", "wall time", "requests", "retries", "429s")
    for column in (*columns, "cache hits", "cache saved"):
        table.add_column(column, no_wrap=True)
    for run in runs:
        colour = "green" if run.outcome == "Completed" else "red"
        table.add_row(
            run.title,
            run.flow_run,
            f"[{colour}]{run.outcome}[/{colour}]",
            format_duration(run.seconds),
            str(run.requests),
            str(run.retries),
            str(run.throttled),
            str(run.cache_hits),
            format_duration(run.cache_saved) if run.cache_hits else "-",
        )
    out = Console()
    if not out.is_terminal:
        out = Console(width=120)  # a log file has room for the whole table
    out.print(table)
