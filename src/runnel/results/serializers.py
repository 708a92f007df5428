"""Serializers: a value to bytes and back, named so a record says how to read itself."""

from __future__ import annotations

import json
import pickle
import zlib
from typing import Any, Protocol, runtime_checkable

from runnel.exceptions import ConfigurationError
from runnel.results.errors import SerializationError


@runtime_checkable
class Serializer(Protocol):
    """Turns a value into bytes and back; ``name`` is stored in every record it writes."""

    name: str

    def dumps(self, value: Any) -> bytes:
        """The bytes that ``loads`` turns back into ``value``."""
        ...

    def loads(self, data: bytes) -> Any:
        """The value ``dumps`` turned into ``data``."""
        ...


class PickleSerializer:
    """cloudpickle: almost any Python value, including lambdas and local classes (the default)."""

    name = "pickle"

    def dumps(self, value: Any) -> bytes:
        try:
            import cloudpickle
        except ImportError:  # pragma: no cover - cloudpickle is a dependency of runnel
            raise ConfigurationError(
                "the pickle result serializer needs cloudpickle: pip install cloudpickle"
            ) from None
        try:
            return bytes(cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception as error:
            raise SerializationError(
                f"cannot pickle a value of type {type(value).__qualname__!r} ({error}); "
                "return a picklable value, or turn result persistence off for this task"
            ) from error

    def loads(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)
        except Exception as error:
            raise SerializationError(f"cannot unpickle the stored value: {error}") from error

    def __repr__(self) -> str:
        return "PickleSerializer()"


class JSONSerializer:
    """JSON in UTF-8: readable by anything; JSON types only (tuples come back as lists)."""

    name = "json"

    def dumps(self, value: Any) -> bytes:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise SerializationError(
                f"the json result serializer cannot store a value of type "
                f"{type(value).__qualname__!r} ({error}); return only dict, list, str, int, "
                "finite float, bool and None, or use result_serializer='pickle'"
            ) from error
        return text.encode("utf-8")

    def loads(self, data: bytes) -> Any:
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise SerializationError(f"the stored value is not UTF-8 JSON: {error}") from error

    def __repr__(self) -> str:
        return "JSONSerializer()"


class CompressedSerializer:
    """Another serializer's bytes, zlib-compressed; named ``compressed/<inner name>``."""

    def __init__(self, inner: Serializer | str = "pickle", level: int = 6) -> None:
        self.inner = get_serializer(inner)
        if not -1 <= level <= 9:
            raise ConfigurationError(f"zlib level {level!r} is not between -1 and 9")
        self.level = level
        self.name = f"compressed/{self.inner.name}"

    def dumps(self, value: Any) -> bytes:
        return zlib.compress(self.inner.dumps(value), self.level)

    def loads(self, data: bytes) -> Any:
        try:
            raw = zlib.decompress(data)
        except zlib.error as error:
            raise SerializationError(f"the stored value is not zlib data: {error}") from error
        return self.inner.loads(raw)

    def __repr__(self) -> str:
        return f"CompressedSerializer({self.inner!r})"


_BY_NAME: dict[str, type[PickleSerializer] | type[JSONSerializer]] = {
    "pickle": PickleSerializer,
    "json": JSONSerializer,
}
_PREFIX = "compressed/"


def serializer_names() -> list[str]:
    """The names ``get_serializer`` understands."""
    return [*_BY_NAME, *(_PREFIX + name for name in _BY_NAME)]


def get_serializer(name_or_instance: Serializer | str | None = None) -> Serializer:
    """A serializer from its name (``"pickle"``, ``"compressed/json"`` ...) or itself; None: pickle."""
    if name_or_instance is None:
        return PickleSerializer()
    if isinstance(name_or_instance, str):
        name = name_or_instance.strip().lower()
        if name == "compressed":
            return CompressedSerializer(PickleSerializer())
        if name.startswith(_PREFIX) and name[len(_PREFIX) :] in _BY_NAME:
            return CompressedSerializer(_BY_NAME[name[len(_PREFIX) :]]())
        if name in _BY_NAME:
            return _BY_NAME[name]()
        raise ConfigurationError(
            f"unknown result serializer {name_or_instance!r}: use one of "
            f"{', '.join(serializer_names())}, or an object with name, dumps and loads"
        )
    if isinstance(name_or_instance, Serializer) and isinstance(name_or_instance.name, str):
        return name_or_instance
    raise ConfigurationError(
        f"result serializer {name_or_instance!r} is neither a name nor an object with "
        "name, dumps(value) -> bytes and loads(bytes)"
    )
