"""``ProcessPoolTaskRunner``: task runs in worker processes, for work that needs the CPUs.

A unit of work goes to a worker as cloudpickle bytes (so tasks defined in scripts, closures
and notebooks go too) and its final state comes back the same way. The worker records the
run's states and logs itself, through its own recorder, and flushes before it answers. The
submitter recorded ``Pending`` first; the store keeps whichever row is of the newer state
(``state_seq``), so a late ``Pending`` never hides the worker's ``Completed``.

Workers are started with ``spawn``, never forked from this process: its recorder and pool
threads would be copied in whatever state they were in. A spawned worker inherits the
environment, so it reads the same settings (``RUNNEL_HOME``, ``RUNNEL_DATABASE_URL``...).
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import functools
import multiprocessing
import os
import threading
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import cloudpickle

from runnel.engine.work import TaskRunner, TaskWork
from runnel.exceptions import ConfigurationError, CrashedRun, WorkerTransferError
from runnel.runs import TaskRun
from runnel.states import State

_WORKER_DIED = (
    "a worker process of its pool ended abruptly (killed by a signal, out of memory, or "
    "unable to start) while the run was running or waiting there; the pool's other runs "
    "were stopped with it"
)


class ProcessPoolTaskRunner(TaskRunner):
    """Runs submitted task runs in up to ``max_workers`` worker processes (default: one per CPU)."""

    name = "process"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ConfigurationError(
                f"max_workers={max_workers!r}: use a whole number of 1 or more"
            )
        self.max_workers = max_workers or os.cpu_count() or 1
        self._pool: cf.ProcessPoolExecutor | None = None
        # Answers are read on a thread of ours, not on the pool's own thread: reading them
        # unpickles results, and finishing a future starts its downstream runs.
        self._answers: cf.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closing = threading.Lock()  # one pool shutdown at a time

    def options(self) -> dict[str, Any]:
        return {"max_workers": self.max_workers}

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._pool is None:
            self._pool = self._new_pool()
        if self._answers is None:
            self._answers = cf.ThreadPoolExecutor(1, thread_name_prefix="runnel-process-answers")

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            self.max_workers, mp_context=multiprocessing.get_context("spawn")
        )

    def shutdown(self) -> None:
        with self._lock:
            pool, answers = self._pool, self._answers
            self._pool = self._answers = None
        if pool is not None:
            self._shut(pool)  # every answer is handed to ``answers`` before this returns
        if answers is not None:
            answers.shutdown(wait=True)

    def _shut(self, pool: cf.ProcessPoolExecutor) -> None:
        with self._closing:
            pool.shutdown(wait=True)

    def submit(self, work: TaskWork) -> cf.Future[State]:
        payload = _pickle_work(work)
        answer: cf.Future[State] = cf.Future()
        with self._lock:
            self._start()
            assert self._pool is not None and self._answers is not None
            pool, answers = self._pool, self._answers
            try:
                sent = pool.submit(_run_in_worker, payload)
            except BrokenProcessPool:  # a worker died earlier: the runs after it get a new pool
                pool = self._pool = self._new_pool()
                sent = pool.submit(_run_in_worker, payload)

        def arrived(_: cf.Future[bytes]) -> None:
            try:
                answers.submit(self._answer, pool, work, sent, answer)
            except RuntimeError:  # the answers thread is gone (interpreter exit): answer here
                self._answer(pool, work, sent, answer)

        sent.add_done_callback(arrived)
        return answer

    def _answer(
        self,
        pool: cf.ProcessPoolExecutor,
        work: TaskWork,
        sent: cf.Future[bytes],
        answer: cf.Future[State],
    ) -> None:
        """Finish ``answer`` with the state the worker sent back, or with why none came."""
        try:
            state = self._read(pool, work, sent)
        except BaseException as error:
            answer.set_exception(error)
        else:
            answer.set_result(state)

    def _read(self, pool: cf.ProcessPoolExecutor, work: TaskWork, sent: cf.Future[bytes]) -> State:
        error = sent.exception()
        if error is None:
            try:
                return _take_reply(sent.result(), work.run)
            except WorkerTransferError as cannot_read:
                error = cannot_read
        elif isinstance(error, BrokenProcessPool):
            # The pool fails its futures before it stops its other workers; once it is shut
            # down they are gone too, and nothing more of theirs can reach the history.
            self._shut(pool)
            crashed = CrashedRun(_WORKER_DIED)
            crashed.__cause__ = error
            error = crashed
        _continue_numbering(work.run)
        raise error

    def __repr__(self) -> str:
        return f"ProcessPoolTaskRunner(max_workers={self.max_workers})"


# -- the submitting process ------------------------------------------------------------------


def _pickle_work(work: TaskWork) -> bytes:
    try:
        return bytes(cloudpickle.dumps(work))
    except Exception as error:
        raise WorkerTransferError(
            f"{work.run.label} cannot be sent to a worker process: its task or arguments do "
            f"not pickle ({error}). Pass values cloudpickle can pickle (open files, locks and "
            "connections cannot be), or run the task on ThreadPoolTaskRunner"
        ) from None


def _take_reply(reply: bytes, run: TaskRun) -> State:
    """The final state in a worker's reply; the run here takes on what it became there."""
    try:
        state, result, (seq, run_count, start_time, end_time) = cloudpickle.loads(reply)
        if result is not None:
            state = State(
                state.type,
                state.name,
                state.message,
                result=cloudpickle.loads(result),
                timestamp=state.timestamp,
            )
    except Exception as error:
        raise WorkerTransferError(
            f"{run.label} finished in a worker process, but what it sent back cannot be "
            f"unpickled here: {error!r}"
        ) from None
    run.run_count, run.start_time, run.end_time = run_count, start_time, end_time
    run.state = state
    run.state_seq = seq  # last: the recorder reads the number first (see its row builders)
    return state


