"""coerce_arguments: flow arguments fitted to annotations the way pydantic v2's lax mode does."""

import dataclasses
import enum
import gc
import inspect
import re
import types
import typing
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, NewType, Optional, Protocol, TypedDict, TypeVar, Union

import pytest

from runnel import validation
from runnel.exceptions import ConfigurationError, ParameterValidationError
from runnel.validation import coerce_arguments

T = TypeVar("T")
UserId = NewType("UserId", int)


class Color(enum.Enum):
    RED = "r"
    GREEN = "g"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Positive:
    n: int

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError("n must be positive")


@dataclasses.dataclass
class Line:
    start: Point
    end: Point


class Movie(TypedDict):
    title: str
    year: int


class PartialMovie(TypedDict, total=False):
    title: str
    year: int


class Model:
    """Looks like a pydantic model to runnel: it has a model_validate classmethod."""

    def __init__(self, a: int) -> None:
        self.a = a

    @classmethod
    def model_validate(cls, value: Any) -> "Model":
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict) or not isinstance(value.get("a"), int):
            raise ValueError(
                "1 validation error for Model\na\n  Input should be an integer\n"
                "    For further information visit https://example.invalid"
            )
        return cls(value["a"])


class Thing:
    pass


class SubThing(Thing):
    pass


class HasName(Protocol):
    name: str


def one(annotation: Any, value: Any) -> Any:
    """value coerced as the argument of a one-parameter flow annotated with annotation."""

    def flow_fn(x):
        return x

    flow_fn.__annotations__ = {"x": annotation}
    return coerce_arguments(flow_fn, {"x": value})["x"]


def fails(annotation: Any, value: Any) -> str:
    with pytest.raises(ParameterValidationError) as info:
        one(annotation, value)
    return str(info.value)


def same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


# --- the message -----------------------------------------------------------------------------


def test_message_names_parameter_flow_expected_and_given() -> None:
    def my_flow(n: int) -> None: ...

    with pytest.raises(ParameterValidationError) as info:
        coerce_arguments(my_flow, {"n": "abc"})
    assert str(info.value) == "parameter 'n' of flow 'my_flow': expected int, got 'abc' (str)"
    assert isinstance(info.value, ConfigurationError)
    assert "\n" not in str(info.value)


def test_message_names_the_path_into_nested_containers() -> None:
    def pipeline(repos: list[str], weights: dict[str, list[float]]) -> None: ...

    with pytest.raises(
        ParameterValidationError,
        match=re.escape("parameter 'repos'[2] of flow 'pipeline': expected str, got 3 (int)"),
    ):
        coerce_arguments(pipeline, {"repos": ["a", "b", 3], "weights": {}})
    with pytest.raises(
        ParameterValidationError,
        match=re.escape(
            "parameter 'weights'['w'][1] of flow 'pipeline': expected float, got 'x' (str)"
        ),
    ):
        coerce_arguments(pipeline, {"repos": [], "weights": {"w": [1, "x"]}})


def test_message_names_dataclass_fields_by_attribute() -> None:
    message = fails(Line, {"start": {"x": 1}, "end": {"x": "far"}})
    assert message == "parameter 'x'.end.x of flow 'flow_fn': expected int, got 'far' (str)"


def test_message_shortens_long_values() -> None:
    message = fails(int, "9" * 50 + "z" * 200)
    assert len(message) < 160
    assert "...' (str)" not in message and "... (str)" in message


def test_message_names_generic_and_union_types() -> None:
    assert "expected int | str, got None (NoneType)" in fails(int | str, None)
    assert "expected list[int], got 'ab' (str)" in fails(list[int], "ab")
    assert "expected Literal['a', 'b'], got 'c' (str)" in fails(Literal["a", "b"], "c")
    assert "expected tuple[int, ...], got 3 (int)" in fails(tuple[int, ...], 3)
    assert "expected None, got 1 (int)" in fails(None, 1)


