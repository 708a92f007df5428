"""runnel.results: serializers, storages, the record format, per-key locks and housekeeping."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runnel.clock import FakeClock
from runnel.exceptions import ConfigurationError
from runnel.results import (
    CompressedSerializer,
    CorruptRecord,
    FsspecStorage,
    JSONSerializer,
    KeyLock,
    LocalFileStorage,
    LockTimeout,
    PickleSerializer,
    RecordMetadata,
    RecordMissing,
    ResultStorage,
    SerializationError,
    collect_expired,
    get_serializer,
    list_records,
    load_record,
    pack,
    read_metadata,
    storage_from,
    unpack,
    write_record,
)
from runnel.results.base import temporary_name
from runnel.results.records import HEADER_SIZE

NOW = 1_700_000_000.0
KEY = "0123456789abcdef"


def metadata(
    key: str = KEY, *, expiration: float | None = None, **changes: object
) -> RecordMetadata:
    values: dict[str, object] = {
        "key": key,
        "task_key": "mod.fetch-1a2b",
        "task_name": "fetch",
        "created": NOW,
        "expiration": expiration,
        "serializer": "pickle",
        "duration_seconds": 1.25,
    }
    values.update(changes)
    return RecordMetadata(**values)  # type: ignore[arg-type]


def spawn(code: str, *args: str) -> subprocess.Popen[bytes]:
    """A child Python process running ``code`` with ``args`` in ``sys.argv[1:]``."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args])


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


def kill(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=20) == -signal.SIGKILL


# --- serializers ---------------------------------------------------------------------------

SERIALIZER_NAMES = ["pickle", "json", "compressed/pickle", "compressed/json"]
JSON_VALUE = {"a": [1, 2, "x"], "b": None, "c": 1.5, "d": True, "é": "naïve ☃"}


@pytest.mark.parametrize("name", SERIALIZER_NAMES)
def test_serializers_round_trip_and_keep_their_name(name: str) -> None:
    serializer = get_serializer(name)
    assert serializer.name == name
    data = serializer.dumps(JSON_VALUE)
    assert isinstance(data, bytes)
    assert serializer.loads(data) == JSON_VALUE
    assert get_serializer(serializer.name).loads(data) == JSON_VALUE  # a record names its reader


@pytest.mark.parametrize("name", ["pickle", "compressed/pickle"])
def test_pickle_serializer_stores_lambdas_and_local_classes(name: str) -> None:
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    serializer = get_serializer(name)
    triple = serializer.loads(serializer.dumps(lambda x: x * 3))
    assert triple(7) == 21
    assert serializer.loads(serializer.dumps(Point(4))).x == 4


def test_pickle_serializer_explains_an_unpicklable_value() -> None:
    with pytest.raises(SerializationError, match="cannot pickle a value of type 'lock'"):
        PickleSerializer().dumps(threading.Lock())


def test_compressed_serializer_compresses_and_wraps_any_serializer() -> None:
    value = ["the same words again"] * 2000
    assert len(CompressedSerializer("json").dumps(value)) * 20 < len(JSONSerializer().dumps(value))
    assert CompressedSerializer(JSONSerializer()).name == "compressed/json"
    assert get_serializer("compressed").name == "compressed/pickle"
    with pytest.raises(SerializationError, match="not zlib data"):
        CompressedSerializer().loads(b"plain bytes")


def test_json_serializer_writes_utf8_and_names_what_it_cannot_store() -> None:
    assert JSONSerializer().dumps("naïve") == '"naïve"'.encode()
    with pytest.raises(SerializationError) as error:
        JSONSerializer().dumps({"ids": {1, 2}})
    message = str(error.value)
    assert "json result serializer" in message and "'dict'" in message and "set" in message
    assert "result_serializer='pickle'" in message
    with pytest.raises(SerializationError, match="finite float"):
        JSONSerializer().dumps(float("nan"))