def _continue_numbering(run: TaskRun) -> None:
    """Number the run's next state after those its worker recorded before it was lost."""
    try:
        from runnel.store import get_store

        record = get_store().read_task_run(run.id)
    except Exception:
        return  # no history to read: the recorder reports that on its own
    if record is not None and record.state_seq > run.state_seq:
        run.run_count, run.start_time = record.run_count, record.start_time
        run.state_seq = record.state_seq


# -- the worker process ----------------------------------------------------------------------


def _run_in_worker(payload: bytes) -> bytes:
    """In a worker: run the pickled work to its final state; answer with that state, pickled."""
    try:
        work: TaskWork = cloudpickle.loads(payload)
    except Exception as error:
        raise WorkerTransferError(
            f"the task run cannot be unpickled in the worker process: {error!r}"
        ) from None
    outbox = _Outbox(work)
    state = work.execute()
    return outbox.reply(state, work.run)


class _Outbox:
    """Checks, inside the task's own call, that what it returns or raises can go back.

    Checked there and not after the run, so that a value that cannot be sent fails the run
    (recorded ``Failed``, its hooks told, retried if it retries) instead of ending it
    ``Completed`` with a value that never arrives. The result is pickled once, here.
    """

    def __init__(self, work: TaskWork) -> None:
        self.value: Any = None
        self.pickled: bytes | None = None
        task = copy.copy(work.task)  # the task's own calls of itself stay unchecked
        fn = task.fn
        if task.isasync:

            @functools.wraps(fn)
            async def checked_async(*args: Any, **kwargs: Any) -> Any:
                try:
                    value = await fn(*args, **kwargs)
                except Exception as error:
                    _check_raised(error)
                    raise
                return self._keep(value)

            task.fn = checked_async
        else:

            @functools.wraps(fn)
            def checked(*args: Any, **kwargs: Any) -> Any:
                try:
                    value = fn(*args, **kwargs)
                except Exception as error:
                    _check_raised(error)
                    raise
                return self._keep(value)

            task.fn = checked
        work.task = task

    def _keep(self, value: Any) -> Any:
        try:
            self.pickled = bytes(cloudpickle.dumps(value))
        except Exception as error:
            raise WorkerTransferError(
                f"the task returned {_describe(value)}, which cannot be sent back from the "
                f"worker process: {error}. Return a value cloudpickle can pickle, or run the "
                "task on ThreadPoolTaskRunner"
            ) from None
        self.value = value
        return value

    def reply(self, state: State, run: TaskRun) -> bytes:
        fields = (run.state_seq, run.run_count, run.start_time, run.end_time)
        if state.is_completed() and self.pickled is not None and state.result() is self.value:
            bare = State(state.type, state.name, state.message, timestamp=state.timestamp)
            return bytes(cloudpickle.dumps((bare, self.pickled, fields)))
        try:
            return bytes(cloudpickle.dumps((state, None, fields)))
        except Exception as error:
            if state.is_completed():
                raise WorkerTransferError(
                    f"{run.label} completed, but its result cannot be sent back from the "
                    f"worker process: {error}"
                ) from None
            stand_in = WorkerTransferError(
                f"{_describe(state.exception)} ended the run, and cannot be sent back from "
                f"the worker process: {error}"
            )
            state = State(
                state.type, state.name, state.message, exception=stand_in, timestamp=state.timestamp
            )
            return bytes(cloudpickle.dumps((state, None, fields)))


def _check_raised(error: Exception) -> None:
    """Raise a clear error in place of ``error`` if ``error`` cannot be sent back whole."""
    try:
        cloudpickle.loads(cloudpickle.dumps(error))
    except Exception as problem:
        raise WorkerTransferError(
            f"the task raised {_describe(error)}, which cannot be sent back from the worker "
            f"process ({problem!r}): raise an exception that pickles"
        ) from None


def _describe(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"a {type(value).__name__} object"
    return text if len(text) <= 200 else f"{text[:200]}..."
