"""Cache policies: what a task call's cache key is made of.

A key is a hex sha256 of the parts a policy names (inputs, task source, flow parameters, flow run
id, a user's ``cache_key_fn``), always together with the task's identity, so two different tasks
never share an entry. Values are hashed from a canonical JSON form when they have one and through
cloudpickle otherwise, so a key is the same in every process, on every machine, after a restart.
Policies compose: ``INPUTS + TASK_SOURCE``, ``DEFAULT - "client"``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import Any

from runnel.exceptions import RunnelError

KEY_VERSION = 2  # bump when the key scheme changes, so old entries are never misread
Part = tuple[str, Any]


@dataclass(slots=True)
class CacheContext:
    """Everything a policy may look at to compute the key of one task call.

    Made for every cached call, so a plain slotted class (a frozen one costs a cache hit more)."""

    task_key: str
    task_name: str
    fn: Callable[..., Any]
    flow_run_id: str | None
    flow_parameters: dict[str, Any] | None
    arguments: dict[str, Any]


class UnhashableInput(RunnelError):
    """A task's argument (or its flow's parameter) cannot be hashed into a cache key."""

    def __init__(
        self, argument: str, reason: str, task_name: str = "", flow_parameter: bool = False
    ):
        self.argument, self.reason = argument, reason
        self.task_name, self.flow_parameter = task_name, flow_parameter
        if flow_parameter:
            message = (
                f"cannot hash flow parameter {argument!r} into the cache key of task "
                f"{task_name!r} ({reason}); leave FLOW_PARAMETERS out of its cache_policy, "
                "or give the task a cache_key_fn"
            )
        else:
            message = (
                f"cannot hash argument {argument!r} of task {task_name!r} into its cache key "
                f"({reason}); leave it out with cache_policy=DEFAULT - {argument!r} "
                f"(or INPUTS - {argument!r}), or give the task a cache_key_fn"
            )
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.argument, self.reason, self.task_name, self.flow_parameter)


class CachePolicy:
    """What a task call's cache key is made of; compose with ``+`` and ``-``."""

    def _parts(self, ctx: CacheContext) -> list[Part] | None:
        raise NotImplementedError

    def compute_key(self, ctx: CacheContext) -> str | None:
        """The hex sha256 key of this call, or None when this call must not be cached."""
        parts = self._parts(ctx)
        if parts is None:
            return None
        if len(parts) > 1:  # labels are unique but for two key functions' strings: a total order
            parts.sort(key=_part_order)
        text = _json({"v": KEY_VERSION, "task": ctx.task_key, "parts": parts})
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_cache_key_fn(cls, fn: Callable[..., str | None]) -> CachePolicy:
        """A policy keyed by a user's ``cache_key_fn(context, arguments)`` (Prefect's spelling)."""
        return from_key_fn(fn)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)  # policies with fields compare them too (dataclasses)

    def __hash__(self) -> int:
        return hash(type(self))

    def __add__(self, other: CachePolicy) -> CachePolicy:
        if not isinstance(other, CachePolicy):
            return NotImplemented
        return _compose((self, other), frozenset())

    def __sub__(self, name: str) -> CachePolicy:
        if not isinstance(name, str):
            raise TypeError(f"subtract an argument name from a cache policy, not {name!r}")
        return _compose((self,), frozenset({name}))


@dataclass(frozen=True)
class Inputs(CachePolicy):
    """The call's arguments, except those named in ``exclude``."""

    exclude: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "exclude", frozenset(self.exclude))

    def _parts(self, ctx: CacheContext) -> list[Part]:
        exclude = self.exclude
        arguments = ctx.arguments
        if exclude:
            arguments = {k: v for k, v in arguments.items() if k not in exclude}
        return [("inputs", _canonical_values(arguments, ctx.task_name, flow_parameter=False))]

    def __repr__(self) -> str:
        return "INPUTS" + _exclusions(self.exclude)


class TaskSource(CachePolicy):
    """The source code of the task's function."""

    def _parts(self, ctx: CacheContext) -> list[Part]:
        return [("task_source", _source_digest(ctx.fn))]

    def __repr__(self) -> str:
        return "TASK_SOURCE"


class FlowParameters(CachePolicy):
    """The parameters of the flow run the task runs in."""

    def _parts(self, ctx: CacheContext) -> list[Part]:
        params = ctx.flow_parameters
        value = (
            None
            if params is None
            else _canonical_values(params, ctx.task_name, flow_parameter=True)
        )
        return [("flow_parameters", value)]

    def __repr__(self) -> str:
        return "FLOW_PARAMETERS"


