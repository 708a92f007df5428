"""A repo-stats HTTP API on 127.0.0.1 that misbehaves the way real APIs do, for the demo and tests.

``GET /repos/OWNER/NAME`` answers ``{"full_name": ..., "stargazers_count": N}``. It can fail
the first calls for each repo with 503, answer slowly, and refuse with 429 and ``Retry-After``
when asked more often than ``max_per_second``. It counts what it received.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RepoStatsApi:
    """The behaviour of the API, and the counts of what it was sent."""

    def __init__(
        self,
        stars: dict[str, int],
        *,
        fail_first: int = 0,
        fail_status: int = 503,
        latency: float = 0.0,
        max_per_second: float | None = None,
    ) -> None:
        self.stars = stars
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.latency = latency
        self.max_per_second = max_per_second
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.url = ""
        self._lock = threading.Lock()
        self._recent: list[float] = []

    @property
    def requests(self) -> int:
        """How many requests arrived."""
        return sum(self.calls.values())

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for a request to ``path``."""
        repo = path.removeprefix("/repos/")
        now = time.monotonic()
        with self._lock:
            self.calls[repo] += 1
            attempt = self.calls[repo]
            throttled = self._throttled(now)
        if self.latency:
            time.sleep(self.latency)
        if throttled:
            status, headers, body = 429, {"Retry-After": "1"}, {"message": "slow down"}
        elif repo not in self.stars:
            status, headers, body = 404, {}, {"message": "Not Found"}
        elif attempt <= self.fail_first:
            status, headers, body = self.fail_status, {}, {"message": "try again"}
        else:
            status, headers = 200, {}
            body = {"full_name": repo, "stargazers_count": str(self.stars[repo])}
        with self._lock:
            self.statuses[status] += 1
        return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()

    def _throttled(self, now: float) -> bool:
        if self.max_per_second is None:
            return False
        self._recent = [t for t in self._recent if now - t < 1.0]
        if len(self._recent) >= self.max_per_second:
            return True
        self._recent.append(now)
        return False


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
