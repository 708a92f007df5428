"""``runnel demo``: the tutorial's story, offline, against a misbehaving API on 127.0.0.1.

Two runs of the same pipeline against an API that answers 503 to the first two calls for
every repo: first as a plain script (no retries), which dies on the first 503; then with
``retries=3``, which rides through. The run history they leave is summed up at the end.
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
from pathlib import Path
from typing import Any

import typer

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


@dataclass
class DemoRun:
    title: str
    outcome: str
    seconds: float
    requests: int
    retries: int
    failures_received: int
    flow_run: str


def _repos(count: int) -> list[str]:
    names = REPOS[:count]
    names += [f"example/repo-{i}" for i in range(len(names), count)]
    return names


def _pipeline(base_url: str, retries: int) -> Any:
    from runnel import flow, task

    @task(name="fetch_stats", retries=retries)
    def fetch_stats(github_repo: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"{base_url}/repos/{github_repo}", timeout=10) as answer:
                data: dict[str, Any] = json.load(answer)
                return data
        except urllib.error.HTTPError as error:
            raise error.with_traceback(None) from None  # urllib's own frames are noise here

    @task(name="get_stars")
    def get_stars(repo_stats: dict[str, Any]) -> int:
        return int(repo_stats["stargazers_count"])

    @flow(name="show-stars", log_prints=True)
    def show_stars(github_repos: list[str]) -> None:
        for repo in github_repos:
            stars = get_stars(fetch_stats(repo))
            print(f"{repo}: {stars} stars")

    return show_stars


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


def _one_run(title: str, repos: list[str], retries: int, stars: dict[str, int]) -> DemoRun:
    from runnel.cli.demo_api import RepoStatsApi, serve
    from runnel.store import get_store

    with serve(RepoStatsApi(stars, fail_first=2, latency=0.02)) as api:
        show_stars = _pipeline(api.url, retries)
        started = time.perf_counter()
        state = show_stars(repos, return_state=True)
        seconds = time.perf_counter() - started
    store = get_store()
    flow_run = store.list_flow_runs(limit=1)[0]
    task_runs = store.list_task_runs(flow_run.id)
    return DemoRun(
        title=title,
        outcome=state.name,
        seconds=seconds,
        requests=api.requests,
        retries=sum(t.run_count - 1 for t in task_runs if t.run_count > 1),
        failures_received=sum(n for status, n in api.statuses.items() if status >= 500),
        flow_run=flow_run.name,
    )


def demo(
    repos: int = typer.Option(
        5, "--repos", min=1, max=200, help="How many repos the pipeline fetches."
    ),
    home: Path | None = typer.Option(
        None, "--home", help="RUNNEL_HOME for the demo's history (kept)."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the demo's history to browse afterwards."
    ),
) -> None:
    """Run the tutorial's pipeline offline against a misbehaving API on 127.0.0.1."""
    runs = run_demo(repos, home, keep)
    if runs[-1].outcome != "Completed":
        raise typer.Exit(1)


def run_demo(repo_count: int = 5, home: Path | None = None, keep: bool = False) -> list[DemoRun]:
    """Run the demo's story and print its summary; returns the runs it made."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    own_home = home is None
    demo_home = Path(tempfile.mkdtemp(prefix="runnel-demo-")) if home is None else home
    # The demo keeps to its own home: a shared database or result folder is never touched.
    saved = {name: os.environ.pop(name, None) for name in _DEMO_SETTINGS}
    repos = _repos(repo_count)
    stars = {repo: 1000 + 7919 * i % 90000 for i, repo in enumerate(repos)}
    _use_home(demo_home)
    try:
        console.rule("[bold]1. The plain script: no retries, so the first 503 ends it")
        runs = [_one_run("plain", repos, 0, stars)]
        console.rule("[bold]2. The same pipeline with @task(retries=3)")
        runs.append(_one_run("retries=3", repos, 3, stars))
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

    table = Table(title="runnel demo: what happened")
    for column in ("run", "flow run", "outcome", "time", "requests", "503s", "retries"):
        table.add_column(column, no_wrap=True)
    for run in runs:
        colour = "green" if run.outcome == "Completed" else "red"
        table.add_row(
            run.title,
            run.flow_run,
            f"[{colour}]{run.outcome}[/{colour}]",
            f"{run.seconds:.2f} s",
            str(run.requests),
            str(run.failures_received),
            str(run.retries),
        )
    out = Console()
    if not out.is_terminal:
        out = Console(width=100)  # a log file has room for the whole table
    out.print(table)
    if own_home and not keep:
        shutil.rmtree(demo_home, ignore_errors=True)
    else:
        Console().print(f"Browse the history: RUNNEL_HOME={demo_home} runnel flow-run ls")
    return runs
