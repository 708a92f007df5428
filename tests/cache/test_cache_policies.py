"""Cache policies: what a key is made of, how policies compose, and that keys are stable."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from runnel.cache_policies import (
    DEFAULT,
    FLOW_PARAMETERS,
    INPUTS,
    NONE,
    RUN_ID,
    TASK_SOURCE,
    CacheContext,
    CachePolicy,
    Inputs,
    UnhashableInput,
    from_key_fn,
)


def fetch(client: Any, url: str, page: int = 1) -> str:
    return f"{url}?page={page}"


def store(client: Any, url: str, page: int = 1) -> str:
    return f"stored {url}"


def context(
    fn: Callable[..., Any] = fetch,
    *,
    task_key: str | None = None,
    run_id: str | None = "run-1",
    flow_parameters: dict[str, Any] | None = None,
    **arguments: Any,
) -> CacheContext:
    return CacheContext(
        task_key=task_key or f"{fn.__module__}.{fn.__qualname__}",
        task_name=fn.__name__,
        fn=fn,
        flow_run_id=run_id,
        flow_parameters=flow_parameters,
        arguments=arguments,
    )


def key(policy: CachePolicy, **kwargs: Any) -> str | None:
    return policy.compute_key(context(**kwargs))


def constant_key(ctx: CacheContext, arguments: dict[str, Any]) -> str:
    return "same"


EVERY_POLICY = [
    INPUTS,
    TASK_SOURCE,
    FLOW_PARAMETERS,
    RUN_ID,
    DEFAULT,
    INPUTS - "client",
    from_key_fn(constant_key),
    FLOW_PARAMETERS + RUN_ID,
]


# --- each policy ------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", EVERY_POLICY, ids=repr)
def test_a_key_is_a_hex_sha256(policy: CachePolicy) -> None:
    found = key(policy, client=None, url="u", flow_parameters={"day": 1})
    assert found is not None and re.fullmatch(r"[0-9a-f]{64}", found)


def test_inputs_keys_on_the_arguments() -> None:
    assert key(INPUTS, url="a", page=1) == key(INPUTS, url="a", page=1)
    assert key(INPUTS, url="a", page=1) != key(INPUTS, url="a", page=2)
    assert key(INPUTS, url="a", page=1) == key(INPUTS, url="a", page=1, run_id="other")


def test_task_source_ignores_the_arguments() -> None:
    assert key(TASK_SOURCE, url="a") == key(TASK_SOURCE, url="b")
    assert key(TASK_SOURCE, fn=fetch) != key(TASK_SOURCE, fn=store, task_key="same")


def test_flow_parameters_key_on_the_flow_run_parameters() -> None:
    assert key(FLOW_PARAMETERS, url="a", flow_parameters={"day": 1}) == key(
        FLOW_PARAMETERS, url="b", flow_parameters={"day": 1}
    )
    assert key(FLOW_PARAMETERS, flow_parameters={"day": 1}) != key(
        FLOW_PARAMETERS, flow_parameters={"day": 2}
    )
    assert key(FLOW_PARAMETERS, flow_parameters=None) != key(FLOW_PARAMETERS, flow_parameters={})


def test_run_id_keys_on_the_flow_run_and_works_outside_a_flow() -> None:
    assert key(RUN_ID, run_id="a") != key(RUN_ID, run_id="b")
    assert key(RUN_ID, run_id="a", url="x") == key(RUN_ID, run_id="a", url="y")
    assert key(RUN_ID, run_id=None) is not None
    assert key(RUN_ID, run_id=None) != key(RUN_ID, run_id="None")


def test_default_is_inputs_task_source_and_run_id() -> None:
    assert DEFAULT == INPUTS + TASK_SOURCE + RUN_ID
    assert repr(DEFAULT) == "INPUTS + TASK_SOURCE + RUN_ID"
    assert key(DEFAULT, url="a") == key(DEFAULT, url="a")
    assert key(DEFAULT, url="a", run_id="1") != key(DEFAULT, url="a", run_id="2")
    assert key(DEFAULT, url="a") != key(DEFAULT, url="b")


def test_none_never_caches_and_adds_nothing() -> None:
    assert key(NONE, url="a") is None
    assert repr(NONE) == "NONE"
    assert NONE + INPUTS == INPUTS
    assert INPUTS + NONE == INPUTS
    assert key(NONE + INPUTS, url="a") == key(INPUTS, url="a")
    assert NONE - "client" == NONE


# --- composition and subtraction -------------------------------------------------------------


def test_composition_ignores_order_and_grouping() -> None:
    assert key(INPUTS + TASK_SOURCE, url="a") == key(TASK_SOURCE + INPUTS, url="a")
    left = (INPUTS + TASK_SOURCE) + RUN_ID
    right = INPUTS + (TASK_SOURCE + RUN_ID)
    shuffled = RUN_ID + INPUTS + TASK_SOURCE
    assert left == right == shuffled == DEFAULT
    assert key(left, url="a") == key(right, url="a") == key(shuffled, url="a")
    assert INPUTS + INPUTS == INPUTS
    assert key(DEFAULT + INPUTS, url="a") == key(DEFAULT, url="a")


def test_composition_is_the_union_of_parts() -> None:
    both = INPUTS + RUN_ID
    assert key(both, url="a", run_id="1") != key(both, url="b", run_id="1")
    assert key(both, url="a", run_id="1") != key(both, url="a", run_id="2")
    assert key(both, url="a") not in {key(INPUTS, url="a"), key(RUN_ID, url="a")}


def test_repr_reads_like_the_expression() -> None:
    assert repr(INPUTS + TASK_SOURCE) == "INPUTS + TASK_SOURCE"
    assert repr(TASK_SOURCE + INPUTS) == "TASK_SOURCE + INPUTS"
    assert repr(INPUTS - "client") == "INPUTS - 'client'"
    assert repr(DEFAULT - "client") == "INPUTS + TASK_SOURCE + RUN_ID - 'client'"
    assert repr(from_key_fn(constant_key)) == "from_key_fn(constant_key)"


def test_subtraction_leaves_an_argument_out() -> None:
    policy = INPUTS - "client"
    assert key(policy, client=object(), url="a") == key(policy, client=object(), url="a")
    assert key(policy, client=1, url="a") == key(INPUTS, url="a")
    assert key(policy, client=1, url="a") != key(policy, client=1, url="b")
    assert INPUTS - "client" - "page" == Inputs(frozenset({"client", "page"}))
    assert Inputs(exclude=["client"]) == INPUTS - "client"  # type: ignore[arg-type]


def test_subtraction_from_a_compound_applies_to_its_inputs() -> None:
    policy = DEFAULT - "client"
    assert key(policy, client=1, url="a") == key(policy, client=2, url="a")
    assert key(policy, client=1, url="a") == key(INPUTS + TASK_SOURCE + RUN_ID - "client", url="a")
    assert key(INPUTS - "client" + TASK_SOURCE, client=1) == key(TASK_SOURCE + INPUTS - "client")


def test_subtraction_without_inputs_is_remembered_for_inputs_added_later() -> None:
    policy = TASK_SOURCE - "client"
    assert repr(policy) == "TASK_SOURCE - 'client'"
    assert key(policy, client=1) == key(TASK_SOURCE, client=2)
    combined = policy + INPUTS
    assert key(combined, client=1, url="a") == key(combined, client=2, url="a")
    assert key(combined, client=1, url="a") == key(TASK_SOURCE + (INPUTS - "client"), url="a")


def test_only_names_can_be_subtracted_and_only_policies_added() -> None:
    with pytest.raises(TypeError, match="argument name"):
        INPUTS - 3  # type: ignore[operator]
    with pytest.raises(TypeError):
        INPUTS + "client"  # type: ignore[operator]


# --- task identity ----------------------------------------------------------------------------


@pytest.mark.parametrize("policy", EVERY_POLICY, ids=repr)
def test_two_tasks_with_equal_arguments_never_share_a_key(policy: CachePolicy) -> None:
    arguments = {"client": None, "url": "u", "page": 1, "flow_parameters": {"day": 1}}
    assert key(policy, fn=fetch, **arguments) != key(policy, fn=store, **arguments)
    # Same function object, different identity: identity alone keeps them apart.
    assert key(policy, task_key="a.f", **arguments) != key(policy, task_key="b.f", **arguments)


# --- values -----------------------------------------------------------------------------------


@dataclass
class Point:
    x: float
    tags: set[str]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (1, 1.0),
        (1, True),
        (1, "1"),
        (0.1, 0.30000000000000004 - 0.2),
        ((1, 2), [1, 2]),
        ({"a": 1}, {"a": 1.0}),
        ({1: "a"}, {"1": "a"}),
        ({1, 2}, frozenset({1, 2})),
        (None, "None"),
        (b"x", "x"),
        (Point(1.0, set()), {"x": 1.0, "tags": set()}),
    ],
    ids=lambda value: type(value).__name__,
)
def test_different_values_give_different_keys(one: Any, other: Any) -> None:
    assert key(INPUTS, value=one) != key(INPUTS, value=other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}),
        ({1: "a", (2, 3): "b"}, {(2, 3): "b", 1: "a"}),
        ({"z", "a", "m"}, {"m", "z", "a"}),
        (float("nan"), float("nan")),
        (Point(1.0, {"b", "a"}), Point(1.0, {"a", "b"})),
        (10**5000, 10**5000),
    ],
    ids=lambda value: type(value).__name__,
)
def test_equal_values_give_equal_keys(one: Any, other: Any) -> None:
    assert key(INPUTS, value=one) == key(INPUTS, value=other)


STABILITY_SCRIPT = textwrap.dedent(
    """
    import enum, json, sys
    from dataclasses import dataclass
    from runnel.cache_policies import INPUTS, CacheContext

    @dataclass
    class Config:
        name: str
        tags: set
        limits: dict

    class Client:
        def __init__(self):
            self.base = "https://example.com"
            self.retries = (1, 2.5)

    class Colour(enum.Enum):
        RED = "red"

    def f(value): ...

    def key(value):
        ctx = CacheContext("jobs.f", "f", f, None, None, {"value": value})
        return INPUTS.compute_key(ctx)

    values = {
        "int": 42, "str": "héllo", "float": 0.1, "big": 2**200,
        "dict": {"b": 1, "a": 2}, "dict_reordered": {"a": 2, "b": 1},
        "tuple": (1, 2), "list": [1, 2], "set": {"x", "y", "zz", "w"},
        "nested": {"rows": [{"id": 1, "tags": ("a", "b")}, None], "ok": True},
        "int_keys": {3: "c", 1: "a"},
        "dataclass": Config("c", {"p", "q", "r"}, {"cpu": 2}),
        "custom": Client(),
        "enum": Colour.RED,
        "lambda": lambda x: x + 1,
        "bytes": b"abc",
    }
    json.dump({name: key(value) for name, value in values.items()}, sys.stdout)
    """
)


def _keys_in_a_fresh_interpreter(hashseed: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    done = subprocess.run(
        [sys.executable, "-c", STABILITY_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    keys: dict[str, str] = json.loads(done.stdout)
    return keys


def test_keys_are_stable_across_interpreters_and_hash_seeds() -> None:
    first = _keys_in_a_fresh_interpreter("1")
    second = _keys_in_a_fresh_interpreter("4242")
    assert first == second
    assert first["dict"] == first["dict_reordered"]
    assert first["tuple"] != first["list"]
    assert len(set(first.values()) - {first["dict"]}) == len(first) - 2


# --- unhashable arguments ---------------------------------------------------------------------


def _numbers() -> Any:
    yield 1


@pytest.mark.parametrize(
    "unhashable", [threading.Lock(), _numbers(), [1, threading.Lock()]], ids=repr
)
def test_an_unhashable_argument_is_named_and_can_be_left_out(unhashable: Any) -> None:
    with pytest.raises(UnhashableInput) as raised:
        key(DEFAULT, lock=unhashable, url="a")
    error = raised.value
    assert error.argument == "lock" and not error.flow_parameter
    assert "'lock'" in str(error) and "'fetch'" in str(error)
    assert "INPUTS - 'lock'" in str(error) and "cache_key_fn" in str(error)
    assert key(INPUTS - "lock", lock=unhashable, url="a") == key(INPUTS, url="a")
    assert key(DEFAULT - "lock", lock=unhashable, url="a") is not None


def test_an_unhashable_flow_parameter_is_named() -> None:
    with pytest.raises(UnhashableInput) as raised:
        key(FLOW_PARAMETERS, flow_parameters={"day": 1, "pool": threading.Lock()})
    assert raised.value.argument == "pool" and raised.value.flow_parameter
    assert "flow parameter 'pool'" in str(raised.value)


def test_the_error_survives_pickling() -> None:
    error = UnhashableInput("lock", "cannot pickle", "fetch")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.argument, str(copy)) == ("lock", str(error))


# --- cache_key_fn -----------------------------------------------------------------------------


def test_cache_key_fn_gets_the_context_and_arguments() -> None:
    seen: list[tuple[CacheContext, dict[str, Any]]] = []

    def by_url(ctx: CacheContext, arguments: dict[str, Any]) -> str:
        seen.append((ctx, arguments))
        return str(arguments["url"])

    policy = from_key_fn(by_url)
    assert key(policy, url="a", page=1) == key(policy, url="a", page=2)
    assert key(policy, url="a") != key(policy, url="b")
    assert seen[0][0].task_name == "fetch" and seen[0][1] == {"url": "a", "page": 1}
    assert CachePolicy.from_cache_key_fn(by_url) == policy


def test_cache_key_fn_returning_none_means_no_caching() -> None:
    policy = from_key_fn(lambda ctx, arguments: None)
    assert key(policy, url="a") is None
    assert key(policy + INPUTS, url="a") is None


def test_cache_key_fn_composes_with_other_policies() -> None:
    policy = from_key_fn(constant_key) + RUN_ID
    assert key(policy, run_id="1") != key(policy, run_id="2")
    assert key(policy, run_id="1") != key(from_key_fn(constant_key), run_id="1")


def test_cache_key_fn_must_return_a_string() -> None:
    def numeric(ctx: CacheContext, arguments: dict[str, Any]) -> Any:
        return 3

    with pytest.raises(TypeError, match="return a str"):
        key(from_key_fn(numeric), url="a")


# --- task source ------------------------------------------------------------------------------


def _compiled(source: str) -> Callable[..., Any]:
    """A function whose source inspect cannot find, as in ``python -c``."""
    namespace: dict[str, Any] = {"__name__": "jobs"}
    exec(compile(textwrap.dedent(source), "<cache-test>", "exec"), namespace)
    fn: Callable[..., Any] = namespace["work"]
    return fn


def test_task_source_changes_when_the_source_changes() -> None:
    old = _compiled("def work(x):\n    return x + 1\n")
    new = _compiled("def work(x):\n    return x + 2\n")
    renamed_call = _compiled("def work(x):\n    return y(x)\n")
    other_call = _compiled("def work(x):\n    return z(x)\n")
    same = _compiled("def work(x):\n    return x + 1\n")

    def source_key(fn: Callable[..., Any]) -> str | None:
        return TASK_SOURCE.compute_key(context(fn, task_key="jobs.work"))

    assert source_key(old) != source_key(new)
    assert source_key(renamed_call) != source_key(other_call)
    assert source_key(old) == source_key(same)
