"""Markers for arguments: ``unmapped(x)`` passes ``x`` whole to every call of ``Task.map``."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")


class unmapped(Generic[T]):  # noqa: N801 (lower case, as users know it)
    """Wrap an argument of ``Task.map`` so every call receives it whole, not one element."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"unmapped({self.value!r})"


def map_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The argument sets of each call of a map: iterables give one element per call."""
    from runnel.exceptions import ConfigurationError

    lengths: dict[str, int] = {}
    mapped_args: list[Any] = []
    for index, value in enumerate(args):
        mapped_args.append(_split(value, f"argument {index + 1}", lengths))
    mapped_kwargs = {
        name: _split(value, f"argument {name!r}", lengths) for name, value in kwargs.items()
    }
    if not lengths:
        raise ConfigurationError(
            "Task.map needs at least one iterable argument (wrap a value every call shares in "
            "unmapped(...))"
        )
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{name} has {size}" for name, size in lengths.items())
        raise ConfigurationError(f"Task.map got iterables of unequal length: {sizes}")
    count = next(iter(lengths.values()))
    calls = []
    for i in range(count):
        call_args = tuple(v[i] if isinstance(v, _Mapped) else v for v in mapped_args)
        call_kwargs = {k: v[i] if isinstance(v, _Mapped) else v for k, v in mapped_kwargs.items()}
        calls.append((call_args, call_kwargs))
    return calls


class _Mapped(list[Any]):
    """The elements of an iterable argument of a map."""


def _split(value: Any, label: str, lengths: dict[str, int]) -> Any:
    if isinstance(value, unmapped):
        return value.value
    if isinstance(value, str | bytes | dict) or not _iterable(value):
        return value  # strings and mappings are values, not collections of arguments
    elements = _Mapped(value)
    lengths[label] = len(elements)
    return elements


def _iterable(value: Any) -> bool:
    from runnel.futures import RunnelFuture

    if isinstance(value, RunnelFuture):
        return False
    try:
        iter(value)
    except TypeError:
        return False
    return True
