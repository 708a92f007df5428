"""One implementation of ``Store`` in SQL that SQLite and PostgreSQL share.

A subclass supplies connections and transactions (``_transaction``), how to lock the schema
while migrating, and how to name its placeholders; every query lives here, once.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from itertools import chain
from typing import Any, Protocol

from runnel.exceptions import ConfigurationError, NotARunnelDatabase
from runnel.limits import (
    DEFAULT_LEASE_SECONDS,
    Decision,
    check_occupy,
    current_slots,
    decide,
    is_rate_limit,
    pause_seconds,
    validate_name,
    validate_settings,
)
from runnel.states import StateType
from runnel.store.base import (
    FLOW_RUN_COLUMNS,
    LOG_COLUMNS,
    STATE_COLUMNS,
    TASK_RUN_COLUMNS,
    Acquisition,
    Batch,
    FlowRunRecord,
    LeaseRecord,
    LimitRecord,
    LogRecord,
    StateRecord,
    Store,
    TaskRunRecord,
    states_from_run_row,
    with_closing_lines,
)
from runnel.store.migrations import LATEST, MIGRATIONS, VERSION_TABLE

UNFINISHED = (StateType.PENDING.value, StateType.SCHEDULED.value, StateType.RUNNING.value)
_ID_CHARS = frozenset("0123456789abcdef-")
WAITER_TTL_SECONDS = 2.0
_CRASH_MESSAGE = "Run stopped sending heartbeats; its process died or lost its connection"


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class MultiRowInsert:
    """``INSERT ... VALUES (...), (...), ...`` with many rows a statement.

    One statement for dozens of rows instead of one each: the database does the same work,
    but the Python driver binds in one call and releases the GIL once, not once a row, so
    the recorder thread stops competing with the runs it records. Not hundreds: compiling a
    statement costs SQLite time in proportion to its length (5 ms for 500 task run rows, paid
    again by every new process), so batches go in statements of 64 rows and the rest in 32, 16,
    ..., 1 rows: a few statement shapes, each compiled once and kept by the driver.
    """

    ROWS_PER_STATEMENT = 64

    def __init__(self, table: str, columns: Sequence[str], tail: str = "") -> None:
        self.head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        self.row = "(" + ", ".join("?" for _ in columns) + ")"
        self.tail = tail
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = self.head + ", ".join([self.row] * rows) + self.tail
        return text

    def run(self, cursor: Cursor, rows: Sequence[Sequence[Any]]) -> None:
        start, left, size = 0, len(rows), self.ROWS_PER_STATEMENT
        while left:
            while size > left:
                size //= 2
            cursor.execute(self.sql(size), list(chain.from_iterable(rows[start : start + size])))
            start += size
            left -= size


def _upsert(table: str, columns: Sequence[str]) -> MultiRowInsert:
    """Insert or update runs by id; a row of an older state than the stored one is skipped.

    A run can be written by two processes (submitted in one, run in another); whichever
    recorder commits last must not put back a state the run has already left.
    """
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("id", "created"))
    return MultiRowInsert(
        table,
        columns,
        f" ON CONFLICT (id) DO UPDATE SET {updates} WHERE excluded.state_seq >= {table}.state_seq",
    )


_UPSERT_FLOW_RUN = _upsert("flow_runs", FLOW_RUN_COLUMNS)
_UPSERT_TASK_RUN = _upsert("task_runs", TASK_RUN_COLUMNS)
_INSERT_STATES = MultiRowInsert("run_states", STATE_COLUMNS, " ON CONFLICT DO NOTHING")
_INSERT_STATE = _INSERT_STATES.sql(1)
_INSERT_LOGS = MultiRowInsert("logs", LOG_COLUMNS)
_FLOW_RUN_SELECT = f"SELECT {', '.join(FLOW_RUN_COLUMNS)} FROM flow_runs"
_TASK_RUN_SELECT = f"SELECT {', '.join(TASK_RUN_COLUMNS)} FROM task_runs"


class SqlStore(Store):
    """The queries; subclasses bring the database."""

    @abstractmethod
    def _transaction(self, write: bool) -> AbstractContextManager[Cursor]:
        """A cursor inside one transaction, committed on exit, rolled back on error."""

    @abstractmethod
    def _lock_for_migration(self, cursor: Cursor) -> None:
        """Serialise concurrent migrations (inside the migrating transaction)."""

    @abstractmethod
    def _table_names(self, cursor: Cursor) -> set[str]:
        """Tables that exist in the schema this store uses."""

    # -- schema ----------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._transaction(write=True) as cur:
            self._lock_for_migration(cur)
            tables = self._table_names(cur)
            if VERSION_TABLE not in tables:
                if tables & {"flow_runs", "task_runs", "logs"} or (tables and self._strict_empty()):
                    raise NotARunnelDatabase(
                        f"{self.location} is not a runnel database: it has tables "
                        f"({', '.join(sorted(tables)[:5])}) but no runnel schema. Point "
                        "RUNNEL_DATABASE_URL or RUNNEL_HOME somewhere else, or move it away."
                    )
                cur.execute(
                    f"CREATE TABLE {VERSION_TABLE} (version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
                )
                version = 0
            else:
                cur.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}")
                version = cur.fetchone()[0] or 0
            if version > LATEST:
                raise NotARunnelDatabase(
                    f"{self.location} was written by a newer runnel (schema {version}, this one "
                    f"knows {LATEST}): upgrade runnel to read it"
                )
            for number in range(version + 1, LATEST + 1):
                for statement in MIGRATIONS[number - 1]:
                    cur.execute(statement)
                cur.execute(
                    f"INSERT INTO {VERSION_TABLE} (version, applied) VALUES (?, ?)",
                    (number, time.time()),
                )

    def _strict_empty(self) -> bool:
        """Whether any foreign table makes the database not ours (a file yes, a server no)."""
        return False

    def schema_version(self) -> int:
        with self._transaction(write=False) as cur:
            cur.execute(f"SELECT MAX(version) FROM {VERSION_TABLE}")
            return int(cur.fetchone()[0] or 0)

    # -- writes ----------------------------------------------------------------------------
    def write(self, batch: Batch) -> None:
        if not batch:
            return
        with self._transaction(write=True) as cur:
            _UPSERT_FLOW_RUN.run(cur, batch.flow_runs)
            _UPSERT_TASK_RUN.run(cur, batch.task_runs)
            _INSERT_STATES.run(cur, batch.states)
            _INSERT_LOGS.run(cur, batch.logs)

    def heartbeat(self, flow_run_ids: list[str], task_run_ids: list[str], at: float) -> None:
        if not flow_run_ids and not task_run_ids:
            return
        with self._transaction(write=True) as cur:
            for table, ids in (("flow_runs", flow_run_ids), ("task_runs", task_run_ids)):
                if ids:
                    cur.executemany(
                        f"UPDATE {table} SET heartbeat = ? WHERE id = ?",
                        [(at, run_id) for run_id in ids],
                    )

    def reap_crashed(self, now: float, expiry: float) -> int:
        cutoff = now - expiry
        marks = ", ".join("?" for _ in UNFINISHED)
        moved = 0
        with self._transaction(write=True) as cur:
            cur.execute(
                f"SELECT id, state_seq FROM flow_runs WHERE state_type IN ({marks}) "
                "AND COALESCE(heartbeat, created) < ?",
                (*UNFINISHED, cutoff),
            )
            flow_runs = cur.fetchall()
            task_runs: list[Any] = []
            if flow_runs:
                flow_marks = ", ".join("?" for _ in flow_runs)
                cur.execute(
                    f"SELECT id, state_seq FROM task_runs WHERE state_type IN ({marks}) "
                    f"AND flow_run_id IN ({flow_marks})",
                    (*UNFINISHED, *(row[0] for row in flow_runs)),
                )
                task_runs = cur.fetchall()
            cur.execute(
                f"SELECT id, state_seq FROM task_runs WHERE state_type IN ({marks}) "
                "AND flow_run_id IS NULL AND COALESCE(heartbeat, created) < ?",
                (*UNFINISHED, cutoff),
            )
            task_runs += cur.fetchall()
            for table, rows in (("flow_runs", flow_runs), ("task_runs", task_runs)):
                for run_id, row_seq in rows:
                    cur.execute(
                        "SELECT COALESCE(MAX(seq), 0) FROM run_states WHERE run_id = ?", (run_id,)
                    )
                    seq = max(cur.fetchone()[0], row_seq) + 1
                    cur.execute(
                        f"UPDATE {table} SET state_type = ?, state_name = ?, state_message = ?, "
                        f"state_seq = ?, end_time = ? WHERE id = ? AND state_type IN ({marks})",
                        ("CRASHED", "Crashed", _CRASH_MESSAGE, seq, now, run_id, *UNFINISHED),
                    )
                    cur.execute(
                        _INSERT_STATE, (run_id, seq, "CRASHED", "Crashed", _CRASH_MESSAGE, now)
                    )
                    moved += 1
        return moved

    # -- reads -----------------------------------------------------------------------------
    def list_flow_runs(self, limit: int = 20, flow_name: str | None = None) -> list[FlowRunRecord]:
        where, params = ("WHERE flow_name = ? ", [flow_name]) if flow_name else ("", [])
        with self._transaction(write=False) as cur:
            cur.execute(
                f"{_FLOW_RUN_SELECT} {where}ORDER BY created DESC LIMIT ?", (*params, limit)
            )
            return [FlowRunRecord(*row) for row in cur.fetchall()]

    def read_flow_run(self, id_or_name: str) -> FlowRunRecord | None:
        with self._transaction(write=False) as cur:
            cur.execute(f"{_FLOW_RUN_SELECT} WHERE id = ?", (id_or_name,))
            row = cur.fetchone()
            if row is None and len(id_or_name) >= 4 and _ID_CHARS.issuperset(id_or_name):
                cur.execute(f"{_FLOW_RUN_SELECT} WHERE id LIKE ? LIMIT 2", (id_or_name + "%",))
                rows = cur.fetchall()
                row = rows[0] if len(rows) == 1 else None
            if row is None:
                cur.execute(
                    f"{_FLOW_RUN_SELECT} WHERE name = ? ORDER BY created DESC LIMIT 1",
                    (id_or_name,),
                )
                row = cur.fetchone()
        return None if row is None else FlowRunRecord(*row)

    def read_task_run(self, task_run_id: str) -> TaskRunRecord | None:
        with self._transaction(write=False) as cur:
            cur.execute(f"{_TASK_RUN_SELECT} WHERE id = ?", (task_run_id,))
            row = cur.fetchone()
        return None if row is None else TaskRunRecord(*row)

    def list_task_runs(
        self, flow_run_id: str | None = None, limit: int | None = None
    ) -> list[TaskRunRecord]:
        with self._transaction(write=False) as cur:
            if flow_run_id is None:
                cur.execute(f"{_TASK_RUN_SELECT} ORDER BY created DESC LIMIT ?", (limit or 20,))
            else:
                tail = " LIMIT ?" if limit else ""
                cur.execute(
                    f"{_TASK_RUN_SELECT} WHERE flow_run_id = ? ORDER BY created, id{tail}",
                    (flow_run_id, limit) if limit else (flow_run_id,),
                )
            return [TaskRunRecord(*row) for row in cur.fetchall()]

    def cache_hits(self) -> dict[str, int]:
        with self._transaction(write=False) as cur:
            cur.execute(
                "SELECT cache_key, COUNT(*) FROM task_runs WHERE cache_key IS NOT NULL "
                "AND state_name = 'Cached' GROUP BY cache_key"
            )
            return {key: int(count) for key, count in cur.fetchall()}

    def list_states(self, run_id: str) -> list[StateRecord]:
        with self._transaction(write=False) as cur:
            cur.execute(
                f"SELECT {', '.join(STATE_COLUMNS)} FROM run_states WHERE run_id = ? ORDER BY seq",
                (run_id,),
            )
            rows = cur.fetchall()
            if not rows:  # a run whose states its own row tells (see recorder.told_by_its_row)
                cur.execute(
                    "SELECT id, state_seq, state_type, state_name, state_message, created, "
                    "start_time, end_time FROM task_runs WHERE id = ?",
                    (run_id,),
                )
                found = cur.fetchone()
                return [] if found is None else states_from_run_row(*found)
            return [StateRecord(*row) for row in rows]

    def list_logs(self, flow_run_id: str, limit: int | None = None) -> list[LogRecord]:
        with self._transaction(write=False) as cur:
            cur.execute(
                f"SELECT {', '.join(LOG_COLUMNS)} FROM logs WHERE flow_run_id = ? "
                "ORDER BY timestamp, seq",
                (flow_run_id,),
            )
            logs = [LogRecord(*row) for row in cur.fetchall()]
            cur.execute(
                "SELECT id, state_type, state_name, state_message, end_time FROM task_runs "
                "WHERE flow_run_id = ? AND end_time IS NOT NULL",
                (flow_run_id,),
            )
            lines = with_closing_lines(flow_run_id, logs, cur.fetchall(), _CRASH_MESSAGE)
        return lines[:limit] if limit else lines

    # -- limits ----------------------------------------------------------------------------
    # Appended to the SELECT of the limit rows an acquire or release changes: PostgreSQL
    # locks them (``FOR UPDATE``); SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
    _for_update = ""

    def _lock_limits(self, cur: Cursor, names: Sequence[str]) -> dict[str, LimitRecord]:
        """The named limits, locked until the transaction ends (in name order: no deadlock)."""
        if not names:
            return {}
        marks = ", ".join("?" for _ in names)
        cur.execute(
            f"{_LIMIT_SELECT} WHERE name IN ({marks}) ORDER BY name{self._for_update}",
            tuple(names),
        )
        return {row[0]: _limit(row) for row in cur.fetchall()}

    def _read_limit_in(self, cur: Cursor, name: str) -> LimitRecord:
        found = self._lock_limits(cur, [name])
        if name not in found:
            raise ConfigurationError(f"no limit '{name}'")
        return found[name]

    def _save_slots(self, cur: Cursor, name: str, active_slots: float, now: float) -> None:
        cur.execute(
            "UPDATE limits SET active_slots = ?, updated = ? WHERE name = ?",
            (active_slots, now, name),
        )

    def create_limit(
        self,
        name: str,
        limit: int,
        slot_decay_per_second: float = 0.0,
        active: bool = True,
        now: float | None = None,
    ) -> LimitRecord:
        validate_name(name)
        validate_settings(limit, slot_decay_per_second)
        at = time.time() if now is None else now
        with self._transaction(write=True) as cur:
            cur.execute(
                f"INSERT INTO limits ({_LIMIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING RETURNING name",
                (name, limit, bool(active), 0.0, float(slot_decay_per_second), at, at),
            )
            if cur.fetchone() is None:
                raise ConfigurationError(f"limit '{name}' exists")
        return LimitRecord(name, limit, bool(active), 0.0, float(slot_decay_per_second), at, at)

    def update_limit(
        self,
        name: str,
        now: float,
        limit: int | None = None,
        slot_decay_per_second: float | None = None,
        active: bool | None = None,
    ) -> LimitRecord:
        validate_settings(limit, slot_decay_per_second)
        with self._transaction(write=True) as cur:
            old = self._read_limit_in(cur, name)
            new = replace(
                old,
                limit=old.limit if limit is None else limit,
                slot_decay_per_second=(
                    old.slot_decay_per_second
                    if slot_decay_per_second is None
                    else float(slot_decay_per_second)
                ),
                active=old.active if active is None else bool(active),
                active_slots=current_slots(old, now),  # decayed at the old rate until now
                updated=max(now, old.updated),
            )
            cur.execute(
                "UPDATE limits SET slot_limit = ?, active = ?, active_slots = ?, "
                "slot_decay_per_second = ?, updated = ? WHERE name = ?",
                (
                    new.limit,
                    new.active,
                    new.active_slots,
                    new.slot_decay_per_second,
                    new.updated,
                    name,
                ),
            )
        return new

    def delete_limit(self, name: str) -> bool:
        with self._transaction(write=True) as cur:
            found = bool(self._lock_limits(cur, [name]))
            cur.execute("DELETE FROM leases WHERE limit_name = ?", (name,))
            cur.execute("DELETE FROM limits WHERE name = ?", (name,))
        return found

    def read_limit(self, name: str) -> LimitRecord | None:
        with self._transaction(write=False) as cur:
            cur.execute(f"{_LIMIT_SELECT} WHERE name = ?", (name,))
            row = cur.fetchone()
        return None if row is None else _limit(row)

    def list_limits(self) -> list[LimitRecord]:
        with self._transaction(write=False) as cur:
            cur.execute(f"{_LIMIT_SELECT} ORDER BY name")
            return [_limit(row) for row in cur.fetchall()]

    def list_leases(self, name: str) -> list[LeaseRecord]:
        with self._transaction(write=False) as cur:
            cur.execute(
                f"SELECT {_LEASE_COLUMNS} FROM leases WHERE limit_name = ? ORDER BY created, id",
                (name,),
            )
            return [_lease(row) for row in cur.fetchall()]

    def reset_limit(self, name: str, now: float) -> None:
        with self._transaction(write=True) as cur:
            self._read_limit_in(cur, name)
            cur.execute("DELETE FROM leases WHERE limit_name = ?", (name,))
            self._save_slots(cur, name, 0.0, now)

    def acquire_slots(
        self,
        names: Sequence[str],
        occupy: int,
        now: float,
        lease_id: str | None = None,
        lease_expires: float | None = None,
        holder: str = "",
        waiter_id: str | None = None,
    ) -> Acquisition:
        wanted = list(dict.fromkeys(names))
        with self._transaction(write=True) as cur:
            found = self._lock_limits(cur, wanted)
            missing = tuple(n for n in wanted if n not in found)
            inactive = tuple(n for n in wanted if n in found and not found[n].active)
            active = [found[n] for n in sorted(found) if found[n].active]
            check_occupy(active, occupy)
            held = [r.name for r in active if not is_rate_limit(r)]
            if held and lease_id is None:
                raise ConfigurationError(
                    f"limit '{held[0]}' has no slot decay, so slots taken without a lease would "
                    "never free: hold them with concurrency(), or give the limit "
                    "slot_decay_per_second to use it as a rate limit"
                )
            reclaimed = self._reclaim_expired(cur, [r.name for r in active], now)
            fresh = [
                replace(
                    r,
                    active_slots=max(0.0, current_slots(r, now) - reclaimed.get(r.name, 0)),
                    updated=now,
                )
                for r in active
            ]
            active_names = [r.name for r in fresh]
            since = self._waiting_since(cur, waiter_id, now)
            ahead = self._waiters_ahead(cur, active_names, waiter_id, since, now)
            queued = [replace(r, active_slots=r.active_slots + ahead.get(r.name, 0)) for r in fresh]
            decision = decide(queued, occupy, now)
            if waiter_id is not None:
                self._queue(cur, waiter_id, active_names, occupy, since, now, decision)
            expires = now + DEFAULT_LEASE_SECONDS if lease_expires is None else lease_expires
            changed = {r.name for r in active if r.name in reclaimed}
            if decision.granted:
                changed.update(active_names)
                fresh = [replace(r, active_slots=r.active_slots + occupy) for r in fresh]
                if held:
                    cur.executemany(
                        f"INSERT INTO leases ({_LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                        [(lease_id, name, occupy, expires, holder, now) for name in held],
                    )
            for record in fresh:
                if record.name in changed:
                    self._save_slots(cur, record.name, record.active_slots, now)
        if decision.granted:
            return Acquisition(True, None, missing, inactive)
        in_front = max((ahead.get(name, 0) for name in decision.blocked), default=0)
        return Acquisition(
            False, decision.wait_seconds, missing, inactive, decision.blocked, in_front
        )

    def _waiting_since(self, cur: Cursor, waiter_id: str | None, now: float) -> float:
        """When this caller joined the queue of its limits (``now`` if it just arrives)."""
        if waiter_id is None:
            return now
        cur.execute("SELECT MIN(since) FROM limit_waiters WHERE id = ?", (waiter_id,))
        row = cur.fetchone()
        return now if row is None or row[0] is None else float(row[0])

    def _waiters_ahead(
        self, cur: Cursor, names: Sequence[str], waiter_id: str | None, since: float, now: float
    ) -> dict[str, int]:
        """Slots wanted, per limit, by live callers that started waiting before ``since``."""
        if not names:
            return {}
        marks = ", ".join("?" for _ in names)
        cur.execute(
            f"DELETE FROM limit_waiters WHERE limit_name IN ({marks}) AND expires < ?",
            (*names, now),
        )
        cur.execute(
            f"SELECT limit_name, SUM(occupy) FROM limit_waiters WHERE limit_name IN ({marks}) "
            "AND since < ? AND id <> ? GROUP BY limit_name",
            (*names, since, waiter_id or ""),
        )
        return {name: int(total) for name, total in cur.fetchall()}

    def _queue(
        self,
        cur: Cursor,
        waiter_id: str,
        names: Sequence[str],
        occupy: int,
        since: float,
        now: float,
        decision: Decision,
    ) -> None:
        """Leave the queue when granted; else keep (or take) this caller's place in it."""
        cur.execute("DELETE FROM limit_waiters WHERE id = ?", (waiter_id,))
        if decision.granted:
            return
        # A place is kept while its caller keeps asking: past this, a dead caller's is freed.
        expires = now + pause_seconds(decision.wait_seconds or 0.0) + WAITER_TTL_SECONDS
        cur.executemany(
            "INSERT INTO limit_waiters (id, limit_name, occupy, since, expires) "
            "VALUES (?, ?, ?, ?, ?)",
            [(waiter_id, name, occupy, since, expires) for name in names],
        )

    def leave_queue(self, waiter_id: str) -> None:
        with self._transaction(write=True) as cur:
            cur.execute("DELETE FROM limit_waiters WHERE id = ?", (waiter_id,))

    def _reclaim_expired(self, cur: Cursor, names: Sequence[str], now: float) -> dict[str, int]:
        """Delete the leases of these limits that expired before ``now``; their slots by limit."""
        if not names:
            return {}
        marks = ", ".join("?" for _ in names)
        where = f"WHERE limit_name IN ({marks}) AND expires < ?"
        cur.execute(
            f"SELECT limit_name, SUM(slots) FROM leases {where} GROUP BY limit_name",
            (*names, now),
        )
        reclaimed = {name: int(slots) for name, slots in cur.fetchall()}
        if reclaimed:
            cur.execute(f"DELETE FROM leases {where}", (*names, now))
        return reclaimed

    def release_slots(self, lease_id: str, now: float) -> None:
        with self._transaction(write=True) as cur:
            cur.execute("SELECT limit_name FROM leases WHERE id = ?", (lease_id,))
            names = [row[0] for row in cur.fetchall()]
            if not names:
                return
            locked = self._lock_limits(cur, names)
            # Read again under the locks: an acquirer may have reclaimed rows meanwhile.
            cur.execute("SELECT limit_name, slots FROM leases WHERE id = ?", (lease_id,))
            for name, slots in cur.fetchall():
                if name in locked:
                    left = max(0.0, current_slots(locked[name], now) - slots)
                    self._save_slots(cur, name, left, max(now, locked[name].updated))
            cur.execute("DELETE FROM leases WHERE id = ?", (lease_id,))

    def renew_lease(self, lease_id: str, expires: float) -> bool:
        with self._transaction(write=True) as cur:
            cur.execute("UPDATE leases SET expires = ? WHERE id = ?", (expires, lease_id))
            cur.execute("SELECT COUNT(*) FROM leases WHERE id = ?", (lease_id,))
            return int(cur.fetchone()[0]) > 0


_LIMIT_COLUMNS = "name, slot_limit, active, active_slots, slot_decay_per_second, updated, created"
_LIMIT_SELECT = f"SELECT {_LIMIT_COLUMNS} FROM limits"
_LEASE_COLUMNS = "id, limit_name, slots, expires, holder, created"


def _limit(row: Sequence[Any]) -> LimitRecord:
    name, limit, active, slots, decay, updated, created = row
    return LimitRecord(
        name, int(limit), bool(active), float(slots), float(decay), float(updated), float(created)
    )


def _lease(row: Sequence[Any]) -> LeaseRecord:
    lease_id, name, slots, expires, holder, created = row
    return LeaseRecord(lease_id, name, int(slots), float(expires), holder, float(created))
