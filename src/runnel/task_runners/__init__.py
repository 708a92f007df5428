"""Task runners: where submitted task runs execute (threads, processes; Dask in contrib)."""

from runnel.engine.work import TaskRunner, TaskWork
from runnel.task_runners.threads import ThreadPoolTaskRunner

__all__ = ["TaskRunner", "TaskWork", "ThreadPoolTaskRunner"]


def __getattr__(name: str) -> object:
    if name == "ProcessPoolTaskRunner":  # loads cloudpickle only when asked for
        from runnel.task_runners.processes import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner
    raise AttributeError(name)
