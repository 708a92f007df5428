"""Every test gets its own RUNNEL_HOME, fresh settings and a fresh store."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runnel.settings import reset_settings
from runnel.store import reset_store

POSTGRES_ENV = "RUNNEL_TEST_DATABASE_URL"


def _reset_runtime() -> None:
    from runnel.store.recorder import reset_recorder

    reset_recorder()
    reset_store()
    reset_settings()


@pytest.fixture(autouse=True)
def runnel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private RUNNEL_HOME; no setting leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("RUNNEL_") and name != POSTGRES_ENV:
            monkeypatch.delenv(name)
    home = tmp_path / "runnel-home"
    monkeypatch.setenv("RUNNEL_HOME", str(home))
    _reset_runtime()
    yield home
    _reset_runtime()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL to a fresh, empty PostgreSQL schema, dropped afterwards.

    Skips when RUNNEL_TEST_DATABASE_URL is unset; fails when it is set and does not answer.
    """
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped")
    import psycopg

    schema = f"runnel_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
