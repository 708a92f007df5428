"""The pure retry decisions of ``runnel.retries``: schedules, jitter, Retry-After, checks."""

from __future__ import annotations

import email.message
import random
import urllib.error
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from runnel.exceptions import ConfigurationError
from runnel.retries import (
    apply_jitter,
    check_retry_options,
    delay_schedule,
    exponential_backoff,
    next_retry_delay,
    retry_after_seconds,
)

NOW = 1_700_000_000.0


def http_status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://x")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return httpx.HTTPStatusError(f"{status} from http://x", request=request, response=response)


def urllib_error(status: int, headers: dict[str, str]) -> urllib.error.HTTPError:
    message = email.message.Message()
    for key, value in headers.items():
        message[key] = value
    return urllib.error.HTTPError("http://x", status, "nope", message, None)


# -- delay_schedule -----------------------------------------------------------------------
def test_number_repeats_for_every_retry() -> None:
    assert delay_schedule(5, 3) == [5.0, 5.0, 5.0]
    assert delay_schedule(0.5, 1) == [0.5]
    assert delay_schedule(0, 2) == [0.0, 0.0]


def test_no_retries_no_schedule() -> None:
    assert delay_schedule(5, 0) == []
    assert delay_schedule([1, 2], 0) == []


def test_list_gives_one_delay_per_retry() -> None:
    assert delay_schedule([1, 10, 100], 3) == [1.0, 10.0, 100.0]


def test_list_shorter_than_retries_repeats_its_last_delay() -> None:
    assert delay_schedule([1, 10], 5) == [1.0, 10.0, 10.0, 10.0, 10.0]
    assert delay_schedule((3,), 2) == [3.0, 3.0]


def test_list_longer_than_retries_is_cut() -> None:
    assert delay_schedule([1, 2, 3, 4], 2) == [1.0, 2.0]


def test_empty_list_means_no_wait() -> None:
    assert delay_schedule([], 2) == [0.0, 0.0]


def test_callable_gets_the_number_of_retries() -> None:
    seen: list[int] = []

    def delays(retries: int) -> list[float]:
        seen.append(retries)
        return [7.0] * retries

    assert delay_schedule(delays, 4) == [7.0] * 4
    assert seen == [4]


def test_callable_may_return_one_number() -> None:
    assert delay_schedule(lambda retries: 3, 2) == [3.0, 3.0]


def test_exponential_backoff() -> None:
    assert delay_schedule(exponential_backoff(2), 3) == [2.0, 4.0, 8.0]
    assert exponential_backoff(2)(3) == [2, 4, 8]
    assert exponential_backoff(0.5)(4) == [0.5, 1.0, 2.0, 4.0]
    assert exponential_backoff(10)(0) == []


def test_exponential_backoff_refuses_a_negative_factor() -> None:
    with pytest.raises(ConfigurationError, match="backoff_factor"):
        exponential_backoff(-1)


# -- apply_jitter -------------------------------------------------------------------------
def test_jitter_stays_within_bounds_and_varies() -> None:
    rng = random.Random(1234)
    draws = [apply_jitter(10.0, 0.5, rng) for _ in range(2_000)]
    assert all(10.0 <= d <= 15.0 for d in draws)
    assert len(set(draws)) > 1_900
    # Spread over the whole range, not clumped at one end.
    assert min(draws) < 10.1
    assert max(draws) > 14.9


def test_jitter_is_reproducible_with_a_seeded_rng() -> None:
    first = [apply_jitter(2.0, 1.0, random.Random(7)) for _ in range(3)]
    second = [apply_jitter(2.0, 1.0, random.Random(7)) for _ in range(3)]
    assert first == second


@pytest.mark.parametrize("factor", [None, 0, 0.0])
def test_no_jitter_factor_leaves_the_delay_alone(factor: float | None) -> None:
    assert apply_jitter(3.0, factor, random.Random(1)) == 3.0


def test_jitter_does_not_make_a_zero_delay_wait() -> None:
    assert apply_jitter(0.0, 5.0, random.Random(1)) == 0.0


# -- retry_after_seconds ------------------------------------------------------------------
def test_retry_after_seconds_from_httpx_503() -> None:
    assert retry_after_seconds(http_status_error(503, {"Retry-After": "2"}), NOW) == 2.0


def test_retry_after_seconds_from_httpx_429() -> None:
    assert retry_after_seconds(http_status_error(429, {"Retry-After": "30"}), NOW) == 30.0


def test_retry_after_accepts_fractions_and_spaces() -> None:
    assert retry_after_seconds(http_status_error(503, {"Retry-After": " 1.5 "}), NOW) == 1.5


def test_retry_after_as_http_date() -> None:
    header = formatdate(NOW + 7, usegmt=True)
    assert retry_after_seconds(http_status_error(503, {"Retry-After": header}), NOW) == 7.0


def test_retry_after_date_in_the_past_means_now() -> None:
    header = formatdate(NOW - 60, usegmt=True)
    assert retry_after_seconds(http_status_error(429, {"Retry-After": header}), NOW) == 0.0


def test_negative_retry_after_means_now() -> None:
    assert retry_after_seconds(http_status_error(503, {"Retry-After": "-5"}), NOW) == 0.0