def test_the_error_does_not_chain_internal_exceptions() -> None:
    with pytest.raises(ParameterValidationError) as info:
        one(int, "x")
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --- pass-through ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotation",
    [
        Any,
        object,
        inspect.Parameter.empty,
        Callable,
        Callable[[int], str],
        Iterable,
        Iterable[int],
        Sequence[int],
        typing.Iterable,
        T,
        HasName,
        type[int],
        "NotAType",
        typing.ForwardRef("Nope"),
    ],
)
def test_annotations_not_understood_pass_the_value_through(annotation: Any) -> None:
    marker = object()
    assert one(annotation, marker) is marker


def test_unannotated_parameters_pass_through() -> None:
    def flow_fn(a, b=2):
        return a, b

    marker = object()
    assert coerce_arguments(flow_fn, {"a": marker, "b": "2"}) == {"a": marker, "b": "2"}


def test_arguments_not_in_the_signature_are_left_alone() -> None:
    def flow_fn(n: int) -> None: ...

    assert coerce_arguments(flow_fn, {"n": "1", "other": "x"}) == {"n": 1, "other": "x"}


def test_callables_without_a_signature_pass_everything_through() -> None:
    assert coerce_arguments(print, {"value": "x"}) == {"value": "x"}


# --- scalars ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        ("3", 3),
        (" 3 ", 3),
        ("-3", -3),
        ("+3", 3),
        ("1_000", 1000),
        ("3.0", 3),
        (3.0, 3),
        (Decimal("4"), 4),
        (True, 1),
        (False, 0),
    ],
)
def test_int_accepts(value: Any, expected: int) -> None:
    assert same(one(int, value), expected)


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "3.5",
        "3.",
        "1e3",
        "",
        3.5,
        float("nan"),
        float("inf"),
        Decimal("1.5"),
        None,
        [1],
        b"3",
    ],
)
def test_int_refuses(value: Any) -> None:
    assert "expected int" in fails(int, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, 1.5),
        (3, 3.0),
        ("2.5", 2.5),
        (" 2 ", 2.0),
        ("1e3", 1000.0),
        (Decimal("1.5"), 1.5),
        (True, 1.0),
    ],
)
def test_float_accepts(value: Any, expected: float) -> None:
    assert same(one(float, value), expected)


@pytest.mark.parametrize("value", ["abc", None, [1.0], b"1"])
def test_float_refuses(value: Any) -> None:
    assert "expected float" in fails(float, value)


def test_float_accepts_inf_and_nan_strings_as_pydantic_does() -> None:
    assert one(float, "inf") == float("inf")
    assert one(float, "nan") != one(float, "nan")


def test_str_accepts_only_strings() -> None:
    assert one(str, "x") == "x"
    assert one(str, Color.RED.value) == "r"
    for value in (3, 1.5, True, b"x", None, ["x"]):
        assert "expected str" in fails(str, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (1.0, True),
        (Decimal(0), False),
        ("true", True),
        ("FALSE", False),
        ("Yes", True),
        ("no", False),
        ("on", True),
        ("OFF", False),
        ("1", True),
        ("0", False),
        ("t", True),
        ("f", False),
        ("Y", True),
        ("n", False),
    ],
)
def test_bool_accepts(value: Any, expected: bool) -> None:
    assert one(bool, value) is expected


@pytest.mark.parametrize("value", [2, -1, 0.5, "maybe", "", " yes ", "2", None, []])
def test_bool_refuses(value: Any) -> None:
    assert "expected bool" in fails(bool, value)


def test_bytes() -> None:
    assert one(bytes, b"ab") == b"ab"
    assert same(one(bytes, bytearray(b"ab")), b"ab")
    assert one(bytes, "é") == "é".encode()
    assert "expected bytes, got 3 (int)" in fails(bytes, 3)


def test_none_annotation() -> None:
    assert one(None, None) is None
    assert one(type(None), None) is None
    assert "expected None" in fails(type(None), 0)


# --- containers ------------------------------------------------------------------------------


