"""The public facade exports exactly what we mean it to."""

from __future__ import annotations

import runnel


def test_all_is_sorted_and_exact() -> None:
    assert runnel.__all__ == sorted(runnel.__all__)
    assert set(runnel.__all__) == {
        "Flow",
        "State",
        "StateType",
        "Task",
        "__version__",
        "flow",
        "get_run_logger",
        "task",
        "unmapped",
    }


def test_every_export_exists() -> None:
    for name in runnel.__all__:
        assert hasattr(runnel, name), name


def test_states_module_exports_named_states() -> None:
    from runnel import states

    for name in (
        "Pending",
        "Running",
        "Completed",
        "Cached",
        "AwaitingRetry",
        "Retrying",
        "Failed",
        "TimedOut",
        "Crashed",
        "Cancelled",
    ):
        assert callable(getattr(states, name)), name