@pytest.mark.parametrize("status", [500, 502, 404, 200])
def test_retry_after_of_other_statuses_is_ignored(status: int) -> None:
    assert retry_after_seconds(http_status_error(status, {"Retry-After": "2"}), NOW) is None


def test_missing_or_garbage_retry_after_is_ignored() -> None:
    assert retry_after_seconds(http_status_error(503), NOW) is None
    assert retry_after_seconds(http_status_error(503, {"Retry-After": "soon"}), NOW) is None


def test_errors_without_a_response_have_no_retry_after() -> None:
    assert retry_after_seconds(ValueError("boom"), NOW) is None
    assert retry_after_seconds(httpx.ConnectError("refused"), NOW) is None


def test_retry_after_from_urllib_http_error() -> None:
    error = urllib_error(503, {"Retry-After": "4"})
    try:
        assert retry_after_seconds(error, NOW) == 4.0
        assert retry_after_seconds(urllib_error(429, {"Retry-After": "1"}), NOW) == 1.0
        assert retry_after_seconds(urllib_error(500, {"Retry-After": "4"}), NOW) is None
    finally:
        error.close()


def test_retry_after_from_any_object_with_a_response() -> None:
    class Response:
        status_code = 429
        headers = {"Retry-After": "9"}

    class ClientError(Exception):
        response: Any = Response()

    assert retry_after_seconds(ClientError(), NOW) == 9.0


# -- next_retry_delay ---------------------------------------------------------------------
def delay_for(
    attempt: int = 1,
    *,
    delay: Any = 1,
    retries: int = 3,
    jitter: float | None = None,
    error: BaseException | None = None,
    cap: float = 300.0,
    rng: random.Random | None = None,
) -> float:
    return next_retry_delay(
        attempt=attempt,
        delay=delay,
        retries=retries,
        jitter_factor=jitter,
        error=error,
        now=NOW,
        retry_after_cap=cap,
        rng=rng,
    )


def test_next_retry_delay_follows_the_schedule() -> None:
    assert [delay_for(a, delay=[1, 2, 3]) for a in (1, 2, 3)] == [1.0, 2.0, 3.0]
    assert [delay_for(a, delay=exponential_backoff(2)) for a in (1, 2, 3)] == [2.0, 4.0, 8.0]


def test_retry_after_raises_the_delay() -> None:
    error = http_status_error(503, {"Retry-After": "2"})
    assert delay_for(delay=0.5, error=error) == 2.0


def test_schedule_wins_when_it_is_longer_than_retry_after() -> None:
    error = http_status_error(503, {"Retry-After": "2"})
    assert delay_for(delay=10, error=error) == 10.0


def test_retry_after_is_capped() -> None:
    error = http_status_error(429, {"Retry-After": "3600"})
    assert delay_for(delay=1, error=error, cap=300.0) == 300.0
    assert delay_for(delay=1, error=error, cap=5.0) == 5.0


def test_cap_does_not_shorten_the_configured_schedule() -> None:
    error = http_status_error(429, {"Retry-After": "3600"})
    assert delay_for(delay=600, error=error, cap=5.0) == 600.0


def test_500_does_not_change_the_delay() -> None:
    assert delay_for(delay=0.5, error=http_status_error(500, {"Retry-After": "9"})) == 0.5


def test_jitter_applies_to_the_schedule() -> None:
    rng = random.Random(3)
    draws = [delay_for(2, delay=[1, 4], jitter=0.25, rng=rng) for _ in range(200)]
    assert all(4.0 <= d <= 5.0 for d in draws)
    assert len(set(draws)) > 1


# -- check_retry_options ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("retries", "delay", "jitter"),
    [
        (0, 0, None),
        (3, 1, None),
        (3, 0.5, 0.2),
        (3, [1, 2, 3], None),
        (3, (1, 2), 0),
        (3, exponential_backoff(1), 1.5),
        (3, lambda n: [1] * n, None),
        (1, [], None),
    ],
)
def test_usable_retry_options_pass(retries: int, delay: Any, jitter: float | None) -> None:
    check_retry_options(retries, delay, jitter)


@pytest.mark.parametrize(
    ("retries", "delay", "jitter", "named"),
    [
        (-1, 0, None, "retries"),
        (True, 0, None, "retries"),
        (1.5, 0, None, "retries"),
        ("3", 0, None, "retries"),
        (None, 0, None, "retries"),
        (1, -1, None, "retry_delay_seconds"),
        (1, True, None, "retry_delay_seconds"),
        (1, "5", None, "retry_delay_seconds"),
        (1, None, None, "retry_delay_seconds"),
        (1, [1, -2], None, "retry_delay_seconds"),
        (1, [1, "2"], None, "retry_delay_seconds"),
        (1, [False], None, "retry_delay_seconds"),
        (1, 0, -0.5, "retry_jitter_factor"),
        (1, 0, "0.5", "retry_jitter_factor"),
    ],
)
def test_unusable_retry_options_are_refused(
    retries: Any, delay: Any, jitter: Any, named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        check_retry_options(retries, delay, jitter)
