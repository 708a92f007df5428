"""Each script in examples/ runs as a user would run it, against a misbehaving local API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runnel.cli.demo_api import RepoStatsApi, serve

EXAMPLES = Path(__file__).parent.parent / "examples"
TUTORIAL_STARS = {
    "PrefectHQ/prefect": 17000,
    "pydantic/pydantic": 21000,
    "huggingface/transformers": 130000,
}
HIT_LINE = "Finished in state Cached(type=COMPLETED)"


def run_example(name: str, api: RepoStatsApi, *repos: str) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` in a process of its own, asking ``api`` (RUNNEL_HOME is the test's)."""
    env = {**os.environ, "GITHUB_API_URL": api.url}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *repos],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def runnel(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("runnel")
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=dict(os.environ), timeout=60
    )


def assert_printed_stars(log: str, stars: dict[str, int]) -> None:
    for repo, count in stars.items():
        assert f"{repo}: {count} stars" in log
    assert "Traceback" not in log and "| ERROR" not in log


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_every_example_says_what_it_shows_and_how_to_run_it(path: Path) -> None:
    source = path.read_text()
    header = source.split('"""')[1]
    assert header.startswith("Step "), "the first line says which step it is and what it shows"
    assert f"python examples/{path.name}" in header
    assert "GITHUB_API_URL" in header
    assert 'os.environ.get("GITHUB_API_URL", "https://api.github.com")' in source


def test_step1_retries_ride_through_503s() -> None:
    with serve(RepoStatsApi(TUTORIAL_STARS, fail_first=2)) as api:
        done = run_example("step1_retries.py", api)
    assert done.returncode == 0, done.stderr
    assert_printed_stars(done.stderr, TUTORIAL_STARS)
    assert all(api.calls[repo] == 3 for repo in TUTORIAL_STARS)
    assert api.statuses == {503: 6, 200: 3}
    assert done.stderr.count("Retry 1/3 will start") == 3
    assert done.stderr.count("Retry 2/3 will start") == 3


def test_step2_concurrency_overlaps_the_slow_requests() -> None:
    latency = 0.5
    stars = {f"octo-org/repo-{i}": 100 + i for i in range(10)}
    with serve(RepoStatsApi(stars, latency=latency)) as api:
        done = run_example("step2_concurrency.py", api, *stars)
    assert done.returncode == 0, done.stderr
    assert_printed_stars(done.stderr, stars)
    printed = [line.split(" - ")[-1] for line in done.stderr.splitlines() if " stars" in line]
    assert printed == [f"{repo}: {count} stars" for repo, count in stars.items()]
    flow_run = json.loads(runnel("flow-run", "ls", "-o", "json").stdout)[0]
    # One after another the ten requests would take 5 s; at once, about one round trip.
    assert flow_run["duration_seconds"] < len(stars) * latency / 2


def test_step3_rate_limit_keeps_under_the_apis_budget() -> None:
    stars = {f"octo-org/repo-{i}": 100 + i for i in range(8)}
    # Without the limit the eight requests go out at once and the API refuses some.
    with serve(RepoStatsApi(stars, max_per_second=5)) as api:
        unlimited = run_example("step3_rate_limit.py", api, *stars)
    assert unlimited.returncode != 0
    assert api.statuses[429] > 0
    assert "limit 'github-api' does not exist" in unlimited.stderr

    # One slot that frees itself in a quarter second: four requests a second, under its five.
    made = runnel("gcl", "create", "github-api", "--limit", "1", "--slot-decay-per-second", "4")
    assert made.returncode == 0, made.stderr
    with serve(RepoStatsApi(stars, max_per_second=5)) as api:
        limited = run_example("step3_rate_limit.py", api, *stars)
    assert limited.returncode == 0, limited.stderr
    assert_printed_stars(limited.stderr, stars)
    assert api.statuses == {200: len(stars)}
    assert "for rate limit 'github-api'" in limited.stderr
    assert "WARNING" not in limited.stderr


def test_step4_second_run_makes_no_request() -> None:
    logs = []
    with serve(RepoStatsApi(TUTORIAL_STARS)) as api:
        for expected_requests in (3, 3):
            done = run_example("step4_caching.py", api)
            assert done.returncode == 0, done.stderr
            assert api.requests == expected_requests
            logs.append(done.stderr)
    for log in logs:
        assert_printed_stars(log, TUTORIAL_STARS)
    assert logs[0].count(HIT_LINE) == 0
    assert logs[1].count(HIT_LINE) == 3
    records = json.loads(runnel("cache", "ls", "-o", "json").stdout)
    assert [(record["task_name"], record["hits"]) for record in records] == [("fetch_stats", 1)] * 3


def test_step5_pipeline_retries_paces_and_caches() -> None:
    made = runnel("gcl", "create", "github-api", "--limit", "1", "--slot-decay-per-second", "4")
    assert made.returncode == 0, made.stderr
    with serve(RepoStatsApi(TUTORIAL_STARS, fail_first=1, latency=0.1, max_per_second=5)) as api:
        first = run_example("step5_pipeline.py", api)
        assert first.returncode == 0, first.stderr
        assert api.statuses == {503: 3, 200: 3}  # each repo retried once, none refused
        second = run_example("step5_pipeline.py", api)
        assert second.returncode == 0, second.stderr
        assert api.requests == 6  # the second run asked nothing
    assert_printed_stars(first.stderr, TUTORIAL_STARS)
    assert_printed_stars(second.stderr, TUTORIAL_STARS)
    assert first.stderr.count("Retry 1/3 will start") == 3
    assert second.stderr.count(HIT_LINE) == 3
