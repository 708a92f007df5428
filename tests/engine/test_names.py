"""Run names: ``adjective-animal`` flow runs, ``task-xyz`` task runs unique within a flow run."""

from __future__ import annotations

import random
import re

from runnel import flow, task
from runnel.context import current_flow_run
from runnel.names import ADJECTIVES, ANIMALS, TaskRunNamer, flow_run_name
from runnel.store import Store

FLOW_RUN_NAME = re.compile(r"^[a-z]+-[a-z]+$")


def test_flow_run_names_are_adjective_animal() -> None:
    rng = random.Random(5)
    for _ in range(500):
        name = flow_run_name(rng)
        assert FLOW_RUN_NAME.match(name), name
        adjective, animal = name.split("-")
        assert adjective in ADJECTIVES and animal in ANIMALS


def test_word_lists_fit_the_pattern() -> None:
    assert all(re.fullmatch(r"[a-z]+", word) for word in ADJECTIVES + ANIMALS)
    assert len(set(ADJECTIVES)) == len(ADJECTIVES) and len(set(ANIMALS)) == len(ANIMALS)


def test_real_flow_runs_get_such_names(store: Store) -> None:
    seen: list[str] = []

    @flow
    def my_flow() -> None:
        run = current_flow_run()
        assert run is not None
        seen.append(run.name)

    for _ in range(20):
        my_flow()
    assert all(FLOW_RUN_NAME.match(name) for name in seen), seen
    assert sorted(r.name for r in store.list_flow_runs(limit=100)) == sorted(seen)
    assert len(set(seen)) > 1


def test_flow_run_name_option(store: Store) -> None:
    @flow(flow_run_name="report-{day}")
    def report(day: str) -> None:
        pass

    report("monday")
    assert [r.name for r in store.list_flow_runs()] == ["report-monday"]


def test_task_run_names_in_a_flow(store: Store) -> None:
    @task
    def fetch_stats(i: int) -> int:
        return i

    @task
    def other() -> None:
        pass

    @flow
    def my_flow() -> None:
        for i in range(10):
            fetch_stats(i)
        other()

    my_flow()
    (flow_run,) = store.list_flow_runs()
    names = [r.name for r in store.list_task_runs(flow_run.id)]
    assert len(names) == 11
    assert all(re.fullmatch(r"fetch_stats-[0-9a-f]{3,}", n) for n in names[:10]), names
    assert re.fullmatch(r"other-[0-9a-f]{3,}", names[10])
    assert len(set(names)) == 11


def test_task_run_name_option(store: Store) -> None:
    @task(task_run_name="fetch-{repo}")
    def fetch(repo: str) -> None:
        pass

    fetch("runnel")
    assert [r.name for r in store.list_task_runs()] == ["fetch-runnel"]


def test_5000_calls_of_one_task_in_a_flow_have_unique_names(store: Store) -> None:
    @task
    def step(i: int) -> int:
        return i

    @flow
    def many() -> None:
        for i in range(5_000):
            step(i)

    many()
    (flow_run,) = store.list_flow_runs()
    names = [r.name for r in store.list_task_runs(flow_run.id)]
    assert len(names) == 5_000
    assert len(set(names)) == 5_000
    assert all(re.fullmatch(r"step-[0-9a-f]{3,}", n) for n in names)


def test_namer_stays_unique_past_4096_and_widens() -> None:
    namer = TaskRunNamer(random.Random(11))
    names = [namer.next_name("fetch_stats") for _ in range(70_000)]
    assert len(set(names)) == 70_000
    suffixes = [n.removeprefix("fetch_stats-") for n in names]
    assert all(re.fullmatch(r"[0-9a-f]+", s) for s in suffixes)
    assert {len(s) for s in suffixes[:4096]} == {3}
    assert {len(s) for s in suffixes[4096 : 4096 + 65536]} == {4}
    assert {len(s) for s in suffixes[4096 + 65536 :]} == {5}


def test_namer_counts_each_task_separately() -> None:
    namer = TaskRunNamer(random.Random(1))
    for _ in range(5_000):
        namer.next_name("a")
    assert len(namer.next_name("b").removeprefix("b-")) == 3


def test_each_flow_run_names_its_tasks_afresh(store: Store) -> None:
    @task
    def step() -> None:
        pass

    @flow
    def my_flow() -> None:
        step()

    my_flow()
    my_flow()
    for flow_run in store.list_flow_runs():
        (task_run,) = store.list_task_runs(flow_run.id)
        assert re.fullmatch(r"step-[0-9a-f]{3}", task_run.name)


def test_run_ids_are_uuids_and_task_run_ids_grow_with_time() -> None:
    import time
    import uuid

    from runnel.runs import new_id, new_ordered_id

    flow_ids = {new_id() for _ in range(2000)}
    assert len(flow_ids) == 2000
    assert all(
        uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 for i in flow_ids
    )
    before = time.time_ns() // 1_000_000
    ordered = [new_ordered_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ordered)) == 2000
    for text in ordered:
        value = uuid.UUID(text)
        assert str(value) == text and value.version == 7 and value.variant == uuid.RFC_4122
        assert before <= value.int >> 80 <= after  # its first 48 bits: the time in milliseconds
