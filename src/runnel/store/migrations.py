"""The schema, as numbered migrations shared by every SQL database.

Each migration is a list of statements written in the SQL that SQLite and PostgreSQL both
speak. A migration, once released, never changes: add a new one instead.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    # 1: runs, their states, and their logs.
    [
        """CREATE TABLE flow_runs (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            flow_name TEXT NOT NULL,
            parent_task_run_id TEXT,
            state_type TEXT NOT NULL,
            state_name TEXT NOT NULL,
            state_message TEXT,
            state_seq INTEGER NOT NULL DEFAULT 0,
            parameters TEXT,
            tags TEXT,
            run_count INTEGER NOT NULL DEFAULT 0,
            created DOUBLE PRECISION NOT NULL,
            start_time DOUBLE PRECISION,
            end_time DOUBLE PRECISION,
            heartbeat DOUBLE PRECISION,
            hostname TEXT,
            pid INTEGER
        )""",
        "CREATE INDEX ix_flow_runs_created ON flow_runs (created)",
        "CREATE INDEX ix_flow_runs_name ON flow_runs (name, created)",
        # Partial: finished runs (nearly all of them) cost this index nothing.
        "CREATE INDEX ix_flow_runs_unfinished ON flow_runs (heartbeat) "
        "WHERE state_type IN ('PENDING', 'SCHEDULED', 'RUNNING')",
        """CREATE TABLE task_runs (
            id TEXT PRIMARY KEY,
            flow_run_id TEXT,
            name TEXT NOT NULL,
            task_name TEXT NOT NULL,
            task_key TEXT NOT NULL,
            state_type TEXT NOT NULL,
            state_name TEXT NOT NULL,
            state_message TEXT,
            state_seq INTEGER NOT NULL DEFAULT 0,
            tags TEXT,
            run_count INTEGER NOT NULL DEFAULT 0,
            created DOUBLE PRECISION NOT NULL,
            start_time DOUBLE PRECISION,
            end_time DOUBLE PRECISION,
            heartbeat DOUBLE PRECISION,
            hostname TEXT,
            pid INTEGER,
            runner TEXT,
            cache_key TEXT,
            cache_saved_seconds DOUBLE PRECISION
        )""",
        "CREATE INDEX ix_task_runs_flow_run ON task_runs (flow_run_id, created)",
        "CREATE INDEX ix_task_runs_created ON task_runs (created)",
        "CREATE INDEX ix_task_runs_cache_key ON task_runs (cache_key) WHERE cache_key IS NOT NULL",
        "CREATE INDEX ix_task_runs_unfinished ON task_runs (flow_run_id, heartbeat) "
        "WHERE state_type IN ('PENDING', 'SCHEDULED', 'RUNNING')",
        """CREATE TABLE run_states (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            name TEXT NOT NULL,
            message TEXT,
            timestamp DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, seq)
        )""",
        """CREATE TABLE logs (
            flow_run_id TEXT,
            task_run_id TEXT,
            seq BIGINT NOT NULL,
            level INTEGER NOT NULL,
            logger TEXT NOT NULL,
            message TEXT NOT NULL,
            timestamp DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX ix_logs_flow_run ON logs (flow_run_id, timestamp, seq)",
    ],
    # 2: global concurrency and rate limits, and the leases that hold concurrency slots.
    # ``limit`` is a reserved word in SQL: the column is ``slot_limit`` (LimitRecord.limit).
    [
        """CREATE TABLE limits (
            name TEXT PRIMARY KEY,
            slot_limit INTEGER NOT NULL,
            active BOOLEAN NOT NULL,
            active_slots DOUBLE PRECISION NOT NULL,
            slot_decay_per_second DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL,
            created DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE leases (
            id TEXT NOT NULL,
            limit_name TEXT NOT NULL,
            slots INTEGER NOT NULL,
            expires DOUBLE PRECISION NOT NULL,
            holder TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (id, limit_name)
        )""",
        "CREATE INDEX ix_leases_limit ON leases (limit_name, expires)",
        # Callers waiting for a limit, so that it serves them first come, first served.
        """CREATE TABLE limit_waiters (
            id TEXT NOT NULL,
            limit_name TEXT NOT NULL,
            occupy INTEGER NOT NULL,
            since DOUBLE PRECISION NOT NULL,
            expires DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (id, limit_name)
        )""",
        "CREATE INDEX ix_limit_waiters_limit ON limit_waiters (limit_name, since)",
    ],
]

LATEST = len(MIGRATIONS)
VERSION_TABLE = "runnel_schema"
