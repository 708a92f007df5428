"""A cache record: metadata and value bytes in one blob, so they are written in one atomic step.

Layout::

    magic b"RNLR" | format version (u16) | metadata length (u32) | sha256 of the value (32 bytes)
    metadata | value bytes

The metadata can be read from the first bytes alone, without reading or deserializing the value.
Format 2, written now, keeps it binary: ``created``, ``expiration`` (NaN: never) and
``duration_seconds`` as doubles, ``size`` as u64, then the byte lengths (u32) and UTF-8 texts of
``key``, ``task_key``, ``task_name`` and ``serializer``. A cache hit reads the metadata of every
call, and parsing and checking JSON cost it more than reading the file. Format 1, the same
fields as a JSON object, is still read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import struct
from typing import Any, NamedTuple

from runnel.results.base import ResultStorage
from runnel.results.errors import CorruptRecord

MAGIC = b"RNLR"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
_HEADER = struct.Struct(">4sHI32s")
HEADER_SIZE = _HEADER.size
_FIELDS = struct.Struct(">dddQIIII")  # format 2: the numbers, then the texts' byte lengths
_MAX_METADATA = 1 << 20  # far above any real metadata; a larger length means damage
_FIRST_READ = 4096  # enough for the header and the metadata of almost every record


class RecordMetadata(NamedTuple):
    """What a record says about its value; ``size`` is the length of the value bytes."""

    key: str
    task_key: str
    task_name: str
    created: float
    expiration: float | None
    serializer: str
    duration_seconds: float
    size: int = 0

    def is_expired(self, now: float) -> bool:
        """Whether the record is past its expiration at ``now`` (seconds since the epoch)."""
        return self.expiration is not None and now >= self.expiration

    def to_dict(self) -> dict[str, Any]:
        """The metadata as JSON-able values."""
        return self._asdict()

    @classmethod
    def from_dict(cls, data: Any) -> RecordMetadata:
        """The metadata from ``to_dict``'s output; ValueError naming what does not fit."""
        if not isinstance(data, dict):
            raise ValueError("the metadata is not a JSON object")
        values: dict[str, Any] = {}
        for name, kinds in _KINDS.items():
            if name not in data:
                raise ValueError(f"the metadata has no {name!r}")
            value = data[name]
            if type(value) not in kinds or (name == "size" and value < 0):
                raise ValueError(f"the metadata's {name!r} is {value!r}")
            values[name] = float(value) if type(value) is int and float in kinds else value
        return cls(**values)


_NUMBER = (int, float)  # JSON numbers; ``type(v) in`` keeps bools out, as isinstance would not
#: What each metadata field may hold in JSON (numbers that may be fractions become floats).
_KINDS: dict[str, tuple[type, ...]] = {
    "key": (str,),
    "task_key": (str,),
    "task_name": (str,),
    "created": _NUMBER,
    "expiration": (*_NUMBER, type(None)),
    "serializer": (str,),
    "duration_seconds": _NUMBER,
    "size": (int,),
}
assert tuple(_KINDS) == RecordMetadata._fields


def pack(metadata: RecordMetadata, value: bytes) -> bytes:
    """The record blob of ``value`` (format 2); its metadata's ``size`` is set to ``len(value)``."""
    texts = [
        metadata.key.encode(),
        metadata.task_key.encode(),
        metadata.task_name.encode(),
        metadata.serializer.encode(),
    ]
    expiration = math.nan if metadata.expiration is None else metadata.expiration
    numbers = (metadata.created, expiration, metadata.duration_seconds, len(value))
    meta = _FIELDS.pack(*numbers, *map(len, texts)) + b"".join(texts)
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, len(meta), hashlib.sha256(value).digest())
    return b"".join((header, meta, value))


