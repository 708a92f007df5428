"""Result records as files in a local directory (the default: ``RUNNEL_HOME/storage``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from runnel.results.base import ResultStorage, check_key, is_key, is_temporary, temporary_name
from runnel.results.errors import RecordMissing


class LocalFileStorage(ResultStorage):
    """One file per record; written to a temporary file, fsynced, then renamed into place."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from runnel.settings import get_settings

            path = get_settings().results_dir
        self.directory = Path(path).expanduser().absolute()
        self._prefix = os.path.join(self.directory, "")  # the folder with its separator

    @property
    def location(self) -> str:
        return str(self.directory)

    @property
    def local_directory(self) -> Path:
        return self.directory

    def path_of(self, key: str) -> Path:
        """The file that holds the record of ``key``."""
        return self.directory / check_key(key)

    def describe(self, key: str) -> str:
        return str(self.path_of(key))

    def read(self, key: str) -> bytes:
        # os-level calls, not pathlib, and no fstat for a small record: a cache hit's read is
        # much of its cost. A read of a regular file returns less than asked only at its end.
        try:
            fd = os.open(self._prefix + check_key(key), os.O_RDONLY | _O_BINARY)
        except FileNotFoundError:
            raise RecordMissing(key, self.location) from None
        try:
            data = os.read(fd, _SMALL)
            if len(data) == _SMALL:  # maybe a larger one: the rest, to its end
                chunks = [data]
                left = os.fstat(fd).st_size - len(data)
                while left > 0 and (more := os.read(fd, left)):
                    chunks.append(more)
                    left -= len(more)
                data = b"".join(chunks)
            return data
        finally:
            os.close(fd)

    def read_head(self, key: str, n: int) -> bytes:
        try:
            with self.path_of(key).open("rb") as handle:
                return handle.read(n)
        except FileNotFoundError:
            raise RecordMissing(key, self.location) from None

    def write(self, key: str, data: bytes) -> None:
        target = self.path_of(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / temporary_name(key)
        # O_EXCL: the name is fresh; 0o666 lets the umask decide, as for any file the user makes.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
        _fsync_directory(self.directory)

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        try:
            with os.scandir(self.directory) as entries:
                names = [e.name for e in entries if is_key(e.name) and e.is_file()]
        except FileNotFoundError:
            return iter(())
        return iter(sorted(names))

    def remove_partial_writes(self, *, now: float, older_than: float) -> int:
        removed = 0
        try:
            with os.scandir(self.directory) as entries:
                leftovers = [e for e in entries if is_temporary(e.name) and e.is_file()]
        except FileNotFoundError:
            return 0
        for entry in leftovers:
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime <= now - older_than:
                    os.unlink(entry.path)
                    removed += 1
        return removed


_O_BINARY = getattr(os, "O_BINARY", 0)
_SMALL = 16384  # read in one call; larger records are sized with fstat first


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself survive a power cut (POSIX; a no-op where directories can't open)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