class RunId(CachePolicy):
    """The id of the flow run the task runs in (None outside a flow)."""

    def _parts(self, ctx: CacheContext) -> list[Part]:
        return [("run_id", ctx.flow_run_id)]

    def __repr__(self) -> str:
        return "RUN_ID"


@dataclass(frozen=True)
class CacheKeyFnPolicy(CachePolicy):
    """The string a user's ``cache_key_fn(context, arguments)`` returns; None means no caching."""

    cache_key_fn: Callable[..., str | None]

    def _parts(self, ctx: CacheContext) -> list[Part] | None:
        key = self.cache_key_fn(ctx, ctx.arguments)
        if key is None:
            return None
        if not isinstance(key, str):
            name = getattr(self.cache_key_fn, "__qualname__", repr(self.cache_key_fn))
            raise TypeError(f"cache_key_fn {name} returned {key!r}; return a str, or None")
        return [("cache_key_fn", key)]

    def __repr__(self) -> str:
        return f"from_key_fn({getattr(self.cache_key_fn, '__qualname__', self.cache_key_fn)})"


class _NoCache(CachePolicy):
    """No key, no caching; adding it to another policy changes nothing."""

    def _parts(self, ctx: CacheContext) -> None:
        return None

    def __repr__(self) -> str:
        return "NONE"


@dataclass(frozen=True, eq=False)
class CompoundCachePolicy(CachePolicy):
    """The union of several policies' parts; ``exclude`` applies to every INPUTS among them."""

    policies: tuple[CachePolicy, ...]
    exclude: frozenset[str] = frozenset()

    def _parts(self, ctx: CacheContext) -> list[Part] | None:
        parts: list[Part] = []
        for policy in self.policies:
            found = (Inputs(self.exclude) if isinstance(policy, Inputs) else policy)._parts(ctx)
            if found is None:
                return None
            parts.extend(found)
        return parts

    def _identity(self) -> tuple[frozenset[CachePolicy], frozenset[str]]:
        return frozenset(self.policies), self.exclude  # order never changes the key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompoundCachePolicy):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return " + ".join(map(repr, self.policies)) + _exclusions(self.exclude)


def _compose(policies: Iterable[CachePolicy], exclude: frozenset[str]) -> CachePolicy:
    """One flat policy from several; a name subtracted anywhere is excluded from all inputs."""
    flat: list[CachePolicy] = []
    for policy in policies:
        if isinstance(policy, CompoundCachePolicy):
            exclude |= policy.exclude
            flat.extend(policy.policies)
        else:
            flat.append(policy)
    members: list[CachePolicy] = []
    for policy in flat:
        if isinstance(policy, Inputs):
            exclude |= policy.exclude
            policy = INPUTS
        if not isinstance(policy, _NoCache) and policy not in members:
            members.append(policy)
    if not members:
        return NONE
    if members == [INPUTS]:
        return Inputs(exclude)
    if len(members) == 1 and not exclude:
        return members[0]
    return CompoundCachePolicy(tuple(members), exclude)


def _exclusions(names: frozenset[str]) -> str:
    return "".join(f" - {name!r}" for name in sorted(names))


def from_key_fn(fn: Callable[..., str | None]) -> CachePolicy:
    """A policy keyed by a user's ``cache_key_fn(context, arguments) -> str | None``."""
    return CacheKeyFnPolicy(fn)


INPUTS: CachePolicy = Inputs()
TASK_SOURCE: CachePolicy = TaskSource()
FLOW_PARAMETERS: CachePolicy = FlowParameters()
RUN_ID: CachePolicy = RunId()
NONE: CachePolicy = _NoCache()
DEFAULT: CachePolicy = INPUTS + TASK_SOURCE + RUN_ID


# --- hashing values --------------------------------------------------------------------------


def _digest(value: Any) -> str:
    """The hex sha256 of a value's canonical form."""
    return hashlib.sha256(_json(_canonical(value)).encode()).hexdigest()


def _part_order(part: Part) -> tuple[str, str]:
    label, value = part
    return label, value if type(value) is str else ""


