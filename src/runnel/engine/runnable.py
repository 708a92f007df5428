"""What ``Task`` and ``Flow`` share: options, copying, and calling through the engine."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

from runnel.engine.execute import RunSetup, aexecute, execute
from runnel.exceptions import ConfigurationError
from runnel.states import State

P = ParamSpec("P")
R = TypeVar("R")


class Runnable(Generic[P, R]):
    """A decorated function; subclasses say how a call becomes a run (``_prepare``)."""

    fn: Callable[P, R]
    name: str
    isasync: bool
    _options: dict[str, Any]
    #: Options accepted for compatibility that ``with_options`` may pass on.
    _later_options: frozenset[str] = frozenset()

    def with_options(self, **changes: Any) -> Any:
        """A copy with some options changed."""
        unknown = set(changes) - set(self._options) - self._later_options
        if unknown:
            raise ConfigurationError(
                f"with_options: unknown option(s) {', '.join(sorted(unknown))}"
            )
        make: Any = type(self)
        return make(self.fn, **{**self._options, **changes})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    @functools.cached_property
    def _plain_parameters(self) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        """Names and defaults when every parameter is an ordinary one (no ``*``, ``/``, ``**``)."""
        parameters = self.signature.parameters.values()
        if any(p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters):
            return None
        names = tuple(p.name for p in parameters)
        return names, {p.name: p.default for p in parameters if p.default is not p.empty}

    def bind_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, defaults filled in; TypeError as Python's.

        Ordinary signatures are bound by hand: ``Signature.bind`` costs more than a cache
        lookup, and every cached call binds."""
        plain = self._plain_parameters
        if plain is not None:
            names, defaults = plain
            if not kwargs and len(args) == len(names):  # the usual call: every argument given
                return dict(zip(names, args, strict=True))
            if len(args) <= len(names):
                bound = dict(zip(names, args, strict=False))
                if all(k in names and k not in bound for k in kwargs):
                    bound.update(kwargs)
                    if all(n in bound or n in defaults for n in names):
                        return {n: bound[n] if n in bound else defaults[n] for n in names}
        full = self.signature.bind(*args, **kwargs)
        full.apply_defaults()
        return dict(full.arguments)

    def _templated_name(
        self,
        option: str,
        template: str | Callable[[], str],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> str:
        """A run name from a ``*_run_name`` option: a callable, or a template filled with the
        call's arguments (``"report-{day}"``)."""
        if callable(template):
            return str(template())
        try:
            return template.format(**self.bind_arguments(args, kwargs))
        except (TypeError, KeyError, IndexError, ValueError) as error:
            raise ConfigurationError(
                f"{option}={template!r} of {self.name!r} cannot be filled from the call's "
                f"arguments: {error}"
            ) from None

    def _prepare(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[RunSetup, Callable[[], Any]]:
        """The run's setup and a zero-argument call of the function."""
        raise NotImplementedError

    def _execute(
        self,
        setup: RunSetup,
        call: Callable[[], Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> State:
        """Drive the run (a hook for tasks, which may answer from their cache)."""
        return execute(setup, call)

    async def _aexecute(
        self,
        setup: RunSetup,
        call: Callable[[], Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> State:
        return await aexecute(setup, call)

    def _finish(self, setup: RunSetup) -> None:
        """Work after the run ended, however it ended (flushing the history)."""

    def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool) -> Any:
        if self.isasync:
            return self._run_async(args, kwargs, return_state)
        setup, call = self._prepare(args, kwargs)
        try:
            state = self._execute(setup, call, args, kwargs)
        finally:
            self._finish(setup)
        return state if return_state else state.result()

    async def _run_async(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], return_state: bool
    ) -> Any:
        setup, call = self._prepare(args, kwargs)
        try:
            state = await self._aexecute(setup, call, args, kwargs)
        finally:
            self._finish(setup)
        return state if return_state else state.result()
