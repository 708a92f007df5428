"""A repo-stats HTTP API on 127.0.0.1 that misbehaves the way real APIs do, for the demo and tests.

``GET /repos/OWNER/NAME`` answers ``{"full_name": ..., "stargazers_count": N}``. It misbehaves
on request, and always the same way, so that a demo or a test built on it is repeatable:

- ``latency``: every answer takes that long;
- ``fail_first``: the first calls for each repo of ``flaky`` (every repo when not given) answer
  ``fail_status`` (503);
- ``max_per_second``: a request that would make more than that many in the last second (a
  sliding window) gets 429 with a ``Retry-After`` of the whole seconds until the window has
  room again. A refused request does not count towards the window.

It counts what it received (``calls`` per repo, ``statuses`` per answer status).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WINDOW_SECONDS = 1.0


class RepoStatsApi:
    """The behaviour of the API, and the counts of what it was sent."""

    def __init__(
        self,
        stars: dict[str, int],
        *,
        fail_first: int = 0,
        flaky: Collection[str] | None = None,
        fail_status: int = 503,
        latency: float = 0.0,
        max_per_second: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stars = stars
        self.fail_first = fail_first
        self.flaky = set(stars if flaky is None else flaky)
        self.fail_status = fail_status
        self.latency = latency
        self.max_per_second = max_per_second
        self.monotonic = monotonic
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.url = ""
        self._lock = threading.Lock()
        self._window: deque[float] = deque()  # arrival times of the requests it let through

    @property
    def requests(self) -> int:
        """How many requests arrived."""
        return sum(self.calls.values())

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a request to ``path``."""
        repo = path.removeprefix("/repos/")
        with self._lock:
            self.calls[repo] += 1
            attempt = self.calls[repo]
            wait = self._throttle(self.monotonic())
        if self.latency:
            time.sleep(self.latency)
        if wait is not None:
            status, headers = 429, {"Retry-After": str(max(1, math.ceil(wait)))}
            body: dict[str, object] = {"message": "API rate limit exceeded"}
        elif repo not in self.stars:
            status, headers, body = 404, {}, {"message": "Not Found"}
        elif repo in self.flaky and attempt <= self.fail_first:
            status, headers, body = self.fail_status, {}, {"message": "try again"}
        else:
            status, headers = 200, {}
            body = {"full_name": repo, "stargazers_count": self.stars[repo]}
        with self._lock:
            self.statuses[status] += 1
        return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()

    def _throttle(self, now: float) -> float | None:
        """None to let a request arriving at ``now`` through, else seconds until there is room."""
        if self.max_per_second is None:
            return None
        while self._window and now - self._window[0] >= WINDOW_SECONDS:
            self._window.popleft()
        if len(self._window) >= self.max_per_second:
            return self._window[0] + WINDOW_SECONDS - now
        self._window.append(now)
        return None


@contextmanager
def serve(api: RepoStatsApi) -> Iterator[RepoStatsApi]:
    """Serve ``api`` on a free port of 127.0.0.1 for the ``with`` block (``api.url`` is set)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            status, headers, body = api.answer(self.path)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the demo tells its own story

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # a fan-out of many clients at once is what it is for

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="runnel-demo-api", daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