def _canonical_values(
    values: Mapping[str, Any], task_name: str, *, flow_parameter: bool
) -> dict[str, Any]:
    """The canonical form of each named value; one that cannot be hashed raises UnhashableInput.

    The whole key is then one JSON text hashed once: hashing each value apart cost four
    encodings and four sha256 a call for nothing a single pass does not give."""
    canonical = {}
    for name, value in values.items():
        try:
            canonical[name] = _canonical(value)
        except Exception as exc:
            reason = str(exc) or type(exc).__name__
            raise UnhashableInput(name, reason, task_name, flow_parameter) from exc
    return canonical


def _canonical(value: Any) -> Any:
    """A JSON-able form of value, equal for equal data in every process; types are tagged."""
    kind = type(value)
    if value is None or kind is bool or kind is str or (kind is int and value.bit_length() < 4000):
        return value
    if kind is float:
        return ["float", repr(value)]
    if kind is list or kind is tuple:
        return [kind.__name__, [_canonical(item) for item in value]]
    if kind is dict:
        if all(type(key) is str for key in value):
            return ["dict", {key: _canonical(item) for key, item in value.items()}]
        pairs = [[_canonical(key), _canonical(item)] for key, item in value.items()]
        return ["mapping", sorted(pairs, key=_json)]
    if kind is set or kind is frozenset:
        return [kind.__name__, sorted((_canonical(item) for item in value), key=_json)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return ["dataclass", f"{kind.__module__}.{kind.__qualname__}", fields]
    return ["pickle", _pickle_digest(value)]


def _make_json() -> Callable[[Any], str]:
    """The one text of a canonical form: sorted keys, fixed separators, ASCII.

    ``JSONEncoder.encode`` builds a new C encoder for every text, which cost a cache hit's key
    as much as the encoding; the C encoder is built once here where Python has it. No check
    for cycles: a canonical form is a fresh tree."""
    from json import encoder

    plain = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
    make: Any = getattr(encoder, "c_make_encoder", None)
    if make is None:
        return plain.encode
    encode = make(
        None, plain.default, encoder.encode_basestring_ascii, None, ":", ",", True, False, True
    )

    def text(canonical: Any) -> str:
        return "".join(encode(canonical, 0))

    return text


_json = _make_json()


class _HashWriter:
    """A file-like sink that hashes what a pickler writes instead of keeping it."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return len(data)


def _pickle_digest(value: Any) -> str:
    """The hex sha256 of value's cloudpickle (protocol 5), classes named rather than copied."""
    sink = _HashWriter()
    _stable_pickler()(sink, protocol=5).dump(value)
    return sink.hash.hexdigest()


def _class_named(module: str, qualname: str) -> None:
    """Stands in for a class inside a pickle that is only hashed, never loaded."""


@functools.cache
def _stable_pickler() -> type[Any]:
    """A cloudpickle Pickler whose output is the same in every process."""
    import cloudpickle  # imported on first use: most arguments never need it

    class StablePickler(cloudpickle.Pickler):
        # cloudpickle copies a class defined in __main__ with a random tracker id; a class is
        # named by module and qualname instead, which is stable (the instance state is kept).
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, type):
                return _class_named, (obj.__module__, obj.__qualname__)
            return super().reducer_override(obj)

        def persistent_id(self, obj: Any) -> Any:
            # A set pickles in iteration order, which follows the per-process string hash
            # seed (and pickle lets nothing override how sets are written): it is named by
            # the sorted digests of its items instead, the same in every process.
            if type(obj) is set or type(obj) is frozenset:
                return [type(obj).__name__, sorted(_digest(item) for item in obj)]
            return None

    return StablePickler


# --- hashing source --------------------------------------------------------------------------

_source_digests: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _source_digest(fn: Callable[..., Any]) -> str:
    """The digest of fn's source, computed once per function."""
    try:
        digest = _source_digests.get(fn)
    except TypeError:  # not weak-referenceable: nothing to remember it by
        return _digest(_source_of(fn))
    if digest is None:
        digest = _source_digests[fn] = _digest(_source_of(fn))
    return digest


def _source_of(fn: Callable[..., Any]) -> Any:
    """fn's source text, or its compiled code where the source is unavailable (``python -c``)."""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if isinstance(code, CodeType):
            return _code_form(code)
        return f"{type(fn).__module__}.{type(fn).__qualname__}"


def _code_form(code: CodeType) -> list[Any]:
    consts = [_code_form(c) if isinstance(c, CodeType) else _canonical(c) for c in code.co_consts]
    return ["code", code.co_code.hex(), list(code.co_names), consts]
