"""The ``ResultStorage`` seam: bytes under keys, written atomically."""

from __future__ import annotations

import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from runnel.exceptions import ConfigurationError

# Cache keys are hex digests; the wider set still leaves no way to name a path outside the
# storage. A leading dot is kept for temporaries and the lock folder, which keys() never lists.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\Z")
_TEMPORARY_SUFFIX = ".tmp"


def is_key(name: str) -> bool:
    """Whether ``name`` can be a record key."""
    return bool(_KEY.match(name))


def check_key(key: str) -> str:
    """``key`` itself, or a ConfigurationError when it could name a path outside the storage."""
    if type(key) is str and key.isascii() and key.isalnum() and len(key) <= 200:
        return key  # letters and digits only, as every hex digest key: no regex needed
    if not isinstance(key, str) or not _KEY.match(key):
        raise ConfigurationError(
            f"result key {key!r} is not usable: use 1 to 200 letters, digits, '_', '-' or '.' "
            "starting with a letter or digit (a hex digest), with no path separators"
        )
    return key


def temporary_name(key: str) -> str:
    """A fresh name for a write of ``key`` in progress; hidden from ``keys()``."""
    return f".{key}.{secrets.token_hex(6)}{_TEMPORARY_SUFFIX}"


_TEMPORARY = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\.[0-9a-f]{12}\.tmp")


def is_temporary(name: str) -> bool:
    """Whether ``name`` was made by ``temporary_name`` (and by nothing else: garbage
    collection deletes such files, so the test is exact, not ``.*.tmp``)."""
    return _TEMPORARY.fullmatch(name) is not None


class ResultStorage(ABC):
    """Where result records live: whole blobs of bytes under keys.

    ``write`` is atomic: a reader sees the old record, the new one, or none, never a part,
    even when the writing process is killed half-way.
    """

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the records are, for people (a path or a URL)."""

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``RecordMissing`` (a KeyError) when there are none."""

    def read_head(self, key: str, n: int) -> bytes:
        """At most the first ``n`` bytes stored under ``key``; ``RecordMissing`` when absent."""
        return self.read(key)[:n]

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, replacing what was there."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a record is stored under ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the record under ``key``; nothing happens when there is none."""

    @abstractmethod
    def keys(self) -> Iterator[str]:
        """The keys of the stored records, never those of writes still in progress."""

    def describe(self, key: str) -> str:
        """Where the record of ``key`` is, for messages."""
        return f"{self.location.rstrip('/')}/{key}"

    @property
    def local_directory(self) -> Path | None:
        """The directory on this machine that holds the records, or None when they are remote."""
        return None

    def remove_partial_writes(self, *, now: float, older_than: float) -> int:
        """Remove what killed writers left behind, older than ``older_than`` s; return how many."""
        return 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"
