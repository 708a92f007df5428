"""Engine tests run on a FakeClock, so retry delays are asserted exactly and never slept."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from runnel import runtime
from runnel.clock import FakeClock
from runnel.logging.setup import configure_logging
from runnel.store import Store, get_store
from runnel.store.base import FlowRunRecord
from runnel.store.recorder import Recorder


@pytest.fixture(autouse=True)
def clock() -> Iterator[FakeClock]:
    """A FakeClock installed for every run of the test; the previous clock comes back after."""
    fake = FakeClock()
    previous = runtime.use_clock(fake)
    try:
        yield fake
    finally:
        runtime.use_clock(previous)


@pytest.fixture
def store() -> Store:
    """The store this test's runs write to (its own RUNNEL_HOME)."""
    return get_store()


@pytest.fixture
def lazy_recorder() -> Iterator[Recorder]:
    """The real recorder, but one that writes only when flushed (its timer is a minute).

    With it, whatever the store holds right after a run returns was flushed by the run
    itself, not written by chance by the background thread.
    """
    made: list[Recorder] = []

    def factory() -> Recorder:
        recorder = Recorder(get_store(), interval=60.0)
        made.append(recorder)
        return recorder

    installed = runtime.install(sink=factory, configure_logging=configure_logging)
    try:
        yield runtime.get_sink()  # type: ignore[misc]
    finally:
        for recorder in made:
            recorder.close()
        runtime.restore(installed)


@pytest.fixture
def only_flow_run(store: Store) -> Callable[..., FlowRunRecord]:
    """Reads the one flow run in the store (of ``flow_name`` if given); fails if not exactly one."""

    def read(flow_name: str | None = None) -> FlowRunRecord:
        runs = store.list_flow_runs(limit=100, flow_name=flow_name)
        assert len(runs) == 1, runs
        return runs[0]

    return read
