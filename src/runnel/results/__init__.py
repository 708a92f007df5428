"""Result storage: serializers, storages, the record format, per-key locks and housekeeping."""

from runnel.results.errors import CorruptRecord, LockTimeout, RecordMissing, SerializationError
from runnel.results.gc import collect_expired, list_records
from runnel.results.locks import KeyLock
from runnel.results.records import (
    RecordMetadata,
    load_record,
    pack,
    read_metadata,
    unpack,
    write_record,
)
from runnel.results.serializers import (
    CompressedSerializer,
    JSONSerializer,
    PickleSerializer,
    Serializer,
    get_serializer,
)
from runnel.results.storage import FsspecStorage, LocalFileStorage, ResultStorage, storage_from

__all__ = [
    "CompressedSerializer",
    "CorruptRecord",
    "FsspecStorage",
    "JSONSerializer",
    "KeyLock",
    "LocalFileStorage",
    "LockTimeout",
    "PickleSerializer",
    "RecordMetadata",
    "RecordMissing",
    "ResultStorage",
    "SerializationError",
    "Serializer",
    "collect_expired",
    "get_serializer",
    "list_records",
    "load_record",
    "pack",
    "read_metadata",
    "storage_from",
    "unpack",
    "write_record",
]
