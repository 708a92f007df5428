"""``ThreadPoolTaskRunner``: task runs on a bounded pool of threads in this process."""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
from typing import Any

from runnel.engine.work import TaskRunner, TaskWork
from runnel.exceptions import ConfigurationError
from runnel.states import State

#: Enough for the I/O-bound fan-out pipelines are made of, bounded so that a flow of a
#: thousand tasks does not start a thousand threads.
DEFAULT_MAX_WORKERS = 32


class ThreadPoolTaskRunner(TaskRunner):
    """Runs submitted task runs on up to ``max_workers`` threads (default 32)."""

    name = "thread"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ConfigurationError(
                f"max_workers={max_workers!r}: use a whole number of 1 or more"
            )
        self.max_workers = max_workers or DEFAULT_MAX_WORKERS
        self._pool: cf.ThreadPoolExecutor | None = None

    def options(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}

    def start(self) -> None:
        if self._pool is None:
            self._pool = cf.ThreadPoolExecutor(self.max_workers, thread_name_prefix="runnel-task")

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def submit(self, work: TaskWork) -> cf.Future[State]:
        if self._pool is None:
            self.start()
        assert self._pool is not None
        # The worker sees the submitter's context: its flow run, its log_prints.
        return self._pool.submit(contextvars.copy_context().run, work.execute)

    def __repr__(self) -> str:
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers})"
