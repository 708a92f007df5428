"""runnel: plain Python functions into robust, efficient data pipelines."""

from typing import Any

from runnel import runtime as _runtime
from runnel.annotations import unmapped
from runnel.flows import Flow, flow
from runnel.loggers import get_run_logger
from runnel.runtime import EventSink as _EventSink
from runnel.states import State, StateType
from runnel.tasks import Task, task

__version__ = "0.1.0"


def _recorder() -> _EventSink:
    # Imported on the first run, not at ``import runnel``: a script that never runs a flow
    # never pays for the store.
    from runnel.store.recorder import get_recorder

    return get_recorder()


def _configure_logging() -> None:
    from runnel.logging.setup import configure_logging

    configure_logging()


def _thread_pool() -> Any:
    from runnel.task_runners.threads import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner()


def _progress(flow_run: Any, scope: Any) -> Any:
    from runnel.logging.progress import progress_for

    return progress_for(flow_run, scope)


def _task_cache(**options: Any) -> Any:
    # Called only for tasks that persist their results: others never import caching.
    from runnel.results.task_cache import make_task_cache

    return make_task_cache(**options)


def _tag_gate(tags: Any) -> Any:
    from runnel.concurrency.tags import tag_gate

    return tag_gate(tags)


_runtime.install(
    sink=_recorder,
    configure_logging=_configure_logging,
    task_runner=_thread_pool,
    progress=_progress,
    task_cache=_task_cache,
    tag_gate=_tag_gate,
)

__all__ = [
    "Flow",
    "State",
    "StateType",
    "Task",
    "__version__",
    "flow",
    "get_run_logger",
    "task",
    "unmapped",
]
