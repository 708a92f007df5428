"""Flow arguments checked and coerced against their annotations, in pydantic v2's lax mode.

Standard library only. A parameter typed as a pydantic model still works: anything with a
``model_validate`` classmethod is asked to validate itself, without runnel importing pydantic.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import os
import re
import types
import typing
import uuid
import weakref
from collections import deque
from collections.abc import Callable, KeysView, Mapping, ValuesView
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Literal, TypeVar, Union

from runnel.exceptions import ParameterValidationError

__all__ = ["coerce_arguments"]

_T = TypeVar("_T")
_Parameters = dict[str, tuple[Any, inspect._ParameterKind]]

# Weak keys: flows built in a loop or a closure must not be kept alive by the cache.
_PARAMETERS: weakref.WeakKeyDictionary[Any, _Parameters] = weakref.WeakKeyDictionary()
_FIELDS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

_SEQUENCES = (list, tuple, set, frozenset)
# What pydantic's lax mode takes for a list, tuple or set: never str, bytes or a mapping.
_SEQUENCE_INPUTS = (*_SEQUENCES, deque, KeysView, ValuesView, types.GeneratorType)
_BOOLS = {s: True for s in ("1", "on", "t", "true", "y", "yes")}
_BOOLS.update({s: False for s in ("0", "off", "f", "false", "n", "no")})
_INT_STRING = re.compile(r"[+-]?\d[\d_]*(?:\.0+)?", re.ASCII)
_NUMBER_STRING = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_N = r"(\d+(?:\.\d+)?)"
_ISO_DURATION = re.compile(
    rf"([-+])?P(?:{_N}Y)?(?:{_N}M)?(?:{_N}W)?(?:{_N}D)?(?:T(?:{_N}H)?(?:{_N}M)?(?:{_N}S)?)?"
)
# "01:02:03", "30:00" (hours and minutes), "1 day, 01:02:03", "2d,01:00:00"
_CLOCK_DURATION = re.compile(
    rf"([-+])?(?:{_N} ?(?:d|days?),? ?)?(\d+):(\d\d)(?::(\d\d(?:\.\d+)?))?"
)


class _Invalid(Exception):
    """A value that does not fit; ``path`` grows as the error travels out of containers."""

    def __init__(self, expected: Any, value: Any, detail: str = "") -> None:
        super().__init__()
        self.expected, self.value, self.detail, self.path = expected, value, detail, ""


def coerce_arguments(fn: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments (already bound by name, defaults applied) coerced to the annotations of fn."""
    parameters = _memo(_PARAMETERS, fn, _analyse)
    coerced: dict[str, Any] = {}
    for name, value in arguments.items():
        tp, kind = parameters.get(name, (Any, inspect.Parameter.POSITIONAL_OR_KEYWORD))
        try:
            if kind is inspect.Parameter.VAR_POSITIONAL:
                coerced[name] = tuple(_at(item, tp, False, i) for i, item in enumerate(value))
            elif kind is inspect.Parameter.VAR_KEYWORD:
                coerced[name] = {key: _at(item, tp, False, key) for key, item in value.items()}
            else:
                coerced[name] = _coerce(value, tp)
        except _Invalid as err:
            flow = getattr(fn, "__name__", type(fn).__name__)
            message = (
                f"parameter {name!r}{err.path} of flow {flow!r}: "
                f"expected {_type_name(err.expected)}, got {_show(err.value)}"
            )
            # The cause is the model's own error, if any; our internal _Invalid is noise.
            message = f"{message}: {err.detail}" if err.detail else message
            raise ParameterValidationError(message) from err.__cause__
    return coerced


def _memo(cache: weakref.WeakKeyDictionary[Any, _T], key: Any, compute: Callable[[Any], _T]) -> _T:
    try:
        return cache[key]
    except KeyError:
        pass
    except TypeError:  # not weakly referenceable (or unhashable): work it out every time
        return compute(key)
    cache[key] = result = compute(key)
    return result


def _analyse(fn: Any) -> _Parameters:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # some builtins have no signature: nothing to check
        return {}
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # a forward ref that does not resolve: raw annotations, strings pass through
        hints = {}
    return {name: (hints.get(name, p.annotation), p.kind) for name, p in parameters.items()}


