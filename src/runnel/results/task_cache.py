"""A task's cache: its key, its records, its single-flight lock. What the engine calls.

Made once per task at decoration (``make_task_cache``), when the task persists results:
``persist_result=True``, or a ``cache_policy``/``cache_key_fn`` given, which needs them.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import AbstractContextManager
from typing import Any

from runnel.cache_policies import (
    DEFAULT,
    NONE,
    CacheContext,
    CachePolicy,
    UnhashableInput,
    from_key_fn,
)
from runnel.exceptions import ConfigurationError
from runnel.results.errors import CorruptRecord, RecordMissing, SerializationError
from runnel.results.locks import KeyLock
from runnel.results.records import RecordMetadata, load_record, write_record
from runnel.results.serializers import Serializer, get_serializer
from runnel.results.storage import ResultStorage, storage_from

logger = logging.getLogger("runnel.cache")


class CacheHit:
    """A valid record: its value and how long the run that made it took."""

    __slots__ = ("value", "metadata")

    def __init__(self, value: Any, metadata: RecordMetadata) -> None:
        self.value = value
        self.metadata = metadata


class TaskCache:
    """Keys, lookups and writes of one task's cache records."""

    def __init__(
        self,
        policy: CachePolicy,
        expiration: float | None,
        refresh: bool,
        serializer: Serializer,
        storage: Any,
    ) -> None:
        self.policy = policy
        self.expiration = expiration
        self.refresh = refresh
        self.serializer = serializer
        self._storage_spec = storage
        self._storage: ResultStorage | None = None
        self._warned = False

    @property
    def storage(self) -> ResultStorage:
        # Resolved on first use: the default follows RUNNEL_RESULTS_DIR as set when tasks run.
        if self._storage is None:
            self._storage = storage_from(self._storage_spec)
        return self._storage

    def key(
        self,
        task: Any,
        flow_run_id: str | None,
        flow_parameters: dict[str, Any] | None,
        arguments: dict[str, Any],
        log_extra: dict[str, Any],
    ) -> str | None:
        """The call's cache key; None (with one warning per task) when it cannot be made."""
        context = CacheContext(
            task.task_key, task.name, task.fn, flow_run_id, flow_parameters, arguments
        )
        try:
            return self.policy.compute_key(context)
        except UnhashableInput as error:
            if not self._warned:
                self._warned = True
                logging.getLogger("runnel.task_runs").warning(
                    "Not caching task %r: %s", task.name, error, extra=log_extra
                )
            return None

    def lookup(
        self, key: str, log_extra: dict[str, Any] | None = None, now: float | None = None
    ) -> CacheHit | None:
        """The valid record of ``key``, read once: its metadata (expiry, checksum) is checked
        before its value is deserialized. Expired and unusable records are deleted."""
        storage = self.storage
        try:
            metadata, blob = load_record(storage, key)
            if metadata.expiration is not None and metadata.is_expired(
                time.time() if now is None else now
            ):
                storage.delete(key)  # expired records are garbage: collect as we meet them
                return None
            serializer = (
                self.serializer
                if metadata.serializer == self.serializer.name
                else get_serializer(metadata.serializer)
            )
            return CacheHit(serializer.loads(blob), metadata)
        except RecordMissing:
            return None
        except (CorruptRecord, SerializationError, ConfigurationError) as error:
            storage.delete(key)
            logging.getLogger("runnel.task_runs").warning(
                "Cache record is unusable and will be replaced: %s", error, extra=log_extra
            )
            return None

    def hold(self, key: str) -> AbstractContextManager[Any]:
        """Single flight: the lock that one computing run holds while others wait for it."""
        return KeyLock.for_storage(self.storage, key)

    def store(
        self, key: str, task: Any, value: Any, duration: float, now: float | None = None
    ) -> None:
        """Write the record of a run that completed (a failure to persist is a warning)."""
        now = time.time() if now is None else now
        try:
            blob = self.serializer.dumps(value)
            metadata = RecordMetadata(
                key=key,
                task_key=task.task_key,
                task_name=task.name,
                created=now,
                expiration=None if self.expiration is None else now + self.expiration,
                serializer=self.serializer.name,
                duration_seconds=duration,
            )
            write_record(self.storage, metadata, blob)
        except (SerializationError, OSError) as error:
            logger.warning("The result of task %r was not cached: %s", task.name, error)


def make_task_cache(
    *,
    cache_policy: Any,
    cache_key_fn: Any,
    cache_expiration: Any,
    refresh_cache: bool | None,
    persist_result: bool | None,
    result_serializer: Any,
    result_storage: Any,
    policy_given: bool,
) -> TaskCache | None:
    """The cache of a task that persists its results (``persists`` in ``runnel.tasks`` said
    so), or None when its policy is ``NONE``."""
    policy = (
        from_key_fn(cache_key_fn)
        if cache_key_fn is not None
        else (cache_policy if policy_given else DEFAULT)
    )
    if not isinstance(policy, CachePolicy):
        from runnel.exceptions import ConfigurationError

        raise ConfigurationError(
            f"cache_policy={cache_policy!r} is not a cache policy: use INPUTS, TASK_SOURCE, "
            "FLOW_PARAMETERS, RUN_ID, DEFAULT or NONE from runnel.cache_policies (composed with + and -)"
        )
    if policy == NONE:
        return None
    expiration = None
    if cache_expiration is not None:
        seconds = getattr(cache_expiration, "total_seconds", lambda: cache_expiration)()
        if type(seconds) not in (int, float) or not 0 < seconds < math.inf:  # no bool, nan
            from runnel.exceptions import ConfigurationError

            raise ConfigurationError(
                f"cache_expiration={cache_expiration!r}: use a positive timedelta or seconds"
            )
        expiration = float(seconds)
    return TaskCache(
        policy, expiration, bool(refresh_cache), get_serializer(result_serializer), result_storage
    )
