"""A flow's whole history reaches each database a user can point runnel at."""

from __future__ import annotations

import pytest

from runnel import flow, get_run_logger, task
from runnel.settings import reset_settings
from runnel.store import get_store, reset_store
from runnel.store.recorder import reset_recorder


def _run_pipeline() -> str:
    @task(retries=1)
    def flaky(n: int) -> int:
        if flaky.attempts < 1:  # type: ignore[attr-defined]
            flaky.attempts += 1  # type: ignore[attr-defined]
            raise ValueError("once")
        return n

    flaky.attempts = 0  # type: ignore[attr-defined]

    @flow
    def pipeline(n: int) -> int:
        get_run_logger().info("starting with %d", n)
        return flaky(n) + 1

    state = pipeline("41", return_state=True)
    assert state.result() == 42
    return get_store().list_flow_runs(limit=1)[0].id


def _check_history(flow_run_id: str) -> None:
    store = get_store()
    run = store.read_flow_run(flow_run_id)
    assert run is not None and run.state_type == "COMPLETED"
    assert run.parameters == '{"n": 41}'
    [task_run] = store.list_task_runs(flow_run_id)
    assert task_run.run_count == 2
    assert [s.name for s in store.list_states(task_run.id)] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    messages = [line.message for line in store.list_logs(flow_run_id)]
    assert any("starting with 41" in m for m in messages)
    assert any("Retry 1/1 will start" in m for m in messages)
    assert messages[-1] == "Finished in state Completed()"


def _use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    reset_recorder()
    reset_store()
    monkeypatch.setenv("RUNNEL_DATABASE_URL", url)
    reset_settings()


def test_sqlite_url(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _use_database(monkeypatch, f"sqlite:///{tmp_path / 'elsewhere.db'}")
    _check_history(_run_pipeline())
    assert (tmp_path / "elsewhere.db").exists()


@pytest.mark.postgres
def test_postgresql_url(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> None:
    _use_database(monkeypatch, postgres_url)
    _check_history(_run_pipeline())