def _parse_header(head: bytes, where: str) -> tuple[int, int, bytes]:
    """(format version, metadata length, value digest) from a record's first bytes."""
    if len(head) < len(MAGIC) or head[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(head):
            raise CorruptRecord(where, f"truncated: {len(head)} bytes, no complete header")
        raise CorruptRecord(where, "not a runnel result record (wrong magic bytes)")
    if len(head) < HEADER_SIZE:
        raise CorruptRecord(where, f"truncated: {len(head)} bytes, no complete header")
    _, version, meta_length, digest = _HEADER.unpack_from(head)
    if version not in READABLE_VERSIONS:
        raise CorruptRecord(
            where,
            f"record format {version}; this runnel reads formats "
            + " and ".join(map(str, READABLE_VERSIONS)),
        )
    if meta_length > _MAX_METADATA:
        raise CorruptRecord(where, f"implausible metadata length {meta_length}")
    return version, meta_length, digest


def _parse_metadata(head: bytes, version: int, meta_length: int, where: str) -> RecordMetadata:
    end = HEADER_SIZE + meta_length
    if len(head) < end:
        raise CorruptRecord(where, f"truncated: {len(head)} bytes, metadata ends at byte {end}")
    try:
        if version == 2:
            return _binary_metadata(head, end)
        return RecordMetadata.from_dict(json.loads(head[HEADER_SIZE:end].decode("utf-8")))
    except (UnicodeDecodeError, ValueError, struct.error) as error:
        raise CorruptRecord(where, f"unreadable metadata: {error}") from None


def _binary_metadata(head: bytes, end: int) -> RecordMetadata:
    """Format 2's metadata, which ends at byte ``end`` of ``head``."""
    created, expiration, duration, size, a, b, c, d = _FIELDS.unpack_from(head, HEADER_SIZE)
    at = HEADER_SIZE + _FIELDS.size
    if at + a + b + c + d != end:
        raise ValueError("its text lengths do not add up to its length")
    text = head[at:end].decode("utf-8")
    if len(text) == end - at:  # all ASCII (always, for keys): cut the text by its lengths
        ab, abc = a + b, a + b + c
        texts: tuple[str, ...] = (text[:a], text[a:ab], text[ab:abc], text[abc:])
    else:  # byte lengths are not character lengths: decode each text on its own
        texts = tuple(head[i : i + n].decode("utf-8") for i, n in _spans(at, (a, b, c, d)))
    key, task_key, task_name, serializer = texts
    never = expiration != expiration  # NaN
    fields = (key, task_key, task_name, created, None if never else expiration, serializer)
    return _metadata((*fields, duration, size))


def _spans(start: int, lengths: tuple[int, ...]) -> list[tuple[int, int]]:
    spans = []
    for length in lengths:
        spans.append((start, length))
        start += length
    return spans


#: A ``RecordMetadata`` from a tuple of its fields, without the keyword handling of its
#: generated ``__new__`` (every cache hit makes one).
_metadata: Any = functools.partial(tuple.__new__, RecordMetadata)


def unpack(blob: bytes, where: str = "<blob>") -> tuple[RecordMetadata, bytes]:
    """(metadata, value bytes) of a record; ``CorruptRecord`` when anything does not check out."""
    version, meta_length, digest = _parse_header(blob, where)
    metadata = _parse_metadata(blob, version, meta_length, where)
    value = blob[HEADER_SIZE + meta_length :]
    if len(value) != metadata.size:
        state = "truncated" if len(value) < metadata.size else "too long"
        raise CorruptRecord(where, f"{state}: value has {len(value)} of {metadata.size} bytes")
    if hashlib.sha256(value).digest() != digest:
        raise CorruptRecord(where, "the value's sha256 does not match the header (damaged)")
    return metadata, value


def _check_key(metadata: RecordMetadata, key: str, where: str) -> RecordMetadata:
    if metadata.key != key:
        raise CorruptRecord(where, f"holds the record of key {metadata.key!r}")
    return metadata


_HERE = "<record>"  # stands for the record's location until an error needs the real one


def read_metadata(storage: ResultStorage, key: str) -> RecordMetadata:
    """The metadata of ``key``'s record from its first bytes; the value is neither read nor loaded."""
    head = storage.read_head(key, _FIRST_READ)
    try:
        version, meta_length, _ = _parse_header(head, _HERE)
        if len(head) < HEADER_SIZE + meta_length:
            head = storage.read_head(key, HEADER_SIZE + meta_length)
        return _check_key(_parse_metadata(head, version, meta_length, _HERE), key, _HERE)
    except CorruptRecord as error:
        raise CorruptRecord(storage.describe(key), error.reason) from None


def load_record(storage: ResultStorage, key: str) -> tuple[RecordMetadata, bytes]:
    """(metadata, verified value bytes) of ``key``; ``RecordMissing`` or ``CorruptRecord``."""
    blob = storage.read(key)
    try:
        metadata, value = unpack(blob, _HERE)
        return _check_key(metadata, key, _HERE), value
    except CorruptRecord as error:  # the location is worked out only when it is reported
        raise CorruptRecord(storage.describe(key), error.reason) from None


def write_record(storage: ResultStorage, metadata: RecordMetadata, value: bytes) -> RecordMetadata:
    """Store ``value`` under ``metadata.key`` atomically; the metadata as stored."""
    storage.write(metadata.key, pack(metadata, value))
    return metadata._replace(size=len(value))
