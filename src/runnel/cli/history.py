"""Opening the run history for reading, with crashed runs already marked as Crashed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from runnel.cli.output import CommandError
from runnel.settings import get_settings
from runnel.store.base import FlowRunRecord, Store
from runnel.store.factory import open_store


@contextmanager
def reading_history() -> Iterator[Store]:
    """The store, after moving runs whose process stopped sending heartbeats to Crashed.

    Readers do the reaping so that a run whose process died is never shown as Running.
    """
    settings = get_settings()
    store = open_store(settings)
    try:
        store.reap_crashed(time.time(), settings.heartbeat_expiry_seconds)
        yield store
    finally:
        store.close()


def find_flow_run(store: Store, id_or_name: str) -> FlowRunRecord:
    """The flow run by id, unique id prefix (4+ characters) or name, or a one-line error."""
    record = store.read_flow_run(id_or_name)
    if record is None:
        raise CommandError(
            f"no flow run {id_or_name!r}: give a full id, a unique id prefix of 4 or more "
            "characters, or a run name ('runnel flow-run ls' lists them)"
        )
    return record
