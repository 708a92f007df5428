"""The demo's API misbehaves on purpose, the same way every time: 503s, 429s, slowness."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from runnel.cli.demo_api import RepoStatsApi, serve

STARS = {"org/a": 10, "org/b": 20, "org/c": 30}


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_only_the_flaky_repos_fail_and_only_their_first_calls() -> None:
    api = RepoStatsApi(STARS, fail_first=1, flaky=["org/b"])
    assert [api.answer(f"/repos/{repo}")[0] for repo in STARS] == [200, 503, 200]
    assert api.answer("/repos/org/b")[0] == 200
    assert api.answer("/repos/org/missing")[0] == 404
    assert api.calls["org/b"] == 2 and api.requests == 5
    assert api.statuses == {200: 3, 503: 1, 404: 1}


def test_every_repo_is_flaky_unless_told_which() -> None:
    api = RepoStatsApi(STARS, fail_first=2)
    assert [api.answer("/repos/org/a")[0] for _ in range(3)] == [503, 503, 200]


def test_more_than_the_threshold_in_one_second_gets_429_with_retry_after() -> None:
    clock = Ticks()
    api = RepoStatsApi(STARS, max_per_second=3, monotonic=clock)
    assert [api.answer("/repos/org/a")[0] for _ in range(3)] == [200, 200, 200]
    clock.now += 0.4
    status, headers, body = api.answer("/repos/org/a")
    assert status == 429 and headers["Retry-After"] == "1"
    assert json.loads(body) == {"message": "API rate limit exceeded"}
    clock.now += 0.59  # the window still holds the first three
    assert api.answer("/repos/org/a")[0] == 429
    clock.now += 0.01  # a second after them: room for three more, refused calls not counted
    assert [api.answer("/repos/org/a")[0] for _ in range(4)] == [200, 200, 200, 429]
    assert api.statuses == {200: 6, 429: 3}


def test_retry_after_is_whole_seconds_until_the_window_has_room() -> None:
    clock = Ticks()
    api = RepoStatsApi(STARS, max_per_second=1, monotonic=clock)
    api.answer("/repos/org/a")
    clock.now += 0.999
    assert api.answer("/repos/org/a")[1]["Retry-After"] == "1"  # never 0: come back later


def test_over_http_the_answers_carry_their_status_header_and_body() -> None:
    api = RepoStatsApi(
        STARS, fail_first=1, flaky=["org/a"], max_per_second=2, monotonic=lambda: 0.0
    )
    with serve(api):
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{api.url}/repos/org/a", timeout=10)
        failed.value.close()
        assert failed.value.code == 503
        with urllib.request.urlopen(f"{api.url}/repos/org/c", timeout=10) as answer:
            assert json.load(answer) == {"full_name": "org/c", "stargazers_count": 30}
        with pytest.raises(urllib.error.HTTPError) as throttled:
            urllib.request.urlopen(f"{api.url}/repos/org/c", timeout=10)
        throttled.value.close()
        assert throttled.value.code == 429
        assert throttled.value.headers["Retry-After"] == "1"
    assert api.statuses == {503: 1, 200: 1, 429: 1}
