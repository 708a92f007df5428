"""The errors of result storage; each keeps its arguments so it survives pickling.

RunnelError
├── RecordMissing (also KeyError)   no record under the key
├── CorruptRecord                   a record that cannot be trusted (a cache miss)
├── SerializationError              a value the serializer cannot store or restore
└── LockTimeout (also TimeoutError) a cache key stayed locked longer than allowed
"""

from __future__ import annotations

from runnel.exceptions import RunnelError


class RecordMissing(RunnelError, KeyError):
    """No record is stored under the key."""

    def __init__(self, key: str, location: str) -> None:
        super().__init__(key, location)
        self.key = key
        self.location = location

    def __str__(self) -> str:
        return f"no result record {self.key!r} in {self.location}"


class CorruptRecord(RunnelError):
    """A stored record is damaged, truncated or not a runnel record; it counts as a miss."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where, reason)
        self.where = where
        self.reason = reason

    def __str__(self) -> str:
        return f"corrupt result record {self.where}: {self.reason}"


class SerializationError(RunnelError):
    """A serializer cannot turn a value into bytes, or bytes back into a value."""


class LockTimeout(RunnelError, TimeoutError):
    """A cache key's lock was not acquired within the timeout."""

    def __init__(self, key: str, timeout: float, where: str) -> None:
        super().__init__(key, timeout, where)
        self.key = key
        self.timeout = timeout
        self.where = where

    def __str__(self) -> str:
        return (
            f"waited {self.timeout:g} s for the lock of cache key {self.key!r} ({self.where}): "
            "another run is computing the same result; raise the timeout or retry later"
        )
