"""``@task``: a function whose every call is a recorded, retried, observable task run."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar, overload

from runnel.annotations import map_arguments
from runnel.context import FlowRunContext, TaskRunContext, flow_run_context, task_run_context
from runnel.engine.caching import aexecute_cached, cached_answer, execute_cached
from runnel.engine.execute import RunSetup
from runnel.engine.runnable import Runnable
from runnel.engine.slots import aexecute_with_slots, execute_with_slots
from runnel.engine.steps import RunPolicy, hooks_of, set_state
from runnel.engine.submit import Submission
from runnel.engine.work import TaskRunner, TaskWork
from runnel.exceptions import ConfigurationError, TaskRunTimeoutError
from runnel.futures import RunnelFuture, resolve_futures, visit_futures, wait
from runnel.loggers import TASK_RUN_LOGGER
from runnel.names import TaskRunNamer
from runnel.retries import check_retry_options
from runnel.runs import TaskRun
from runnel.runtime import EventSink, flush_all, get_sink, make_task_cache, standalone_runner
from runnel.settings import get_settings
from runnel.states import Pending, State

P = ParamSpec("P")
R = TypeVar("R")

_NOT_SET: Any = object()
_standalone_namer = TaskRunNamer()


def task_identity(fn: Callable[..., Any], name: str) -> str:
    """``module.qualname`` of the function; lambdas, which all share the qualname
    ``<lambda>``, add the line they are written on, so no two share a cache entry."""
    qualname = getattr(fn, "__qualname__", name)
    identity = f"{getattr(fn, '__module__', '?')}.{qualname}"
    code = getattr(fn, "__code__", None)
    if "<lambda>" in qualname and code is not None:
        import zlib  # a stable checksum; hash() of bytes changes with every process

        identity += f":{code.co_firstlineno}:{zlib.crc32(code.co_code):08x}"
    return identity


def persists(options: dict[str, Any], policy_given: bool) -> bool:
    """Whether a task keeps its results: asked for, or needed by a cache option it was given
    (a plain ``@task`` keeps nothing and never caches)."""
    if options["persist_result"] is not None:
        return bool(options["persist_result"])
    return policy_given or any(
        options[name] not in (None, False)
        for name in (
            "cache_key_fn",
            "cache_expiration",
            "refresh_cache",
            "result_serializer",
            "result_storage",
        )
    )


class Task(Runnable[P, R]):
    """A function whose every call is a task run: recorded, retried, logged, maybe cached."""

    # Caching options a copy made with ``with_options`` may set even if this task did not.
    _later_options = frozenset(
        {
            "cache_policy",
            "cache_key_fn",
            "cache_expiration",
            "refresh_cache",
            "persist_result",
            "result_serializer",
            "result_storage",
        }
    )

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Iterable[str] | None = None,
        version: str | None = None,
        retries: int | None = None,
        retry_delay_seconds: Any = None,
        retry_jitter_factor: float | None = None,
        retry_condition_fn: Callable[..., bool] | None = None,
        timeout_seconds: float | None = None,
        cache_policy: Any = _NOT_SET,
        cache_key_fn: Any = None,
        cache_expiration: Any = None,
        refresh_cache: bool | None = None,
        persist_result: bool | None = None,
        result_serializer: Any = None,
        result_storage: Any = None,
        log_prints: bool | None = None,
        task_run_name: str | Callable[[], str] | None = None,
        on_completion: Any = None,
        on_failure: Any = None,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"@task decorates functions; got {fn!r}")
        cache_options = {
            "cache_policy": cache_policy,
            "cache_key_fn": cache_key_fn,
            "cache_expiration": cache_expiration,
            "refresh_cache": refresh_cache,
            "persist_result": persist_result,
            "result_serializer": result_serializer,
            "result_storage": result_storage,
        }
        policy_given = cache_policy is not _NOT_SET
        self.cache = (
            make_task_cache(
                **{**cache_options, "cache_policy": cache_policy if policy_given else None},
                policy_given=policy_given,
            )
            if persists(cache_options, policy_given)
            else None
        )
        retries = retries or 0
        retry_delay_seconds = 0 if retry_delay_seconds is None else retry_delay_seconds
        check_retry_options(retries, retry_delay_seconds, retry_jitter_factor)
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ConfigurationError(f"timeout_seconds={timeout_seconds!r}: use a positive number")
        self.fn = fn
        functools.update_wrapper(self, fn)
        self.name: str = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.tags = tuple(tags or ())
        self.task_key = task_identity(fn, self.name)
        self.isasync = inspect.iscoroutinefunction(fn)
        self.log_prints = log_prints
        self.task_run_name = task_run_name
        self.policy = RunPolicy(
            kind="Task",
            retries=retries,
            retry_delay=retry_delay_seconds,
            retry_jitter_factor=retry_jitter_factor,
            retry_condition_fn=retry_condition_fn,
            timeout_seconds=timeout_seconds,
            on_completion=hooks_of(on_completion, "on_completion"),
            on_failure=hooks_of(on_failure, "on_failure"),
            retry_after_cap=get_settings().retry_after_max_seconds,
        )
        self._options = {
            "name": name,
            "description": description,
            "tags": tags,
            "version": version,
            "retries": retries,
            "retry_delay_seconds": retry_delay_seconds,
            "retry_jitter_factor": retry_jitter_factor,
            "retry_condition_fn": retry_condition_fn,
            "timeout_seconds": timeout_seconds,
            "log_prints": log_prints,
            "task_run_name": task_run_name,
            "on_completion": on_completion,
            "on_failure": on_failure,
            **{k: v for k, v in cache_options.items() if v is not None and v is not _NOT_SET},
        }

    # -- calling ---------------------------------------------------------------------------
    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    @overload
    def __call__(self, *args: Any, return_state: bool = ..., **kwargs: Any) -> Any: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task now; returns its value (or its final ``State`` with ``return_state=True``)."""
        upstream: list[RunnelFuture[Any]] = []
        return_state = False
        if kwargs:
            return_state = kwargs.pop("return_state", False)
            visit_futures(kwargs.pop("wait_for", None) or (), upstream)
            if upstream:
                wait(upstream)
            visit_futures(kwargs, upstream)
        # Futures among the arguments, at any depth, as .submit() takes them.
        visit_futures(args, upstream)
        if upstream:
            args, kwargs = resolve_futures(args), resolve_futures(kwargs)
        return self._run(args, kwargs, return_state)

    def submit(
        self, *args: Any, wait_for: Iterable[Any] | None = None, **kwargs: Any
    ) -> RunnelFuture[R]:
        """Start the task run on the flow's task runner and return its future at once.

        Futures among the arguments (also inside lists, tuples, sets and dict values) are
        replaced by their results before the task runs; ``wait_for`` orders without data."""
        run, sink, log_prints, flow_ctx = self._new_run(args, kwargs)
        future: RunnelFuture[R] = RunnelFuture(run)
        set_state(run, Pending(), sink)
        upstream: list[RunnelFuture[Any]] = []
        visit_futures(args, upstream)
        if kwargs:
            visit_futures(kwargs, upstream)
        if wait_for:
            for item in wait_for:
                visit_futures(item, upstream)
        runner, loop = self._where(flow_ctx)
        if flow_ctx is not None:
            flow_ctx.scope.add(future)
        work = TaskWork(self, run, args, kwargs, log_prints)
        Submission(work, future, sink, runner, loop, upstream).arm()
        return future

    def map(
        self, *args: Any, wait_for: Iterable[Any] | None = None, **kwargs: Any
    ) -> list[RunnelFuture[R]]:
        """Submit one task run per element of the iterable arguments (``unmapped(x)``: whole)."""
        calls = map_arguments(args, kwargs)
        return [self.submit(*a, wait_for=wait_for, **k) for a, k in calls]

    def _where(self, flow_ctx: FlowRunContext | None) -> tuple[TaskRunner | None, Any]:
        """The runner for a submission, or the event loop an async task shares with its flow."""
        if self.isasync and flow_ctx is not None:
            import asyncio

            try:
                return None, asyncio.get_running_loop()
            except RuntimeError:
                pass
        if flow_ctx is not None:
            return flow_ctx.task_runner(), None
        return standalone_runner(), None

    def _new_run(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[TaskRun, EventSink, bool, FlowRunContext | None]:
        """A task run for this call: its record, its sink, its log_prints, its flow run."""
        flow_ctx = flow_run_context.get()
        if flow_ctx is None:
            sink = get_sink()
            namer, flow_run_id, inherited = _standalone_namer, None, False
        else:
            sink, namer = flow_ctx.sink, flow_ctx.namer
            flow_run_id, inherited = flow_ctx.flow_run.id, flow_ctx.log_prints
        run = TaskRun(
            self._run_name(namer, args, kwargs), self.name, self.task_key, flow_run_id, self.tags
        )
        log_prints = inherited if self.log_prints is None else self.log_prints
        return run, sink, log_prints, flow_ctx

    def _setup(self, run: TaskRun, sink: EventSink, log_prints: bool) -> RunSetup:
        return RunSetup(
            self.policy,
            self,
            run,
            sink,
            TASK_RUN_LOGGER,
            task_run_context,
            TaskRunContext(self, run, log_prints),
            log_prints,
            TaskRunTimeoutError,
        )

    def _prepare(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[RunSetup, Callable[[], Any]]:
        run, sink, log_prints, _ = self._new_run(args, kwargs)
        fn: Any = self.fn
        return self._setup(run, sink, log_prints), lambda: fn(*args, **kwargs)

    def run_work(self, work: TaskWork, sink: EventSink) -> State:
        """Run submitted work to its final state (sync tasks; any thread or process)."""
        setup = self._setup(work.run, sink, work.log_prints)
        setup.slots_held = work.slots_held
        return self._execute(setup, work, work.args, work.kwargs)

    async def run_work_async(self, work: TaskWork, sink: EventSink) -> State:
        """Run submitted work to its final state (async tasks, on the running loop)."""
        setup = self._setup(work.run, sink, work.log_prints)
        setup.slots_held = work.slots_held
        return await self._aexecute(setup, work, work.args, work.kwargs)

    def answer_from_cache(self, work: TaskWork, sink: EventSink) -> State | None:
        """Submitted work answered from its cache where it was dispatched, or None on a miss."""
        return cached_answer(
            self, self._setup(work.run, sink, work.log_prints), work.args, work.kwargs
        )

    def _execute(
        self,
        setup: RunSetup,
        call: Callable[[], Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> State:
        if self.cache is None:
            return execute_with_slots(self, setup, call)

        def run() -> State:
            return execute_with_slots(self, setup, call)

        return execute_cached(self, setup, run, args, kwargs)

    async def _aexecute(
        self,
        setup: RunSetup,
        call: Callable[[], Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> State:
        def run() -> Awaitable[State]:
            return aexecute_with_slots(self, setup, call)

        if self.cache is None:
            return await run()
        return await aexecute_cached(self, setup, run, args, kwargs)

    def _run_name(self, namer: TaskRunNamer, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if self.task_run_name is None:
            return namer.next_name(self.name)
        return self._templated_name("task_run_name", self.task_run_name, args, kwargs)

    def _finish(self, setup: RunSetup) -> None:
        if isinstance(setup.run, TaskRun) and setup.run.flow_run_id is None:
            flush_all(setup.sink)  # a standalone task run is its own whole history


@overload
def task(__fn: Callable[P, R]) -> Task[P, R]: ...


@overload
def task(
    __fn: None = None,
    *,
    name: str | None = ...,
    description: str | None = ...,
    tags: Iterable[str] | None = ...,
    version: str | None = ...,
    retries: int | None = ...,
    retry_delay_seconds: Any = ...,
    retry_jitter_factor: float | None = ...,
    retry_condition_fn: Callable[..., bool] | None = ...,
    timeout_seconds: float | None = ...,
    cache_policy: Any = ...,
    cache_key_fn: Any = ...,
    cache_expiration: Any = ...,
    refresh_cache: bool | None = ...,
    persist_result: bool | None = ...,
    result_serializer: Any = ...,
    result_storage: Any = ...,
    log_prints: bool | None = ...,
    task_run_name: str | Callable[[], str] | None = ...,
    on_completion: Any = ...,
    on_failure: Any = ...,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(__fn: Any = None, **options: Any) -> Any:
    """Make a function a task; works bare (``@task``) and with options (``@task(retries=3)``)."""
    if __fn is not None:
        return Task(__fn, **options)
    return lambda fn: Task(fn, **options)
