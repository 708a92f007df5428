"""Flow parameters: coerced to their annotations, refused with a named error, recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from runnel import flow
from runnel.clock import FakeClock
from runnel.exceptions import ConfigurationError, ParameterValidationError
from runnel.store import Store
from runnel.store.base import FlowRunRecord


def test_string_argument_is_coerced_to_the_annotation(
    only_flow_run: Callable[..., FlowRunRecord],
) -> None:
    received: list[Any] = []

    @flow
    def f(n: int) -> int:
        received.append(n)
        return n * 2

    assert f("3") == 6
    assert received == [3] and type(received[0]) is int
    assert json.loads(only_flow_run().parameters or "") == {"n": 3}


def test_coercion_of_several_kinds() -> None:
    received: dict[str, Any] = {}

    @flow
    def f(n: int, ratio: float, flag: bool, items: list[int], name: str = "x") -> None:
        received.update(n=n, ratio=ratio, flag=flag, items=items, name=name)

    f(n=2.0, ratio="0.5", flag="yes", items=("1", 2))
    assert received == {"n": 2, "ratio": 0.5, "flag": True, "items": [1, 2], "name": "x"}
    assert type(received["n"]) is int


def test_unannotated_parameters_pass_through() -> None:
    marker = object()
    received: list[Any] = []

    @flow
    def f(anything) -> None:  # type: ignore[no-untyped-def]
        received.append(anything)

    f(marker)
    assert received[0] is marker


def test_invalid_value_raises_a_named_error_and_is_recorded_failed(
    store: Store, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    calls: list[int] = []

    @flow
    def f(n: int) -> None:
        calls.append(n)

    with pytest.raises(ParameterValidationError) as raised:
        f("abc")
    assert isinstance(raised.value, ConfigurationError)
    assert "'n'" in str(raised.value)
    assert "int" in str(raised.value) and "'abc'" in str(raised.value)
    assert calls == []
    record = only_flow_run()
    assert record.state_type == "FAILED"
    assert record.state_message is not None
    assert record.state_message.startswith(
        "Flow run encountered an exception ParameterValidationError:"
    )
    assert "'n'" in record.state_message
    assert record.end_time is not None
    assert any("'n'" in log.message for log in store.list_logs(record.id))


def test_invalid_value_state_with_return_state(only_flow_run: Callable[..., FlowRunRecord]) -> None:
    @flow
    def f(n: int) -> None:
        pass

    state = f("abc", return_state=True)
    assert state.is_failed()
    assert isinstance(state.exception, ParameterValidationError)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1, 2), {}), ((1,), {"n": 1}), ((), {"m": 1})],
    ids=["missing", "too-many", "twice", "unknown-keyword"],
)
def test_wrong_arguments_raise_parameter_validation_error_and_are_recorded_failed(
    args: tuple[Any, ...], kwargs: dict[str, Any], only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @flow
    def f(n: int) -> None:
        pass

    with pytest.raises(ParameterValidationError, match="'f'"):
        f(*args, **kwargs)
    record = only_flow_run()
    assert record.state_type == "FAILED"
    assert "ParameterValidationError" in (record.state_message or "")


def test_wrong_arguments_are_refused_even_without_validation(
    only_flow_run: Callable[..., FlowRunRecord],
) -> None:
    @flow(validate_parameters=False)
    def f(n: int) -> None:
        pass

    with pytest.raises(ParameterValidationError):
        f(1, 2)
    assert only_flow_run().state_type == "FAILED"


def test_validate_parameters_false_passes_values_unchanged() -> None:
    received: list[Any] = []

    @flow(validate_parameters=False)
    def f(n: int) -> None:
        received.append(n)

    f("3")
    assert received == ["3"]


def test_bad_parameters_are_never_retried(
    clock: FakeClock, only_flow_run: Callable[..., FlowRunRecord]
) -> None:
    @flow(retries=3, retry_delay_seconds=10)
    def f(n: int) -> None:
        pass

    with pytest.raises(ParameterValidationError):
        f("abc")
    assert clock.slept == []
    assert only_flow_run().run_count == 1


def test_bad_parameters_call_on_failure() -> None:
    seen: list[Any] = []

    @flow(on_failure=[lambda flow_, run, state: seen.append(state)])
    def f(n: int) -> None:
        pass

    f("abc", return_state=True)
    assert len(seen) == 1 and isinstance(seen[0].exception, ParameterValidationError)


def test_async_flow_parameters_are_validated() -> None:
    @flow
    async def f(n: int) -> int:
        return n + 1

    assert asyncio.run(f("41")) == 42
    with pytest.raises(ParameterValidationError, match="'n'"):
        asyncio.run(f("forty-one"))


def test_parameters_are_recorded_as_json(only_flow_run: Callable[..., FlowRunRecord]) -> None:
    @flow
    def f(repos: list[str], limit: int = 10, *, verbose: bool = False) -> None:
        pass

    f(["a/b", "c/d"], verbose=True)
    assert json.loads(only_flow_run().parameters or "") == {
        "repos": ["a/b", "c/d"],
        "limit": 10,
        "verbose": True,
    }


def test_parameters_json_cannot_hold_are_recorded_as_repr(
    only_flow_run: Callable[..., FlowRunRecord],
) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    @flow
    def f(thing: Any) -> None:
        pass

    f(Opaque())
    assert json.loads(only_flow_run().parameters or "") == {"thing": "<Opaque>"}


def test_defaults_are_not_validated() -> None:
    @flow
    def f(name: str = None, n: int = "5") -> tuple[Any, Any]:  # type: ignore[assignment]
        return name, n

    assert f() == (None, "5")


def test_explicit_none_for_a_str_parameter_is_refused() -> None:
    @flow
    def f(name: str = "x") -> None:
        pass

    with pytest.raises(ParameterValidationError, match="'name'"):
        f(name=None)  # type: ignore[arg-type]
