"""The contract every ``Store`` keeps, run against SQLite and PostgreSQL with real writes."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from runnel.exceptions import NotARunnelDatabase, StoreError
from runnel.store.base import (
    FLOW_RUN_COLUMNS,
    LOG_COLUMNS,
    STATE_COLUMNS,
    TASK_RUN_COLUMNS,
    Batch,
    FlowRunRecord,
    LogRecord,
    StateRecord,
    Store,
    TaskRunRecord,
)
from runnel.store.migrations import LATEST, VERSION_TABLE
from runnel.store.sql import SqlStore
from runnel.store.sqlite import SQLiteStore

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens stores on one fresh database (each call a new store); closes them all after."""
    if request.param == "sqlite":
        path = tmp_path / "history" / "runnel.db"

        def opener() -> Store:
            return SQLiteStore(path)
    else:
        url = request.getfixturevalue("postgres_url")
        from runnel.store.postgres import PostgresStore

        def opener() -> Store:
            return PostgresStore(url)

    opened: list[Store] = []

    def open_one() -> Store:
        store = opener()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Opener) -> Store:
    return open_store()


def new_id(prefix: str = "") -> str:
    return prefix + str(uuid.uuid4())[len(prefix) :]


def flow_run(**values: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = dict(
        id=new_id(),
        name="laughing-nightingale",
        flow_name="etl",
        parent_task_run_id=None,
        state_type="RUNNING",
        state_name="Running",
        state_message=None,
        state_seq=2,
        parameters='{"n": 3}',
        tags='["nightly"]',
        run_count=1,
        created=1000.25,
        start_time=1000.5,
        end_time=None,
        heartbeat=1000.75,
        hostname="box",
        pid=4242,
    )
    row.update(values)
    return tuple(row[column] for column in FLOW_RUN_COLUMNS)


def task_run(flow_run_id: str | None, **values: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = dict(
        id=new_id(),
        flow_run_id=flow_run_id,
        name="fetch-0c9",
        task_name="fetch",
        task_key="mod.fetch",
        state_type="RUNNING",
        state_name="Running",
        state_message=None,
        state_seq=2,
        tags=None,
        run_count=1,
        created=1001.0,
        start_time=1001.125,
        end_time=None,
        heartbeat=1001.5,
        hostname="box",
        pid=4242,
        runner="ThreadPoolTaskRunner",
        cache_key=None,
        cache_saved_seconds=None,
    )
    row.update(values)
    return tuple(row[column] for column in TASK_RUN_COLUMNS)


def state(run_id: str, seq: int, type_: str = "RUNNING", **values: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = dict(
        run_id=run_id,
        seq=seq,
        type=type_,
        name=type_.title(),
        message=None,
        timestamp=1000.0 + seq,
    )
    row.update(values)
    return tuple(row[column] for column in STATE_COLUMNS)


def log(flow_run_id: str, seq: int, timestamp: float, **values: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = dict(
        flow_run_id=flow_run_id,
        task_run_id=None,
        seq=seq,
        level=20,
        logger="runnel.flow_runs",
        message=f"line {seq}",
        timestamp=timestamp,
    )
    row.update(values)
    return tuple(row[column] for column in LOG_COLUMNS)


def applied_versions(store: Store) -> list[int]:
    assert isinstance(store, SqlStore)
    with store._transaction(write=False) as cur:
        cur.execute(f"SELECT version FROM {VERSION_TABLE} ORDER BY version")
        return [row[0] for row in cur.fetchall()]


# -- writes and reads ---------------------------------------------------------------------


def test_a_batch_round_trips_every_field_and_type(store: Store) -> None:
    flow = flow_run(state_message="all good", end_time=1002.0)
    task = task_run(flow[0], tags='["io"]', state_message=None, end_time=None, pid=None)
    states = [state(flow[0], 1, "PENDING", message="queued"), state(flow[0], 2, "RUNNING")]
    logs = [log(flow[0], 1, 1000.5, task_run_id=task[0], level=40, message="boom 100%")]
    store.write(Batch(flow_runs=[flow], task_runs=[task], states=states, logs=logs))

    read_flow = store.read_flow_run(flow[0])
    assert read_flow == FlowRunRecord(*flow)
    assert store.read_task_run(task[0]) == TaskRunRecord(*task)
    assert store.list_states(flow[0]) == [StateRecord(*row) for row in states]
    assert store.list_logs(flow[0]) == [LogRecord(*row) for row in logs]

    assert read_flow is not None
    assert type(read_flow.created) is float and type(read_flow.heartbeat) is float
    assert type(read_flow.run_count) is int and type(read_flow.pid) is int
    assert type(read_flow.state_seq) is int
    assert read_flow.parent_task_run_id is None
    read_log = store.list_logs(flow[0])[0]
    assert type(read_log.seq) is int and type(read_log.level) is int
    assert type(read_log.timestamp) is float


def test_whole_seconds_in_time_columns_read_back_as_floats(store: Store) -> None:
    flow = flow_run(created=1000, start_time=1001, heartbeat=1002)
    store.write(Batch(flow_runs=[flow], states=[state(flow[0], 1, timestamp=1000)]))
    record = store.read_flow_run(flow[0])
    assert record is not None
    assert (record.created, record.start_time, record.heartbeat) == (1000.0, 1001.0, 1002.0)
    assert type(record.created) is float and type(record.start_time) is float
    assert type(store.list_states(flow[0])[0].timestamp) is float


def test_an_empty_batch_writes_nothing(store: Store) -> None:
    store.write(Batch())
    assert store.list_flow_runs() == []


def test_upserting_a_run_updates_its_state_but_keeps_created(store: Store) -> None:
    flow = flow_run(created=1000.0)
    task = task_run(flow[0], created=1000.5)
    store.write(Batch(flow_runs=[flow], task_runs=[task]))
    finished_flow = flow_run(
        id=flow[0],
        created=2000.0,
        state_type="COMPLETED",
        state_name="Completed",
        state_message="done",
        state_seq=5,
        run_count=2,
        end_time=1005.0,
    )
    finished_task = task_run(
        flow[0],
        id=task[0],
        created=2000.0,
        state_type="FAILED",
        state_name="Failed",
        state_message="ValueError: nope",
        state_seq=3,
        end_time=1004.0,
    )
    store.write(Batch(flow_runs=[finished_flow], task_runs=[finished_task]))

    record = store.read_flow_run(flow[0])
    assert record is not None
    assert (record.state_type, record.state_name, record.state_message) == (
        "COMPLETED",
        "Completed",
        "done",
    )
    assert (record.run_count, record.end_time, record.created) == (2, 1005.0, 1000.0)
    assert record.state_seq == 5
    task_record = store.read_task_run(task[0])
    assert task_record is not None
    assert (task_record.state_type, task_record.state_message) == ("FAILED", "ValueError: nope")
    assert (task_record.created, task_record.state_seq) == (1000.5, 3)
    assert len(store.list_flow_runs()) == 1


def test_a_run_row_of_an_older_state_written_late_is_skipped(store: Store) -> None:
    # A run submitted in one process and run in another: the runner's recorder can commit
    # the run's Completed row before the submitter's recorder commits its Pending row.
    flow = flow_run(state_seq=4, state_type="COMPLETED", state_name="Completed", end_time=9.0)
    task = task_run(flow[0], state_seq=3, state_type="COMPLETED", state_name="Completed")
    store.write(Batch(flow_runs=[flow], task_runs=[task]))
    stale_flow = flow_run(id=flow[0], state_seq=2, state_type="RUNNING", end_time=None)
    stale_task = task_run(
        flow[0], id=task[0], state_seq=1, state_type="PENDING", state_name="Pending", pid=1
    )
    newcomer = task_run(flow[0], state_seq=1, state_type="PENDING", state_name="Pending")
    store.write(Batch(flow_runs=[stale_flow], task_runs=[stale_task, newcomer]))
    assert store.read_flow_run(flow[0]) == FlowRunRecord(*flow)
    assert store.read_task_run(task[0]) == TaskRunRecord(*task)
    assert store.read_task_run(newcomer[0]) == TaskRunRecord(*newcomer)  # others still land

    same_state_again = task_run(
        flow[0], id=task[0], state_seq=3, state_type="COMPLETED", state_name="Completed", pid=7
    )
    store.write(Batch(task_runs=[same_state_again]))
    assert store.read_task_run(task[0]) == TaskRunRecord(*same_state_again)


def test_a_state_written_twice_is_kept_once(store: Store) -> None:
    run_id = new_id()
    store.write(Batch(states=[state(run_id, 1, message="first"), state(run_id, 2)]))
    store.write(Batch(states=[state(run_id, 1, message="again"), state(run_id, 3)]))
    states = store.list_states(run_id)
    assert [s.seq for s in states] == [1, 2, 3]
    assert states[0].message == "first"


def test_states_come_back_in_sequence_order_for_their_run_only(store: Store) -> None:
    run_id, other = new_id(), new_id()
    store.write(
        Batch(states=[state(run_id, 3), state(other, 1), state(run_id, 1), state(run_id, 2)])
    )
    assert [s.seq for s in store.list_states(run_id)] == [1, 2, 3]
    assert store.list_states(new_id()) == []


def test_a_finished_task_run_without_state_rows_has_its_states_read_from_its_row(
    store: Store,
) -> None:
    ran, hit, waiting, unfinished = new_id(), new_id(), new_id(), new_id()
    store.write(
        Batch(
            task_runs=[
                task_run(
                    None,
                    id=ran,
                    state_type="FAILED",
                    state_name="Failed",
                    state_message="boom",
                    state_seq=3,
                    created=1001.0,
                    start_time=1001.125,
                    end_time=1001.5,
                ),
                task_run(
                    None,
                    id=hit,
                    state_type="COMPLETED",
                    state_name="Cached",
                    state_seq=2,
                    created=1002.0,
                    start_time=None,
                    end_time=1002.25,
                ),
                task_run(None, id=waiting, state_seq=3, end_time=1003.0),
                task_run(None, id=unfinished, state_seq=2, end_time=None),
            ],
            states=[state(waiting, 1, "PENDING"), state(waiting, 2, "SCHEDULED")],
        )
    )
    assert store.list_states(ran) == [
        StateRecord(ran, 1, "PENDING", "Pending", None, 1001.0),
        StateRecord(ran, 2, "RUNNING", "Running", None, 1001.125),
        StateRecord(ran, 3, "FAILED", "Failed", "boom", 1001.5),
    ]
    assert store.list_states(hit) == [
        StateRecord(hit, 1, "PENDING", "Pending", None, 1002.0),
        StateRecord(hit, 2, "COMPLETED", "Cached", None, 1002.25),
    ]
    # Runs with state rows keep them; an unfinished run without rows has nothing to tell.
    assert [s.type for s in store.list_states(waiting)] == ["PENDING", "SCHEDULED"]
    assert store.list_states(unfinished) == []


# -- flow runs ----------------------------------------------------------------------------


def test_flow_runs_are_listed_newest_first_with_limit_and_flow_filter(store: Store) -> None:
    rows = [
        flow_run(name="old-etl", flow_name="etl", created=100.0),
        flow_run(name="new-report", flow_name="report", created=300.0),
        flow_run(name="mid-etl", flow_name="etl", created=200.0),
    ]
    store.write(Batch(flow_runs=rows))
    assert [r.name for r in store.list_flow_runs()] == ["new-report", "mid-etl", "old-etl"]
    assert [r.name for r in store.list_flow_runs(limit=2)] == ["new-report", "mid-etl"]
    assert [r.name for r in store.list_flow_runs(flow_name="etl")] == ["mid-etl", "old-etl"]
    assert [r.name for r in store.list_flow_runs(limit=1, flow_name="etl")] == ["mid-etl"]
    assert store.list_flow_runs(flow_name="nothing") == []


def test_a_flow_run_is_found_by_id_prefix_or_name(store: Store) -> None:
    first = flow_run(id=new_id("abcd1"), name="brave-otter", created=100.0)
    second = flow_run(id=new_id("abcd2"), name="brave-otter", created=200.0)
    other = flow_run(id=new_id("9f0e"), name="calm-heron", created=150.0)
    store.write(Batch(flow_runs=[first, second, other]))

    def found(key: str) -> str | None:
        record = store.read_flow_run(key)
        return None if record is None else record.id

    assert found(first[0]) == first[0]
    assert found("abcd1") == first[0]
    assert found(other[0][:8]) == other[0]
    assert found("abcd") is None  # two runs share this prefix
    assert found("9f0") is None  # too short to be taken as a prefix
    assert found("brave-otter") == second[0]  # the newest of that name
    assert found("calm-heron") == other[0]
    assert found(new_id()) is None
    assert found("no-such-run") is None


# -- task runs ----------------------------------------------------------------------------


def test_task_runs_of_a_flow_run_come_in_creation_order(store: Store) -> None:
    flow, other = flow_run(), flow_run()
    rows = [
        task_run(flow[0], name="c", created=30.0),
        task_run(flow[0], name="a", created=10.0),
        task_run(other[0], name="x", created=5.0),
        task_run(flow[0], name="b", created=20.0),
    ]
    store.write(Batch(flow_runs=[flow, other], task_runs=rows))
    assert [t.name for t in store.list_task_runs(flow[0])] == ["a", "b", "c"]
    assert [t.name for t in store.list_task_runs(flow[0], limit=2)] == ["a", "b"]
    assert [t.name for t in store.list_task_runs(other[0])] == ["x"]
    assert store.list_task_runs(new_id()) == []


def test_without_a_flow_run_the_newest_task_runs_of_any_come_first(store: Store) -> None:
    flow = flow_run()
    rows = [
        task_run(flow[0], name="a", created=10.0),
        task_run(None, name="standalone", created=40.0),
        task_run(flow[0], name="b", created=20.0),
    ]
    store.write(Batch(flow_runs=[flow], task_runs=rows))
    assert [t.name for t in store.list_task_runs()] == ["standalone", "b", "a"]
    assert [t.name for t in store.list_task_runs(limit=2)] == ["standalone", "b"]
    assert store.read_task_run(new_id()) is None


# -- logs ---------------------------------------------------------------------------------


def test_logs_come_oldest_first_by_timestamp_then_sequence(store: Store) -> None:
    flow, other = flow_run(), flow_run()
    task = task_run(flow[0])
    rows = [
        log(flow[0], 4, 20.0),
        log(flow[0], 2, 10.0, task_run_id=task[0], logger="runnel.task_runs"),
        log(other[0], 1, 5.0),
        log(flow[0], 1, 10.0),
        log(flow[0], 3, 15.0),
    ]
    store.write(Batch(flow_runs=[flow, other], task_runs=[task], logs=rows))
    assert [entry.seq for entry in store.list_logs(flow[0])] == [1, 2, 3, 4]
    assert [entry.seq for entry in store.list_logs(flow[0], limit=2)] == [1, 2]
    assert store.list_logs(flow[0])[1].task_run_id == task[0]
    assert [entry.seq for entry in store.list_logs(other[0])] == [1]
    assert store.list_logs(new_id()) == []


# -- heartbeats and crashes ---------------------------------------------------------------


def test_heartbeat_marks_runs_alive(store: Store) -> None:
    flow = flow_run(heartbeat=None)
    task, untouched = task_run(flow[0]), task_run(flow[0])
    store.write(Batch(flow_runs=[flow], task_runs=[task, untouched]))
    store.heartbeat([flow[0]], [task[0]], at=5000.5)
    store.heartbeat([], [], at=6000.0)

    def beat(record: FlowRunRecord | TaskRunRecord | None) -> float | None:
        assert record is not None
        return record.heartbeat

    assert beat(store.read_flow_run(flow[0])) == 5000.5
    assert beat(store.read_task_run(task[0])) == 5000.5
    assert beat(store.read_task_run(untouched[0])) == 1001.5


def test_reap_crashed_moves_only_stale_unfinished_runs(store: Store) -> None:
    now, expiry = 10_000.0, 60.0
    stale, fresh = 9_000.0, 9_990.0
    dead = flow_run(name="dead", heartbeat=stale)
    never_beat = flow_run(
        name="never-beat", state_type="PENDING", state_name="Pending", heartbeat=None, created=stale
    )
    alive = flow_run(name="alive", heartbeat=fresh)
    done = flow_run(name="done", state_type="COMPLETED", state_name="Completed", heartbeat=stale)
    dead_running = task_run(dead[0], heartbeat=fresh)
    dead_pending = task_run(dead[0], state_type="PENDING", state_name="Pending", heartbeat=None)
    dead_finished = task_run(
        dead[0], state_type="COMPLETED", state_name="Completed", heartbeat=stale
    )
    alive_task = task_run(alive[0], heartbeat=stale)
    lone_dead = task_run(None, heartbeat=stale)
    lone_alive = task_run(None, heartbeat=fresh)
    lone_done = task_run(None, state_type="FAILED", state_name="Failed", heartbeat=stale)
    store.write(
        Batch(
            flow_runs=[dead, never_beat, alive, done],
            task_runs=[
                dead_running,
                dead_pending,
                dead_finished,
                alive_task,
                lone_dead,
                lone_alive,
                lone_done,
            ],
            states=[state(dead[0], 1, "PENDING"), state(dead[0], 2, "RUNNING")],
        )
    )

    assert store.reap_crashed(now, expiry) == 5
    assert store.reap_crashed(now, expiry) == 0

    def state_of(record: FlowRunRecord | TaskRunRecord | None) -> str:
        assert record is not None
        return record.state_type

    for row in (dead, never_beat):
        record = store.read_flow_run(row[0])
        assert record is not None
        assert (record.state_type, record.state_name, record.end_time) == (
            "CRASHED",
            "Crashed",
            now,
        )
        assert record.state_message
    for row in (dead_running, dead_pending, lone_dead):
        assert state_of(store.read_task_run(row[0])) == "CRASHED"
    assert state_of(store.read_flow_run(alive[0])) == "RUNNING"
    assert state_of(store.read_flow_run(done[0])) == "COMPLETED"
    for row in (alive_task, lone_alive):
        assert state_of(store.read_task_run(row[0])) == "RUNNING"
    assert state_of(store.read_task_run(dead_finished[0])) == "COMPLETED"
    assert state_of(store.read_task_run(lone_done[0])) == "FAILED"

    dead_states = store.list_states(dead[0])
    assert [(s.seq, s.type) for s in dead_states] == [
        (1, "PENDING"),
        (2, "RUNNING"),
        (3, "CRASHED"),
    ]
    assert dead_states[-1].timestamp == now and dead_states[-1].name == "Crashed"
    dead_record = store.read_flow_run(dead[0])
    assert dead_record is not None and dead_record.state_seq == 3
    lone_record = store.read_task_run(lone_dead[0])
    # Its row had seen state 2 though no state rows were written: the crash comes after.
    assert lone_record is not None and lone_record.state_seq == 3
    late = flow_run(id=dead[0], state_seq=2, heartbeat=now)  # the dead process's last write
    store.write(Batch(flow_runs=[late]))
    assert state_of(store.read_flow_run(dead[0])) == "CRASHED"
    assert [(s.seq, s.type) for s in store.list_states(lone_dead[0])] == [(3, "CRASHED")]
    assert store.list_states(alive[0]) == []


# -- schema -------------------------------------------------------------------------------


def test_a_new_database_is_at_the_latest_schema(store: Store) -> None:
    assert store.schema_version() == LATEST
    assert applied_versions(store) == list(range(1, LATEST + 1))


def test_the_same_database_opened_concurrently_migrates_once(open_store: Opener) -> None:
    start = threading.Barrier(2)

    def open_when_both_ready() -> Store:
        start.wait(timeout=30)
        return open_store()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = (f.result() for f in [pool.submit(open_when_both_ready) for _ in "ab"])
    third = open_store()
    for store in (first, second, third):
        assert store.schema_version() == LATEST
    assert applied_versions(third) == list(range(1, LATEST + 1))
    row = flow_run()
    first.write(Batch(flow_runs=[row]))
    assert second.read_flow_run(row[0]) == FlowRunRecord(*row)


def test_a_database_from_a_newer_runnel_is_refused(open_store: Opener) -> None:
    store = open_store()
    assert isinstance(store, SqlStore)
    with store._transaction(write=True) as cur:
        cur.execute(
            f"INSERT INTO {VERSION_TABLE} (version, applied) VALUES (?, ?)", (LATEST + 1, 0.0)
        )
    with pytest.raises(NotARunnelDatabase, match="upgrade runnel") as raised:
        open_store()
    assert store.location in str(raised.value)


# -- SQLite files that are not ours -------------------------------------------------------


def test_a_file_of_garbage_is_not_a_runnel_database(tmp_path: Path) -> None:
    path = tmp_path / "runnel.db"
    path.write_bytes(b"this is not a database\x00\xff" * 100)
    with pytest.raises(NotARunnelDatabase) as raised:
        SQLiteStore(path)
    assert str(path) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_sqlite_file_of_another_application_is_not_a_runnel_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(NotARunnelDatabase, match="customers") as raised:
        SQLiteStore(path)
    assert str(path) in str(raised.value)


# -- PostgreSQL ---------------------------------------------------------------------------


def test_an_unreachable_postgres_is_a_one_line_store_error_without_password() -> None:
    pytest.importorskip("psycopg")
    from runnel.store.postgres import PostgresStore

    with pytest.raises(StoreError) as raised:
        PostgresStore("postgresql://runnel:secret@127.0.0.1:1/runnel")
    message = str(raised.value)
    assert "secret" not in message
    assert "postgresql://runnel@127.0.0.1:1/runnel" in message
    assert "\n" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.postgres
def test_a_postgres_schema_shared_with_other_tables_is_fine_unless_they_clash(
    postgres_url: str,
) -> None:
    import psycopg

    from runnel.store.postgres import PostgresStore

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    store = PostgresStore(postgres_url)
    store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE {VERSION_TABLE}")
    with pytest.raises(NotARunnelDatabase, match="flow_runs"):
        PostgresStore(postgres_url)


@pytest.mark.postgres
def test_a_lost_postgres_connection_is_reopened(postgres_url: str) -> None:
    import psycopg

    from runnel.store.postgres import PostgresStore

    store = PostgresStore(postgres_url)
    try:
        row = flow_run()
        store.write(Batch(flow_runs=[row]))
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (store._conn.info.backend_pid,))
        assert store.read_flow_run(row[0]) == FlowRunRecord(*row)
    finally:
        store.close()


def test_cache_hits_count_cached_task_runs_by_key(store: Store) -> None:
    run = flow_run()
    flow_id = run[0]
    rows = [
        task_run(
            flow_id,
            state_type="COMPLETED",
            state_name="Completed",
            cache_key="k1",
            cache_saved_seconds=None,
        ),
        task_run(
            flow_id,
            state_type="COMPLETED",
            state_name="Cached",
            cache_key="k1",
            cache_saved_seconds=1.5,
        ),
        task_run(
            flow_id,
            state_type="COMPLETED",
            state_name="Cached",
            cache_key="k1",
            cache_saved_seconds=1.5,
        ),
        task_run(
            flow_id,
            state_type="COMPLETED",
            state_name="Cached",
            cache_key="k2",
            cache_saved_seconds=0.25,
        ),
        task_run(flow_id),
    ]
    store.write(Batch(flow_runs=[run], task_runs=rows))
    assert store.cache_hits() == {"k1": 2, "k2": 1}
    saved = [t.cache_saved_seconds for t in store.list_task_runs(flow_id)]
    assert sorted(s for s in saved if s is not None) == [0.25, 1.5, 1.5]


# -- database errors ----------------------------------------------------------------------


def _execute_elsewhere(store: Store, statement: str) -> None:
    """Run ``statement`` on the store's database through a connection of its own."""
    if isinstance(store, SQLiteStore):
        with contextlib.closing(sqlite3.connect(store.path, isolation_level=None)) as conn:
            conn.execute(statement)
        return
    import psycopg

    with psycopg.connect(store._url, autocommit=True) as pg:  # type: ignore[attr-defined]
        pg.execute(statement)


def test_a_database_error_is_a_store_error_naming_the_database(store: Store) -> None:
    flow = flow_run()
    store.write(Batch(flow_runs=[flow]))
    _execute_elsewhere(store, "DROP TABLE logs")  # what a hand-made change might do
    with pytest.raises(StoreError) as raised:
        store.write(Batch(logs=[log(flow[0], 1, 1000.0)]))
    message = str(raised.value)
    assert store.location in message and "RUNNEL_DATABASE_URL" in message
    assert "\n" not in message
    assert isinstance(raised.value.__cause__, sqlite3.Error | _psycopg_error())
    assert "logs" in str(raised.value.__cause__)
    with pytest.raises(StoreError):
        store.list_logs(flow[0])
    assert store.read_flow_run(flow[0]) == FlowRunRecord(*flow)  # rolled back: still usable


def _psycopg_error() -> type[Exception]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - only without the postgres extra
        return sqlite3.Error
    return psycopg.Error


def test_a_task_runs_closing_line_is_read_back_from_its_row(store: Store) -> None:
    """The engine does not store ``Finished in state ...`` of a task run: its row tells it."""
    flow = flow_run(end_time=1010.0)
    done = task_run(flow[0], state_type="COMPLETED", state_name="Cached", end_time=1003.5)
    failed = task_run(
        flow[0],
        state_type="FAILED",
        state_name="Failed",
        state_message="it's broken",
        end_time=1004.0,
    )
    running = task_run(flow[0])  # not ended: no closing line yet
    logs = [
        log(flow[0], 7, 1003.0, task_run_id=done[0], logger="runnel.task_runs", message="working"),
        log(
            flow[0],
            8,
            1004.0,
            task_run_id=failed[0],
            logger="runnel.task_runs",
            level=40,
            message="boom",
        ),
        log(flow[0], 9, 1009.0, message="Finished in state Completed()"),  # the flow's: stored
    ]
    store.write(Batch(flow_runs=[flow], task_runs=[done, failed, running], logs=logs))

    lines = store.list_logs(flow[0])
    assert [(line.task_run_id, line.level, line.message, line.timestamp) for line in lines] == [
        (done[0], 20, "working", 1003.0),
        (done[0], 20, "Finished in state Cached(type=COMPLETED)", 1003.5),
        (failed[0], 40, "boom", 1004.0),  # a stored line of the same moment comes first
        (failed[0], 40, 'Finished in state Failed("it\'s broken")', 1004.0),
        (None, 20, "Finished in state Completed()", 1009.0),
    ]
    assert all(line.logger == "runnel.task_runs" for line in lines[:4])
    assert [line.seq for line in lines] == [7, 7, 8, 8, 9]
    assert store.list_logs(flow[0], limit=2) == lines[:2]


def test_a_stored_closing_line_is_not_told_twice(store: Store) -> None:
    """Histories written before closing lines were told by their rows keep theirs, once."""
    flow = flow_run()
    done = task_run(flow[0], state_type="COMPLETED", state_name="Completed", end_time=1003.5)
    closing = log(
        flow[0],
        3,
        1003.5,
        task_run_id=done[0],
        logger="runnel.task_runs",
        message="Finished in state Completed()",
    )
    store.write(Batch(flow_runs=[flow], task_runs=[done], logs=[closing]))
    assert store.list_logs(flow[0]) == [LogRecord(*closing)]


def test_a_reaped_run_gets_no_closing_line(store: Store) -> None:
    """A run the crash reaper ended logged nothing; none is made up for it."""
    flow = flow_run(heartbeat=1000.0)
    stuck = task_run(flow[0], heartbeat=1000.0)
    store.write(Batch(flow_runs=[flow], task_runs=[stuck]))
    assert store.reap_crashed(5000.0, 90.0) == 2
    record = store.read_task_run(stuck[0])
    assert record is not None and record.state_type == "CRASHED" and record.end_time == 5000.0
    assert store.list_logs(flow[0]) == []