def test_list_coerces_items_and_accepts_other_sequences() -> None:
    assert one(list[int], ["1", 2, 3.0]) == [1, 2, 3]
    for value in [
        (1, 2),
        {1, 2},
        frozenset({1, 2}),
        deque([1, 2]),
        {1: 0, 2: 0}.keys(),
        (i for i in (1, 2)),
    ]:
        result = one(list[int], value)
        assert type(result) is list and sorted(result) == [1, 2]


@pytest.mark.parametrize("value", ["12", b"12", {"a": 1}, 12, None])
def test_list_refuses_strings_mappings_and_scalars(value: Any) -> None:
    assert "expected list[int]" in fails(list[int], value)


def test_set_and_frozenset() -> None:
    assert same(one(set[int], ["1", 1, 2]), {1, 2})
    assert same(one(frozenset[str], ("a", "b")), frozenset({"a", "b"}))
    assert same(one(set, [1]), {1})
    assert "items must be hashable" in fails(set, [[1]])


def test_tuples() -> None:
    assert same(one(tuple[int, ...], ["1", 2]), (1, 2))
    assert same(one(tuple[int, str], [1, "a"]), (1, "a"))
    assert same(one(tuple[int, float], ("1", "2.5")), (1, 2.5))
    assert same(one(tuple, [1, "a"]), (1, "a"))
    assert "2 items needed, 1 given" in fails(tuple[int, str], [1])
    assert "'x'[1] of flow" in fails(tuple[int, int], [1, "b"])


def test_dicts() -> None:
    assert one(dict[str, int], {"a": "1"}) == {"a": 1}
    assert one(dict[int, list[int]], {"1": ("2",)}) == {1: [2]}
    assert same(one(dict, {"a": 1}), {"a": 1})
    assert one(dict[str, int], types.MappingProxyType({"a": 1})) == {"a": 1}
    assert "expected dict[str, int], got [('a', 1)] (list)" in fails(dict[str, int], [("a", 1)])
    assert "'x'['k'] of flow" in fails(dict[str, int], {"k": "v"})


def test_bare_and_typing_aliases() -> None:
    assert same(one(list, (1, "a")), [1, "a"])
    assert same(one(typing.List[int], ("1",)), [1])  # noqa: UP006
    assert same(one(typing.Dict[str, int], {"a": "1"}), {"a": 1})  # noqa: UP006
    assert same(one(typing.Set[int], ["1"]), {1})  # noqa: UP006
    assert same(one(typing.FrozenSet[int], ["1"]), frozenset({1}))  # noqa: UP006
    assert same(one(typing.Tuple[int, ...], ["1"]), (1,))  # noqa: UP006
    assert same(one(typing.List, (1,)), [1])  # noqa: UP006


def test_nested_containers() -> None:
    value = {"a": [("1", ["2", "3"])]}
    assert one(dict[str, list[tuple[int, set[int]]]], value) == {"a": [(1, {2, 3})]}


# --- unions ----------------------------------------------------------------------------------


def test_optional_allows_none_and_coerces_otherwise() -> None:
    for annotation in (Optional[int], int | None, Union[None, int]):  # noqa: UP007, UP045
        assert one(annotation, None) is None
        assert one(annotation, "3") == 3
        assert "expected" in fails(annotation, "x")


def test_union_prefers_a_member_the_value_already_is() -> None:
    assert same(one(int | str, "3"), "3")
    assert same(one(str | int, 3), 3)
    assert same(one(float | int, 3), 3)
    assert same(one(int | float, 3.0), 3.0)
    assert same(one(bool | int, 1), 1)
    assert same(one(list[int] | list[str], ["3"]), ["3"])
    assert same(one(Color | str, "r"), "r")
    assert same(one(date | datetime, datetime(2024, 1, 2, 3)), datetime(2024, 1, 2, 3))


def test_intenum_members_count_as_ints_and_become_plain_ints() -> None:
    assert same(one(int, Level.HIGH), 2)
    assert same(one(float, Level.HIGH), 2.0)
    assert same(one(bool | int, Level.LOW), 1)
    assert same(one(str | int, Level.LOW), 1)


