"""Housekeeping over a storage: list what it holds, delete what has expired or is corrupt."""

from __future__ import annotations

import logging
from collections.abc import Callable

from runnel.results.base import ResultStorage
from runnel.results.errors import CorruptRecord, LockTimeout, RecordMissing
from runnel.results.locks import KeyLock
from runnel.results.records import MAGIC, RecordMetadata, read_metadata

logger = logging.getLogger("runnel.results")

PARTIAL_WRITE_AGE = 3600.0  # a write that started this long ago (seconds) was killed


def _log_corrupt(error: CorruptRecord) -> None:
    logger.warning("%s; it is skipped (runnel cache clear removes it)", error)


def list_records(
    storage: ResultStorage, *, on_corrupt: Callable[[CorruptRecord], None] | None = None
) -> list[RecordMetadata]:
    """The metadata of every readable record, oldest first; corrupt ones go to ``on_corrupt``.

    Without ``on_corrupt``, each corrupt record is logged as a warning on ``runnel.results``.
    """
    report = on_corrupt or _log_corrupt
    found: list[RecordMetadata] = []
    for key in storage.keys():
        try:
            found.append(read_metadata(storage, key))
        except RecordMissing:
            continue  # deleted since it was listed
        except CorruptRecord as error:
            report(error)
    return sorted(found, key=lambda record: (record.created, record.key))


def collect_expired(
    storage: ResultStorage, now: float, *, partial_write_age: float = PARTIAL_WRITE_AGE
) -> int:
    """Delete the records expired at ``now`` and the corrupt ones; return how many were deleted.

    A key being computed right now (its lock is held) is left alone. Files left by writers
    killed more than ``partial_write_age`` seconds ago are removed too (not counted).
    """
    deleted = 0
    for key in list(storage.keys()):
        try:
            with KeyLock.for_storage(storage, key, timeout=0):
                if _is_garbage(storage, key, now):
                    storage.delete(key)
                    deleted += 1
        except LockTimeout:
            continue
    storage.remove_partial_writes(now=now, older_than=partial_write_age)
    return deleted


def _is_garbage(storage: ResultStorage, key: str, now: float) -> bool:
    try:
        return read_metadata(storage, key).is_expired(now)
    except RecordMissing:
        return False
    except CorruptRecord as error:
        if not _starts_as_a_record(storage, key):
            # Not ours at all (storage pointed at the wrong folder?): never delete it.
            logger.warning("%s; left alone: it is not a runnel record", error)
            return False
        logger.warning("%s; deleted", error)
        return True


def _starts_as_a_record(storage: ResultStorage, key: str) -> bool:
    try:
        return storage.read_head(key, len(MAGIC)) == MAGIC
    except (RecordMissing, OSError):
        return False