def _field_types(cls: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:
        return dict(getattr(cls, "__annotations__", {}))


def _at(value: Any, tp: Any, strict: bool, key: Any, attribute: bool = False) -> Any:
    """One item of a container coerced, its key added to the path of any error."""
    try:
        return _coerce(value, tp, strict)
    except _Invalid as err:
        err.path = (f".{key}" if attribute else f"[{key!r}]") + err.path
        raise


def _coerce(v: Any, tp: Any, strict: bool = False) -> Any:
    """v fitted to tp; strict only accepts what already is of the type (for unions' first pass)."""
    if tp is Any or tp is object or tp is inspect.Parameter.empty:
        return v
    if tp is None or tp is types.NoneType:
        if v is None:
            return None
        raise _Invalid(None, v)
    origin = typing.get_origin(tp)
    if origin is not None:
        args = typing.get_args(tp)
        if origin is typing.Annotated:
            return _coerce(v, args[0], strict)
        if origin is Union or origin is types.UnionType:
            return _union(v, tp, args, strict)
        if origin is Literal:
            return _literal(v, tp, args, strict)
        if origin in _SEQUENCES or origin is dict:
            return _container(v, tp, origin, args, strict)
        return v  # Iterable[int], Callable[..., T], type[T], user generics: not ours to judge
    if isinstance(tp, typing.NewType):
        return _coerce(v, tp.__supertype__, strict)
    if not isinstance(tp, type):
        return v  # TypeVar, ForwardRef, an unresolved string annotation...
    return _class(v, tp, strict)


def _class(v: Any, tp: Any, strict: bool) -> Any:
    if tp in _SEQUENCES or tp is dict:
        return _container(v, tp, tp, (), strict)
    if issubclass(tp, enum.Enum):
        return _enum(v, tp, strict)
    convert = _SCALARS.get(tp)
    if convert is not None or issubclass(tp, PurePath):
        # Already the type (a bool is no int, a datetime no date, as pydantic sees them); an
        # IntEnum member counts as an int but is handed on as a plain one, again as pydantic does.
        if (
            isinstance(v, tp)
            and not (isinstance(v, bool) and tp is not bool)
            and not (tp is date and isinstance(v, datetime))
        ):
            return convert(v) if isinstance(v, enum.Enum) and convert is not None else v
        if strict:
            raise _Invalid(tp, v)
        try:
            return convert(v) if convert is not None else _path(v, tp)
        except (ValueError, TypeError, ArithmeticError, OSError):
            raise _Invalid(tp, v) from None
    if callable(getattr(tp, "model_validate", None)):
        if isinstance(v, tp) or not strict:
            try:
                return tp.model_validate(v)
            except Exception as exc:
                lines = [s.strip() for s in str(exc).splitlines() if "further information" not in s]
                raise _Invalid(tp, v, " ".join(filter(None, lines))[:300]) from exc
        raise _Invalid(tp, v)
    if dataclasses.is_dataclass(tp):
        return _dataclass(v, tp, strict)
    if typing.is_typeddict(tp):
        return _typeddict(v, tp, strict)
    if getattr(tp, "_is_protocol", False) or tp.__module__ == "collections.abc":
        return v  # Protocols and bare ABCs (Iterable, Callable...) pass through, as promised
    try:
        if isinstance(v, tp):
            return v
    except TypeError:  # a class whose isinstance cannot answer: do not guess
        return v
    raise _Invalid(tp, v)


def _union(v: Any, tp: Any, members: tuple[Any, ...], strict: bool) -> Any:
    # pydantic's smart mode: a member the value already is wins, so `int | str` keeps "3" a str;
    # only then is each member tried laxly, left to right.
    for passes_strict in (True, False) if not strict else (True,):
        for member in members:
            try:
                return _coerce(v, member, passes_strict)
            except _Invalid:
                pass
    raise _Invalid(tp, v)


def _literal(v: Any, tp: Any, allowed: tuple[Any, ...], strict: bool) -> Any:
    for value in allowed:
        if type(v) is type(value) and v == value:
            return value
    # Lax, pydantic also matches equal numbers of other types (True or 1.0 for Literal[1]), but
    # never a string for a number.
    if not strict and isinstance(v, int | float | Decimal):
        for value in allowed:
            if isinstance(value, int | float) and not isinstance(value, enum.Enum) and v == value:
                return value
    raise _Invalid(tp, v)


def _enum(v: Any, tp: Any, strict: bool) -> Any:
    if isinstance(v, tp):
        return v
    if not strict:
        candidates = [v]
        if issubclass(tp, int) and not isinstance(v, int):
            try:  # "2" for an IntEnum, as pydantic reads it
                candidates.append(_int(v))
            except (ValueError, TypeError):
                pass
        for candidate in candidates:
            try:
                return tp(candidate)
            except (ValueError, TypeError):
                pass
        # By name too: not pydantic, but what a CLI or UI user naturally types.
        if isinstance(v, str) and v in tp.__members__:
            return tp[v]
    raise _Invalid(tp, v)


def _container(v: Any, tp: Any, origin: Any, args: tuple[Any, ...], strict: bool) -> Any:
    if origin is dict:
        if not isinstance(v, dict if strict else Mapping):
            raise _Invalid(tp, v)
        key_tp, value_tp = args if len(args) == 2 else (Any, Any)
        return {_at(k, key_tp, strict, k): _at(item, value_tp, strict, k) for k, item in v.items()}
    if not isinstance(v, origin if strict else _SEQUENCE_INPUTS):
        raise _Invalid(tp, v)
    items = list(v)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(items) != len(args):
            raise _Invalid(tp, v, f"{len(args)} items needed, {len(items)} given")
        pairs = enumerate(zip(items, args, strict=True))
        return tuple(_at(item, item_tp, strict, i) for i, (item, item_tp) in pairs)
    item_tp = args[0] if args else Any
    coerced = [_at(item, item_tp, strict, i) for i, item in enumerate(items)]
    try:
        return origin(coerced)
    except TypeError:  # unhashable items for a set
        raise _Invalid(tp, v, "items must be hashable") from None


def _dataclass(v: Any, tp: Any, strict: bool) -> Any:
    if isinstance(v, tp):
        return v
    if strict or not isinstance(v, Mapping):
        raise _Invalid(tp, v)
    hints = _memo(_FIELDS, tp, _field_types)
    kwargs = {}
    for field in dataclasses.fields(tp):
        if not field.init:
            continue
        if field.name in v:
            field_tp = hints.get(field.name, Any)
            kwargs[field.name] = _at(v[field.name], field_tp, False, field.name, attribute=True)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise _Invalid(tp, v, f"missing field {field.name!r}")
    # Unknown keys are ignored, as pydantic's default extra="ignore" does.
    try:
        return tp(**kwargs)
    except Exception as exc:  # __post_init__ refusing the values is a validation error too
        raise _Invalid(tp, v, f"{type(exc).__name__}: {exc}") from exc


def _typeddict(v: Any, tp: Any, strict: bool) -> dict[str, Any]:
    if not isinstance(v, dict if strict else Mapping):
        raise _Invalid(tp, v)
    missing = sorted(set(tp.__required_keys__) - set(v))
    if missing:
        raise _Invalid(tp, v, f"missing key {missing[0]!r}")
    hints = _memo(_FIELDS, tp, _field_types)
    # Keys the TypedDict does not declare are dropped, as pydantic's default extra="ignore" does.
    return {k: _at(item, hints[k], strict, k) for k, item in v.items() if k in hints}


def _int(v: Any) -> int:
    if isinstance(v, int):  # bool too: pydantic's lax mode reads True as 1
        return int(v)
    if isinstance(v, float) and v.is_integer():  # 3.0 but not 3.5, nan or inf
        return int(v)
    if isinstance(v, Decimal) and v.is_finite() and v == v.to_integral_value():
        return int(v)
    if isinstance(v, str) and _INT_STRING.fullmatch(s := v.strip()):
        return int(s.partition(".")[0])  # "3.0" is 3 to pydantic, "3.5" is an error
    raise ValueError(v)


def _float(v: Any) -> float:
    if isinstance(v, int | float | Decimal | str):  # bool too, as pydantic's lax mode
        return float(v)
    raise TypeError(v)


def _bool(v: Any) -> bool:
    if isinstance(v, int | float | Decimal) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in _BOOLS:  # pydantic does not strip here
        return _BOOLS[v.lower()]
    raise ValueError(v)


def _bytes(v: Any) -> bytes:
    if isinstance(v, bytearray):
        return bytes(v)
    if isinstance(v, str):
        return v.encode()
    raise TypeError(v)


def _decimal(v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, int | float | str | Decimal):
        raise TypeError(v)
    # Through repr, so 0.1 becomes Decimal("0.1") and not its binary approximation.
    d = Decimal(repr(v) if isinstance(v, float) else v)
    if not d.is_finite():
        raise ValueError(v)
    return d


def _uuid(v: Any) -> uuid.UUID:
    if isinstance(v, bytes) and len(v) == 16:
        return uuid.UUID(bytes=v)
    if isinstance(v, str):
        return uuid.UUID(v)
    raise TypeError(v)


def _path(v: Any, tp: type[PurePath]) -> PurePath:
    if isinstance(v, str | os.PathLike):
        return tp(v)
    raise TypeError(v)


def _datetime(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v)
        except ValueError:
            if not _NUMBER_STRING.fullmatch(v):
                raise
            v = float(v)  # a numeric string is a Unix time to pydantic
    if isinstance(v, int | float | Decimal) and not isinstance(v, bool):
        seconds = float(v)
        # Unix seconds, or milliseconds past 2e10 (year 2603), the way pydantic tells them apart.
        return datetime.fromtimestamp(seconds / 1000 if abs(seconds) > 2e10 else seconds, tz=UTC)
    if isinstance(v, date):  # midnight of that day, as pydantic does
        return datetime(v.year, v.month, v.day)
    raise TypeError(v)


def _date(v: Any) -> date:
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    moment = _datetime(v)
    if moment.time() != time():  # only a datetime at midnight is an exact date
        raise ValueError(v)
    return moment.date()


def _time(v: Any) -> time:
    if isinstance(v, str):  # not pydantic's seconds-since-midnight numbers: too easily a mistake
        return time.fromisoformat(v)
    raise TypeError(v)


def _timedelta(v: Any) -> timedelta:
    # pydantic takes True as one second; refused here, as it is surely a mistake.
    if isinstance(v, int | float | Decimal) and not isinstance(v, bool):
        return timedelta(seconds=float(v))
    if not isinstance(v, str):
        raise TypeError(v)
    if (match := _ISO_DURATION.fullmatch(v)) and any(parts := match.groups()[1:]):
        years, months, weeks, days, hours, minutes, seconds = (float(g or 0) for g in parts)
        # Years and months have no fixed length; pydantic counts them as 365 and 30 days.
        delta = timedelta(
            days=365 * years + 30 * months + 7 * weeks + days,
            hours=hours,
            minutes=minutes,
            seconds=seconds,
        )
    elif match := _CLOCK_DURATION.fullmatch(v):
        days, hours, minutes, seconds = (float(g or 0) for g in match.groups()[1:])
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        raise ValueError(v)  # a bare "3600" is refused, as pydantic does
    return -delta if match.group(1) == "-" else delta  # the sign covers the whole duration


# str is not here: only a str is a str (pydantic does not turn numbers into text), which the
# plain isinstance check already says.
_SCALARS: dict[type, Callable[[Any], Any]] = {
    int: _int,
    float: _float,
    bool: _bool,
    bytes: _bytes,
    Decimal: _decimal,
    uuid.UUID: _uuid,
    datetime: _datetime,
    date: _date,
    time: _time,
    timedelta: _timedelta,
}


def _type_name(tp: Any) -> str:
    if tp is None or tp is types.NoneType:
        return "None"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        return " | ".join(map(_type_name, args))
    if origin is Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin is not None and args:
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{_type_name(origin)}[{inner}]"
    if isinstance(tp, type):
        return tp.__name__
    return repr(tp).replace("typing.", "")


def _show(v: Any) -> str:
    try:
        text = repr(v)
    except Exception:  # a broken __repr__ must not hide the validation error
        text = object.__repr__(v)
    return f"{text if len(text) <= 80 else text[:77] + '...'} ({type(v).__name__})"
