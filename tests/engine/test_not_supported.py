"""Options the API accepts for compatibility but does not build yet say so, clearly."""

from __future__ import annotations

import pytest

from runnel import flow, task
from runnel.exceptions import NotSupportedYet, RunnelError


def plain() -> int:
    return 1


def test_a_cache_policy_that_is_not_one_is_refused_at_decoration() -> None:
    from runnel.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="is not a cache policy"):

        @task(cache_policy="INPUTS")
        def fetch() -> None:
            pass


def test_not_supported_yet_is_a_runnel_error() -> None:
    assert issubclass(NotSupportedYet, RunnelError)


@pytest.mark.parametrize("option", ["persist_result", "result_storage", "result_serializer"])
def test_flow_result_options_not_built_yet(option: str) -> None:
    with pytest.raises(NotSupportedYet, match="not supported yet"):
        flow(**{option: True if option == "persist_result" else "x"})(plain)


def test_with_options_refuses_later_options_too() -> None:
    with pytest.raises(NotSupportedYet):
        flow(plain).with_options(persist_result=True)


def test_flow_task_runner_must_be_a_task_runner() -> None:
    from runnel.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="is not a task runner"):
        flow(plain).with_options(task_runner=object())


def test_unsupported_defaults_are_fine() -> None:
    """Passing the options' neutral values, as generated code often does, is accepted."""
    assert task(cache_key_fn=None, persist_result=None, refresh_cache=False)(plain)() == 1
    assert flow(task_runner=None, persist_result=None)(plain)() == 1
