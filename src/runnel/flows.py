"""``@flow``: a function whose call is a recorded flow run that its task calls belong to."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from runnel.context import FlowRunContext, flow_run_context
from runnel.engine.execute import RunSetup
from runnel.engine.runnable import Runnable
from runnel.engine.steps import RunPolicy, hooks_of
from runnel.engine.work import TaskRunner
from runnel.exceptions import (
    ConfigurationError,
    FlowRunTimeoutError,
    NotSupportedYet,
    ParameterValidationError,
    UnobservedTaskFailure,
)
from runnel.loggers import FLOW_RUN_LOGGER
from runnel.names import flow_run_name
from runnel.retries import check_retry_options
from runnel.runs import FlowRun
from runnel.runtime import default_task_runner, flush_all, get_sink
from runnel.settings import get_settings

P = ParamSpec("P")
R = TypeVar("R")


class Flow(Runnable[P, R]):
    """A function whose every call is a flow run."""

    _later_options = frozenset({"persist_result", "result_storage", "result_serializer"})

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        retries: int | None = None,
        retry_delay_seconds: Any = None,
        timeout_seconds: float | None = None,
        task_runner: Any = None,
        log_prints: bool | None = None,
        validate_parameters: bool = True,
        flow_run_name: str | Callable[[], str] | None = None,
        on_completion: Any = None,
        on_failure: Any = None,
        on_crashed: Any = None,
        persist_result: bool | None = None,
        result_storage: Any = None,
        result_serializer: Any = None,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"@flow decorates functions; got {fn!r}")
        if task_runner is not None and not isinstance(task_runner, TaskRunner):
            if isinstance(task_runner, type) and issubclass(task_runner, TaskRunner):
                task_runner = task_runner()  # @flow(task_runner=ThreadPoolTaskRunner) works too
            else:
                raise ConfigurationError(
                    f"task_runner={task_runner!r} is not a task runner: use e.g. "
                    "ThreadPoolTaskRunner(max_workers=8) from runnel.task_runners"
                )
        self.task_runner = task_runner
        if persist_result or result_storage is not None or result_serializer is not None:
            raise NotSupportedYet(
                "@flow result persistence is not supported yet: remove persist_result, "
                "result_storage and result_serializer"
            )
        retries = retries or 0
        retry_delay_seconds = 0 if retry_delay_seconds is None else retry_delay_seconds
        check_retry_options(retries, retry_delay_seconds, None)
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ConfigurationError(f"timeout_seconds={timeout_seconds!r}: use a positive number")
        self.fn = fn
        functools.update_wrapper(self, fn)
        self.name = name or getattr(fn, "__name__", "flow").replace("_", "-")
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.isasync = inspect.iscoroutinefunction(fn)
        self.log_prints = log_prints
        self.validate_parameters = validate_parameters
        self.flow_run_name = flow_run_name
        self.policy = RunPolicy(
            kind="Flow",
            retries=retries,
            retry_delay=retry_delay_seconds,
            timeout_seconds=timeout_seconds,
            on_completion=hooks_of(on_completion, "on_completion"),
            on_failure=hooks_of(on_failure, "on_failure"),
            on_crashed=hooks_of(on_crashed, "on_crashed"),
            retry_after_cap=get_settings().retry_after_max_seconds,
        )
        self._options = {
            "task_runner": task_runner,
            "name": name,
            "description": description,
            "version": version,
            "retries": retries,
            "retry_delay_seconds": retry_delay_seconds,
            "timeout_seconds": timeout_seconds,
            "log_prints": log_prints,
            "validate_parameters": validate_parameters,
            "flow_run_name": flow_run_name,
            "on_completion": on_completion,
            "on_failure": on_failure,
            "on_crashed": on_crashed,
        }

    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...

    @overload
    def __call__(self, *args: Any, return_state: bool = ..., **kwargs: Any) -> Any: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the flow in this process; returns its value (or final ``State``)."""
        return_state = kwargs.pop("return_state", False)
        return self._run(args, kwargs, return_state)

    def _prepare(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[RunSetup, Callable[[], Any]]:
        sink = get_sink()
        parent = flow_run_context.get()
        run = FlowRun(self._run_name(args, kwargs), self.name)
        log_prints = bool(
            parent.log_prints if self.log_prints is None and parent else self.log_prints
        )
        bound: list[Any] = []

        def prepare() -> None:
            bound.append(self._bind(args, kwargs, run))

        runner = self.task_runner.duplicate() if self.task_runner else default_task_runner()
        context = FlowRunContext(self, run, log_prints, sink, runner)
        setup = RunSetup(
            self.policy,
            self,
            run,
            sink,
            FLOW_RUN_LOGGER,
            flow_run_context,
            context,
            log_prints,
            FlowRunTimeoutError,
            prepare,
        )
        FLOW_RUN_LOGGER.info(
            "Beginning flow run %r for flow %r", run.name, self.name, extra=context.log_extra
        )
        fn: Any = self.fn
        if self.isasync:

            async def acall() -> Any:
                try:
                    value = await fn(*bound[0].args, **bound[0].kwargs)
                finally:
                    await context.afinish_submitted()
                return checked(value, context)

            return setup, acall

        def call() -> Any:
            try:
                value = fn(*bound[0].args, **bound[0].kwargs)
            finally:
                context.finish_submitted()  # nothing the flow submitted outlives it
            return checked(value, context)

        return setup, call

    def _bind(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], run: FlowRun
    ) -> inspect.BoundArguments:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise ParameterValidationError(
                f"flow {self.name!r} cannot take these arguments: {error}"
            ) from None
        if self.validate_parameters:
            from runnel.validation import coerce_arguments

            # Only what the caller passed: defaults are the author's, not checked (as pydantic).
            bound.arguments.update(coerce_arguments(self.fn, dict(bound.arguments)))
        bound.apply_defaults()
        run.parameters = dict(bound.arguments)
        return bound

    def _run_name(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        if self.flow_run_name is None:
            return flow_run_name()
        return self._templated_name("flow_run_name", self.flow_run_name, args, kwargs)

    def _finish(self, setup: RunSetup) -> None:
        flush_all(setup.sink)  # when a flow call returns, its whole history is in the store


def checked(value: Any, context: FlowRunContext) -> Any:
    """The flow's return value, unless a task it submitted failed and nobody looked."""
    unobserved = context.scope.unobserved_failures()
    if unobserved:
        names = ", ".join(f"{f.task_run.name!r} ({f.state!r})" for f in unobserved[:5])
        more = f" and {len(unobserved) - 5} more" if len(unobserved) > 5 else ""
        raise UnobservedTaskFailure(
            f"{len(unobserved)} submitted task run(s) failed and nothing used their result: "
            f"{names}{more}. Call .result() on their futures or pass them to other tasks."
        )
    return value


@overload
def flow(__fn: Callable[P, R]) -> Flow[P, R]: ...


@overload
def flow(
    __fn: None = None,
    *,
    name: str | None = ...,
    description: str | None = ...,
    version: str | None = ...,
    retries: int | None = ...,
    retry_delay_seconds: Any = ...,
    timeout_seconds: float | None = ...,
    task_runner: Any = ...,
    log_prints: bool | None = ...,
    validate_parameters: bool = ...,
    flow_run_name: str | Callable[[], str] | None = ...,
    on_completion: Any = ...,
    on_failure: Any = ...,
    on_crashed: Any = ...,
    persist_result: bool | None = ...,
    result_storage: Any = ...,
    result_serializer: Any = ...,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(__fn: Any = None, **options: Any) -> Any:
    """Make a function a flow; works bare (``@flow``) and with options (``@flow(retries=1)``)."""
    if __fn is not None:
        return Flow(__fn, **options)
    return lambda fn: Flow(fn, **options)