def test_union_then_tries_members_left_to_right() -> None:
    assert same(one(int | float, "3"), 3)
    assert same(one(float | int, "3"), 3.0)
    assert same(one(int | float, True), 1)
    assert one(int | bool, "true") is True
    assert same(one(Union[int, list[int]], ("1",)), [1])  # noqa: UP007
    assert one(Point | None, {"x": "1"}) == Point(1)


def test_union_error_names_every_member() -> None:
    assert "expected int | bool, got 'maybe' (str)" in fails(int | bool, "maybe")
    assert "'x'[0] of flow" in fails(list[int | None], ["a"])


# --- literals and enums ----------------------------------------------------------------------


def test_literal() -> None:
    assert one(Literal["a", "b"], "b") == "b"
    assert same(one(Literal[1, 2], 1), 1)
    assert same(one(Literal[1], True), 1)  # pydantic's lax mode matches equal numbers
    assert one(Literal[True], 1) is True
    assert same(one(Literal[1, "a"], Decimal("1")), 1)
    assert same(one(Literal[2], Level.HIGH), 2)
    assert one(Literal[None, "x"], None) is None
    assert "expected Literal[1, 2]" in fails(Literal[1, 2], "1")
    assert "expected Literal['r']" in fails(Literal["r"], Color.RED)


def test_literal_union_member_prefers_exact_type() -> None:
    assert same(one(Literal[1] | Literal[True], True), True)


def test_enum_by_member_value_or_name() -> None:
    assert one(Color, Color.RED) is Color.RED
    assert one(Color, "g") is Color.GREEN
    assert one(Color, "GREEN") is Color.GREEN
    assert one(Level, 2) is Level.HIGH
    assert one(Level, "2") is Level.HIGH
    assert one(Level, "LOW") is Level.LOW
    assert "expected Color, got 'blue' (str)" in fails(Color, "blue")
    assert "expected Level" in fails(Level, 3)
    assert "expected Color" in fails(Color, ["r"])


# --- dates, times and other values -----------------------------------------------------------


def test_datetime() -> None:
    moment = datetime(2024, 1, 2, 3, 4, 5)
    assert one(datetime, moment) is moment
    assert one(datetime, "2024-01-02T03:04:05") == moment
    assert one(datetime, "2024-01-02T03:04:05Z") == moment.replace(tzinfo=UTC)
    assert one(datetime, "2024-01-02") == datetime(2024, 1, 2)
    assert one(datetime, date(2024, 1, 2)) == datetime(2024, 1, 2)
    assert one(datetime, 1_700_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert one(datetime, 1_700_000_000_000) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert one(datetime, "1700000000") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    for value in ("yesterday", " 3 ", "1e3", True, None, [2024]):
        assert "expected datetime" in fails(datetime, value)


def test_date() -> None:
    assert one(date, "2024-01-02") == date(2024, 1, 2)
    assert same(one(date, datetime(2024, 1, 2)), date(2024, 1, 2))
    assert one(date, "2024-01-02T00:00:00") == date(2024, 1, 2)
    assert one(date, 1_704_153_600) == date(2024, 1, 2)
    assert "expected date" in fails(date, datetime(2024, 1, 2, 1))
    assert "expected date" in fails(date, "2024-13-01")


def test_time() -> None:
    assert one(time, "03:04") == time(3, 4)
    assert one(time, "03:04:05.5") == time(3, 4, 5, 500000)
    assert "expected time" in fails(time, 3600)
    assert "expected time" in fails(time, "25:00")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3600, timedelta(hours=1)),
        (1.5, timedelta(seconds=1.5)),
        (Decimal("2"), timedelta(seconds=2)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("P2W", timedelta(weeks=2)),
        ("P1Y", timedelta(days=365)),
        ("P1M", timedelta(days=30)),
        ("PT5M", timedelta(minutes=5)),
        ("-PT1S", timedelta(seconds=-1)),
        ("01:02:03", timedelta(hours=1, minutes=2, seconds=3)),
        ("30:00", timedelta(hours=30)),
        ("1 day, 01:02:03", timedelta(days=1, seconds=3723)),
        ("2 days 01:00:00", timedelta(days=2, hours=1)),
        ("1d,01:00:00", timedelta(days=1, hours=1)),
        ("-01:00:00", timedelta(hours=-1)),
        (timedelta(days=3), timedelta(days=3)),
    ],
)
def test_timedelta_accepts(value: Any, expected: timedelta) -> None:
    assert one(timedelta, value) == expected