def test_get_serializer_default_instances_and_bad_names() -> None:
    assert get_serializer(None).name == "pickle"
    mine = JSONSerializer()
    assert get_serializer(mine) is mine
    with pytest.raises(ConfigurationError) as error:
        get_serializer("yaml")
    assert "'yaml'" in str(error.value) and "compressed/json" in str(error.value)
    with pytest.raises(ConfigurationError, match="neither a name nor an object"):
        get_serializer(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown result serializer"):
        CompressedSerializer("compressed/yaml")


# --- storages: one contract, every implementation ------------------------------------------


def _memory_storage() -> Iterator[ResultStorage]:
    storage = FsspecStorage(f"memory://runnel-test-{uuid.uuid4().hex}/results")
    yield storage
    with contextlib.suppress(FileNotFoundError):
        storage.fs.rm(storage.root.rsplit("/", 1)[0], recursive=True)


@pytest.fixture(params=["local", "fsspec-file", "fsspec-memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResultStorage]:
    if request.param == "local":
        yield LocalFileStorage(tmp_path / "results")
    elif request.param == "fsspec-file":
        yield FsspecStorage((tmp_path / "results").as_uri())
    else:
        yield from _memory_storage()


def test_storage_write_read_exists_delete_keys(storage: ResultStorage) -> None:
    assert list(storage.keys()) == []
    assert not storage.exists(KEY)
    storage.write(KEY, b"first")
    storage.write("ff00", b"")
    assert storage.read(KEY) == b"first" and storage.read("ff00") == b""
    assert storage.exists(KEY)
    storage.write(KEY, b"second, longer than the first")
    assert storage.read(KEY) == b"second, longer than the first"
    assert storage.read_head(KEY, 6) == b"second"
    assert storage.read_head(KEY, 10_000) == b"second, longer than the first"
    assert list(storage.keys()) == sorted([KEY, "ff00"])
    storage.delete(KEY)
    storage.delete(KEY)  # deleting what is not there is fine
    assert not storage.exists(KEY)
    assert list(storage.keys()) == ["ff00"]


def test_storage_read_of_a_missing_key_is_a_key_error(storage: ResultStorage) -> None:
    for read in (lambda: storage.read(KEY), lambda: storage.read_head(KEY, 10)):
        with pytest.raises(RecordMissing) as error:
            read()
        assert isinstance(error.value, KeyError)
        assert KEY in str(error.value) and storage.location in str(error.value)


@pytest.mark.parametrize("bad", ["../escape", "a/b", "a\\b", ".hidden", "", "x" * 201, "a\x00b"])
def test_storage_refuses_keys_that_could_name_other_paths(storage: ResultStorage, bad: str) -> None:
    for call in (
        lambda: storage.write(bad, b"x"),
        lambda: storage.read(bad),
        lambda: storage.exists(bad),
        lambda: storage.delete(bad),
    ):
        with pytest.raises(ConfigurationError, match="no path separators"):
            call()


def test_storage_keys_never_list_writes_in_progress(storage: ResultStorage) -> None:
    storage.write(KEY, b"whole")
    leftover = temporary_name(KEY)
    if isinstance(storage, LocalFileStorage):
        (storage.directory / leftover).write_bytes(b"half")
    else:
        assert isinstance(storage, FsspecStorage)
        storage.fs.pipe_file(f"{storage.root}/{leftover}", b"half")
    assert list(storage.keys()) == [KEY]
    assert storage.remove_partial_writes(now=time.time(), older_than=3600) == 0
    assert storage.remove_partial_writes(now=time.time() + 7200, older_than=3600) == 1
    assert list(storage.keys()) == [KEY] and storage.read(KEY) == b"whole"


def test_storages_pickle(storage: ResultStorage) -> None:
    storage.write(KEY, b"value")
    assert pickle.loads(pickle.dumps(storage)).read(KEY) == b"value"


# --- storage_from ---------------------------------------------------------------------------


def test_storage_from_paths_urls_and_instances(tmp_path: Path, runnel_home: Path) -> None:
    default = storage_from(None)
    assert isinstance(default, LocalFileStorage) and default.directory == runnel_home / "storage"
    for value in (tmp_path / "r", str(tmp_path / "r"), (tmp_path / "r").as_uri()):
        made = storage_from(value)
        assert isinstance(made, LocalFileStorage) and made.directory == tmp_path / "r"
    spaced = storage_from((tmp_path / "with space%").as_uri())
    assert isinstance(spaced, LocalFileStorage) and spaced.directory == tmp_path / "with space%"
    memory = storage_from("memory://runnel-storage-from")
    assert isinstance(memory, FsspecStorage) and memory.location == "memory://runnel-storage-from"
    assert storage_from(memory) is memory


def test_storage_from_explains_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (42, "", "   "):
        with pytest.raises(ConfigurationError, match="a directory path, a URL"):
            storage_from(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Protocol not known"):
        storage_from("nope://bucket/results")
    monkeypatch.setitem(sys.modules, "fsspec", None)
    with pytest.raises(ConfigurationError, match=r"needs fsspec: pip install 'runnel\[fsspec\]'"):
        storage_from("memory://results")


# --- atomic writes under SIGKILL ------------------------------------------------------------

_HANG_IN_FSYNC = """
    import os, sys, time
    from pathlib import Path
    from runnel.results import FsspecStorage, LocalFileStorage

    kind, target, marker = sys.argv[1:]
    storage = LocalFileStorage(target) if kind == "local" else FsspecStorage(Path(target).as_uri())

    def hang(fd):  # every byte is in the temporary file; it is not renamed yet
        Path(marker).touch()
        time.sleep(600)

    os.fsync = hang
    storage.write("0123456789abcdef", os.urandom(1 << 22))
"""


@pytest.mark.parametrize("kind", ["local", "fsspec-file"])
def test_a_writer_killed_before_the_rename_leaves_the_old_record(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "results"
    storage = LocalFileStorage(target) if kind == "local" else FsspecStorage(target.as_uri())
    old = write_record(storage, metadata(), b"the old value")
    marker = tmp_path / "in-fsync"
    child = spawn(_HANG_IN_FSYNC, kind, str(target), str(marker))
    try:
        wait_for(marker.exists, "the child to reach fsync")
    finally:
        kill(child)
    leftovers = [p for p in target.iterdir() if p.name.startswith(f".{KEY}.")]
    assert len(leftovers) == 1 and leftovers[0].stat().st_size == 1 << 22
    assert load_record(storage, KEY) == (old, b"the old value")
    assert list(storage.keys()) == [KEY]
    assert storage.remove_partial_writes(now=time.time() + 7200, older_than=3600) == 1
    assert [p.name for p in target.iterdir()] == [KEY]


_WRITE_FOREVER = """
    import sys
    from runnel.results import LocalFileStorage, RecordMetadata, pack

    storage = LocalFileStorage(sys.argv[1])
    meta = RecordMetadata("0123456789abcdef", "t", "t", 0.0, None, "raw", 0.0)
    blobs = [pack(meta, bytes([n]) * ((1 << 22) + n)) for n in (1, 2)]
    n = 0
    while True:  # all of its time in write(), so a kill lands in the middle of one
        n += 1
        storage.write("0123456789abcdef", blobs[n % 2])
"""


def test_a_writer_killed_at_any_moment_never_leaves_a_partial_record(tmp_path: Path) -> None:
    target = tmp_path / "results"
    storage = LocalFileStorage(target)
    for pause in (0.0, 0.003, 0.011, 0.023, 0.041, 0.067):
        child = spawn(_WRITE_FOREVER, str(target))
        try:
            wait_for(lambda: storage.exists(KEY), "the first record")
            time.sleep(pause)
        finally:
            kill(child)
        meta, value = load_record(storage, KEY)  # raises CorruptRecord if half-written
        assert len(value) == meta.size and len(set(value)) == 1
        assert list(storage.keys()) == [KEY]


# --- the record format ----------------------------------------------------------------------


def test_pack_and_unpack_round_trip() -> None:
    blob = pack(metadata(expiration=NOW + 60), b"value bytes")
    meta, value = unpack(blob)
    assert value == b"value bytes"
    assert meta == metadata(expiration=NOW + 60, size=len(b"value bytes"))
    assert blob[:4] == b"RNLR"


def _corrupt_cases() -> list[tuple[str, Callable[[bytes], bytes], str]]:
    def flip(i: int) -> Callable[[bytes], bytes]:
        return lambda blob: blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1 :]

    return [
        ("flipped value byte", flip(-5), "sha256 does not match"),
        ("truncated value", lambda blob: blob[:-3], "truncated: value has"),
        ("extra bytes", lambda blob: blob + b"!", "too long"),
        ("truncated header", lambda blob: blob[:10], "no complete header"),
        ("empty file", lambda blob: b"", "no complete header"),
        ("truncated metadata", lambda blob: blob[: HEADER_SIZE + 5], "metadata ends at byte"),
        ("bad magic", lambda blob: b"PK\x03\x04" + blob[4:], "wrong magic bytes"),
        ("newer format", lambda blob: blob[:4] + b"\x00\x09" + blob[6:], "record format 9"),
        ("text lengths", lambda blob: _add_to_key_length(blob, 1), "do not add up"),
        ("undecodable text", lambda blob: blob.replace(KEY.encode(), b"\xff" + KEY[1:].encode()), "unreadable"),
        # Format 1 (JSON metadata), as an earlier runnel wrote it, damaged.
        ("damaged format 1", lambda blob: _format_1(blob).replace(b'"key"', b'"kex"'), "has no 'key'"),
        ("wrong type in format 1", lambda blob: _format_1(blob).replace(b'"created":', b'"created":"'), "unreadable"),
    ]  # fmt: skip


def _add_to_key_length(blob: bytes, more: int) -> bytes:
    at = HEADER_SIZE + 32  # after three doubles and the size: the key's byte length (u32)
    length = int.from_bytes(blob[at : at + 4], "big") + more
    return blob[:at] + length.to_bytes(4, "big") + blob[at + 4 :]


def _format_1(blob: bytes) -> bytes:
    """The same record as format 1 wrote it: the metadata as a JSON object."""
    meta, value = unpack(blob)
    text = json.dumps(meta.to_dict(), sort_keys=True, separators=(",", ":")).encode()
    return b"RNLR\x00\x01" + len(text).to_bytes(4, "big") + blob[10:HEADER_SIZE] + text + value


def test_a_record_of_format_1_is_still_read(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    written = write_record(storage, metadata(expiration=NOW + 60), b"the value")
    path = storage.path_of(KEY)
    path.write_bytes(_format_1(path.read_bytes()))
    assert path.read_bytes()[4:6] == b"\x00\x01"
    assert load_record(storage, KEY) == (written, b"the value")
    assert read_metadata(storage, KEY) == written


@pytest.mark.parametrize(
    ("damage", "reason"), [c[1:] for c in _corrupt_cases()], ids=[c[0] for c in _corrupt_cases()]
)
def test_a_damaged_record_is_corrupt_with_its_path(
    tmp_path: Path, damage: Callable[[bytes], bytes], reason: str
) -> None:
    storage = LocalFileStorage(tmp_path)
    write_record(storage, metadata(), b"some value bytes")
    path = storage.path_of(KEY)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptRecord) as error:
        load_record(storage, KEY)
    assert str(path) in str(error.value) and reason in str(error.value)
    assert error.value.where == str(path)
    revived = pickle.loads(pickle.dumps(error.value))
    assert str(revived) == str(error.value)


def test_a_record_under_another_key_is_corrupt(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    write_record(storage, metadata(), b"v")
    storage.write("beef", storage.read(KEY))
    for read in (load_record, read_metadata):
        with pytest.raises(CorruptRecord, match=f"holds the record of key '{KEY}'"):
            read(storage, "beef")


class CountingStorage(LocalFileStorage):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads = 0
        self.heads: list[int] = []

    def read(self, key: str) -> bytes:
        self.reads += 1
        return super().read(key)

    def read_head(self, key: str, n: int) -> bytes:
        self.heads.append(n)
        return super().read_head(key, n)


def _refuse(*args: object) -> None:
    raise AssertionError("read_metadata must not deserialize the value")


def test_read_metadata_reads_only_the_head_and_never_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = CountingStorage(tmp_path)
    value = PickleSerializer().dumps(list(range(300_000)))
    write_record(storage, metadata(), value)
    write_record(storage, metadata("abcd", task_name="t" * 10_000, serializer="json"), b"[1]")
    for cls in (PickleSerializer, JSONSerializer, CompressedSerializer):
        monkeypatch.setattr(cls, "loads", _refuse)
    monkeypatch.setattr(pickle, "loads", _refuse)

    assert read_metadata(storage, KEY) == metadata(size=len(value))
    assert storage.reads == 0 and max(storage.heads) < 5000 < len(value)
    long_name = read_metadata(storage, "abcd")  # metadata longer than the first read
    assert long_name.task_name == "t" * 10_000 and long_name.size == 3
    assert storage.reads == 0


def test_expiration_is_decided_by_the_given_time() -> None:
    assert not metadata(expiration=None).is_expired(NOW + 10**9)
    expiring = metadata(expiration=NOW + 60)
    assert not expiring.is_expired(NOW + 59.999)
    assert expiring.is_expired(NOW + 60)
    assert expiring.is_expired(NOW + 61)


# --- housekeeping ---------------------------------------------------------------------------


def test_collect_expired_deletes_expired_and_corrupt_records(
    storage: ResultStorage, caplog: pytest.LogCaptureFixture
) -> None:
    write_record(storage, metadata("aa01", expiration=NOW - 1), b"old")
    write_record(storage, metadata("aa02", expiration=NOW + 1), b"fresh")
    write_record(storage, metadata("aa03"), b"forever")
    # A damaged record is garbage; a file that is no runnel record at all is left alone.
    storage.write("aa04", pack(metadata("aa04"), b"value")[:10])
    storage.write("aa06", b"not a record: somebody else's file")
    write_record(storage, metadata("aa05", expiration=NOW - 1), b"being recomputed")
    with caplog.at_level(logging.WARNING, "runnel.results"), KeyLock.for_storage(storage, "aa05"):
        assert collect_expired(storage, NOW) == 2
    assert list(storage.keys()) == ["aa02", "aa03", "aa05", "aa06"]
    assert "aa04" in caplog.text and "deleted" in caplog.text
    assert "aa06" in caplog.text and "left alone" in caplog.text
    assert collect_expired(storage, NOW + 1) == 2  # aa02 is now expired; aa05 is unlocked
    assert list(storage.keys()) == ["aa03", "aa06"]


def test_list_records_is_oldest_first_and_reports_corrupt_ones(
    storage: ResultStorage, caplog: pytest.LogCaptureFixture
) -> None:
    write_record(storage, metadata("bb02", created=NOW + 5), b"22")
    write_record(storage, metadata("bb01", created=NOW), b"1")
    storage.write("bb03", b"\x00")
    corrupt: list[CorruptRecord] = []
    listed = list_records(storage, on_corrupt=corrupt.append)
    assert [(r.key, r.size) for r in listed] == [("bb01", 1), ("bb02", 2)]
    assert [e.where for e in corrupt] == [storage.describe("bb03")]
    with caplog.at_level(logging.WARNING, "runnel.results"):
        assert len(list_records(storage)) == 2
    assert storage.describe("bb03") in caplog.text


# --- per-key locks --------------------------------------------------------------------------

_HOLD_IN_TURNS = """
    import sys, time
    from pathlib import Path
    from runnel.results import KeyLock

    directory, out, go = sys.argv[1:]
    while not Path(go).exists():
        time.sleep(0.001)
    with open(out, "w") as log:
        for _ in range(15):
            with KeyLock(directory, "cafe"):
                entered = time.monotonic()
                time.sleep(0.004)
                log.write(f"{entered} {time.monotonic()}\\n")
"""


def _no_overlap(intervals: list[tuple[float, float]]) -> None:
    intervals.sort()
    for (_, exit_), (enter, _) in zip(intervals, intervals[1:], strict=False):
        assert exit_ <= enter, "two holders of one key at once"


def test_processes_hold_one_key_in_turns(tmp_path: Path) -> None:
    go = tmp_path / "go"
    outs = [tmp_path / f"holder-{i}.txt" for i in range(3)]
    children = [spawn(_HOLD_IN_TURNS, str(tmp_path), str(out), str(go)) for out in outs]
    go.touch()
    assert [child.wait(timeout=60) for child in children] == [0, 0, 0]
    intervals = [
        (float(a), float(b))
        for out in outs
        for a, b in (line.split() for line in out.read_text().splitlines())
    ]
    assert len(intervals) == 45
    _no_overlap(intervals)
    assert list((tmp_path / ".locks").iterdir()) == []  # each holder removes its lock file


@pytest.mark.parametrize("directory", ["local", None])
def test_threads_hold_one_key_in_turns(tmp_path: Path, directory: str | None) -> None:
    where = tmp_path if directory else None
    intervals: list[tuple[float, float]] = []

    def work() -> None:
        for _ in range(20):
            with KeyLock(where, "cafe"):
                entered = time.monotonic()
                time.sleep(0.0005)
                intervals.append((entered, time.monotonic()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(intervals) == 80
    _no_overlap(intervals)


_HOLD_UNTIL_TOLD = """
    import sys, time
    from pathlib import Path
    from runnel.results import KeyLock

    directory, held, release = sys.argv[1:]
    with KeyLock(directory, "aa"):
        Path(held).touch()
        while not Path(release).exists():
            time.sleep(0.001)
"""


def test_a_key_held_elsewhere_times_out_clearly_and_other_keys_do_not_wait(
    tmp_path: Path,
) -> None:
    held, release = tmp_path / "held", tmp_path / "release"
    child = spawn(_HOLD_UNTIL_TOLD, str(tmp_path), str(held), str(release))
    try:
        wait_for(held.exists, "the child to hold the key")
        with KeyLock(tmp_path, "bb", timeout=0):
            pass
        started = time.monotonic()
        with pytest.raises(LockTimeout) as error:
            KeyLock(tmp_path, "aa", timeout=0.2).acquire()
        assert 0.2 <= time.monotonic() - started < 5
        message = str(error.value)
        assert "0.2 s" in message and "'aa'" in message and ".locks" in message
        assert isinstance(error.value, TimeoutError)
        clock = FakeClock()
        with pytest.raises(LockTimeout):
            KeyLock(tmp_path, "aa", timeout=30, clock=clock).acquire()
        assert sum(clock.slept) == pytest.approx(30)
        release.touch()
        with KeyLock(tmp_path, "aa", timeout=20) as lock:
            assert lock.held
        assert not lock.held
    finally:
        release.touch()
        assert child.wait(timeout=20) == 0


def test_the_key_of_a_killed_holder_is_free(tmp_path: Path) -> None:
    held = tmp_path / "held"
    child = spawn(_HOLD_UNTIL_TOLD, str(tmp_path), str(held), str(tmp_path / "never"))
    try:
        wait_for(held.exists, "the child to hold the key")
    finally:
        kill(child)
    with KeyLock(tmp_path, "aa", timeout=5):
        pass


def test_threads_only_lock_times_out_and_misuse_is_refused() -> None:
    with KeyLock(None, "aa"), ThreadPoolExecutor(1) as pool:
        error = pool.submit(KeyLock(None, "aa", timeout=0.05).acquire).exception()
        assert isinstance(error, LockTimeout) and "held in this process" in str(error)
        with KeyLock(None, "bb", timeout=0):
            pass
    lock = KeyLock(None, "aa")
    with pytest.raises(RuntimeError, match="not held"):
        lock.release()
    with lock, pytest.raises(RuntimeError, match="already held"):
        lock.acquire()
    with pytest.raises(ConfigurationError):
        KeyLock(None, "../aa")


def test_collecting_garbage_never_deletes_files_that_are_not_records(tmp_path: Path) -> None:
    """A storage pointed at the wrong folder by mistake loses nothing but runnel's own files."""
    from runnel.results import LocalFileStorage, collect_expired

    folder = tmp_path / "not-a-cache"
    folder.mkdir()
    (folder / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / ".notes.tmp").write_text("mine")
    old = 1_000.0
    os.utime(folder / ".notes.tmp", (old, old))
    damaged = folder / "a"
    damaged.write_bytes(b"RNLR" + b"\x00" * 3)  # a runnel record, truncated: garbage
    assert collect_expired(LocalFileStorage(folder), now=10_000_000.0) == 1
    left = sorted(p.name for p in folder.iterdir() if p.name != ".locks")
    assert left == [".notes.tmp", "passwd"]


@pytest.mark.parametrize("file_size", [16_383, 16_384, 16_385, 3 * 16_384])
def test_records_around_the_first_read_size_are_read_whole(tmp_path: Path, file_size: int) -> None:
    storage = LocalFileStorage(tmp_path)
    overhead = len(pack(metadata(), b""))
    value = os.urandom(file_size - overhead)
    write_record(storage, metadata(), value)
    assert storage.path_of(KEY).stat().st_size == file_size
    assert load_record(storage, KEY)[1] == value


def test_texts_that_are_not_ascii_round_trip() -> None:
    meta = metadata(task_key="módulo.tâche", task_name="tâche-名前", serializer="pickle")
    assert unpack(pack(meta, b"v")) == (meta._replace(size=1), b"v")