@pytest.mark.parametrize("value", ["3600", "P", "PT", "soon", "pt1s", True, None, float("nan")])
def test_timedelta_refuses(value: Any) -> None:
    assert "expected timedelta" in fails(timedelta, value)


def test_path() -> None:
    assert one(Path, "a/b") == Path("a/b")
    assert isinstance(one(Path, "a"), Path)
    assert one(Path, Path("x")) == Path("x")
    assert same(one(PurePosixPath, "a/b"), PurePosixPath("a/b"))
    assert "expected Path, got 3 (int)" in fails(Path, 3)


def test_uuid() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert one(uuid.UUID, value) is value
    assert one(uuid.UUID, str(value)) == value
    assert one(uuid.UUID, value.hex) == value
    assert one(uuid.UUID, value.bytes) == value
    assert "expected UUID" in fails(uuid.UUID, "not-a-uuid")
    assert "expected UUID" in fails(uuid.UUID, 3)


def test_decimal() -> None:
    assert same(one(Decimal, "1.10"), Decimal("1.10"))
    assert same(one(Decimal, 0.1), Decimal("0.1"))
    assert same(one(Decimal, 3), Decimal(3))
    for value in ("abc", "nan", "Infinity", True, None):
        assert "expected Decimal" in fails(Decimal, value)


def test_annotated_and_newtype_use_the_underlying_type() -> None:
    assert one(Annotated[int, "meta"], "3") == 3
    assert one(Annotated[list[int], {"unhashable": []}], ["3"]) == [3]
    assert same(one(UserId, "7"), 7)


# --- dataclasses, TypedDicts and models ------------------------------------------------------


def test_dataclass_instance_passes_and_dict_builds_one() -> None:
    point = Point(1, 2)
    assert one(Point, point) is point
    assert one(Point, {"x": "1", "y": 2.0, "tags": ("a",)}) == Point(1, 2, ["a"])
    assert one(Point, {"x": 1, "unknown": 5}) == Point(1)  # extra keys ignored, as pydantic does
    assert one(Line, {"start": {"x": "1"}, "end": Point(2)}) == Line(Point(1), Point(2))


def test_dataclass_errors() -> None:
    assert "missing field 'x'" in fails(Point, {"y": 1})
    assert "expected Point, got [1] (list)" in fails(Point, [1])
    assert "'x'.tags[0] of flow" in fails(Point, {"x": 1, "tags": [1]})
    message = fails(Positive, {"n": -1})
    assert "expected Positive" in message and "ValueError: n must be positive" in message


def test_typeddict() -> None:
    assert one(Movie, {"title": "Up", "year": "2009"}) == {"title": "Up", "year": 2009}
    assert one(Movie, {"title": "Up", "year": 2009, "extra": 1}) == {"title": "Up", "year": 2009}
    assert one(PartialMovie, {"year": "1"}) == {"year": 1}
    assert "missing key 'year'" in fails(Movie, {"title": "Up"})
    assert "'x'['year'] of flow" in fails(Movie, {"title": "Up", "year": "later"})
    assert "expected Movie" in fails(Movie, ["Up"])


def test_model_validate_is_used_and_its_error_reported() -> None:
    assert one(Model, {"a": 1}).a == 1
    instance = Model(2)
    assert one(Model, instance) is instance
    with pytest.raises(ParameterValidationError) as info:
        one(Model, {"a": "x"})
    message = str(info.value)
    assert message.startswith(
        "parameter 'x' of flow 'flow_fn': expected Model, got {'a': 'x'} (dict)"
    )
    assert "Input should be an integer" in message and "further information" not in message
    assert "\n" not in message
    assert isinstance(info.value.__cause__, ValueError)


def test_model_in_a_union_prefers_an_instance() -> None:
    instance = Model(1)
    assert one(Model | dict[str, int], instance) is instance
    assert one(dict[str, int] | Model, {"a": "1"}) == {"a": 1}


def test_real_pydantic_model_when_installed() -> None:
    pydantic = pytest.importorskip("pydantic")

    class User(pydantic.BaseModel):  # type: ignore[name-defined]
        id: int

    assert one(User, {"id": "3"}).id == 3
    message = fails(User, {"id": "x"})
    assert "expected User" in message and "id" in message and "\n" not in message


# --- plain classes ---------------------------------------------------------------------------


def test_plain_classes_are_checked_with_isinstance() -> None:
    sub = SubThing()
    assert one(Thing, sub) is sub
    assert "expected Thing, got 3 (int)" in fails(Thing, 3)
    assert one(type, int) is int


# --- how the annotations are found -----------------------------------------------------------


def test_string_annotations_are_resolved() -> None:
    def flow_fn(n: "int", items: "list[Point]") -> None: ...

    result = coerce_arguments(flow_fn, {"n": "1", "items": [{"x": "2"}]})
    assert result == {"n": 1, "items": [Point(2)]}


def test_unresolvable_forward_ref_falls_back_to_raw_annotations() -> None:
    def flow_fn(a: "DoesNotExist", n: int) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    marker = object()
    assert coerce_arguments(flow_fn, {"a": marker, "n": "2"}) == {"a": marker, "n": 2}


def test_var_positional_and_var_keyword_items_are_coerced() -> None:
    def flow_fn(first: int, *args: int, **kwargs: float) -> None: ...

    result = coerce_arguments(flow_fn, {"first": "1", "args": ("2", 3), "kwargs": {"k": "1.5"}})
    assert result == {"first": 1, "args": (2, 3), "kwargs": {"k": 1.5}}
    assert type(result["kwargs"]["k"]) is float
    with pytest.raises(ParameterValidationError, match=re.escape("parameter 'args'[1] of flow")):
        coerce_arguments(flow_fn, {"first": 1, "args": (1, "x"), "kwargs": {}})
    with pytest.raises(
        ParameterValidationError, match=re.escape("parameter 'kwargs'['k'] of flow")
    ):
        coerce_arguments(flow_fn, {"first": 1, "args": (), "kwargs": {"k": "x"}})


def test_unannotated_var_parameters_pass_through() -> None:
    def flow_fn(*args, **kwargs):
        return args, kwargs

    marker = object()
    assert coerce_arguments(flow_fn, {"args": (marker,), "kwargs": {"a": marker}}) == {
        "args": (marker,),
        "kwargs": {"a": marker},
    }


def test_input_is_not_mutated() -> None:
    def flow_fn(items: list[int]) -> None: ...

    items = ["1"]
    arguments = {"items": items}
    assert coerce_arguments(flow_fn, arguments) == {"items": [1]}
    assert arguments == {"items": ["1"]} and items == ["1"]


def test_analysis_is_cached_per_function() -> None:
    def flow_fn(n: int) -> None: ...

    assert coerce_arguments(flow_fn, {"n": "1"}) == {"n": 1}
    # Annotations changed after the first call are not read again: the analysis was kept.
    flow_fn.__annotations__ = {"n": str}
    assert coerce_arguments(flow_fn, {"n": "1"}) == {"n": 1}
    assert flow_fn in validation._PARAMETERS


def test_the_cache_does_not_keep_functions_alive() -> None:
    def flow_fn(n: int) -> None: ...

    coerce_arguments(flow_fn, {"n": 1})
    ref = weakref.ref(flow_fn)
    del flow_fn
    gc.collect()
    assert ref() is None


def test_callable_objects_are_supported() -> None:
    class Job:
        def __call__(self, n: int) -> None: ...

    assert coerce_arguments(Job(), {"n": "4"}) == {"n": 4}
