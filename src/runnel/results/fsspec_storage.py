"""Result records on any fsspec filesystem: ``file://``, ``memory://``, ``s3://``, ``gs://`` ..."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

from runnel.exceptions import ConfigurationError
from runnel.results.base import ResultStorage, check_key, is_key, is_temporary, temporary_name
from runnel.results.errors import RecordMissing

# Object stores publish an object whole or not at all, and have no rename (``mv`` is a copy
# then a delete), so one plain PUT is the atomic write there.
_SINGLE_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"})


def import_fsspec(url: str) -> Any:
    """The fsspec module, or a ConfigurationError saying how to install it."""
    try:
        import fsspec
    except ImportError:
        raise ConfigurationError(
            f"result storage {url!r} needs fsspec: pip install 'runnel[fsspec]' "
            "(and the filesystem's own package, such as s3fs for s3://)"
        ) from None
    return fsspec


class FsspecStorage(ResultStorage):
    """One object per record under ``url``; atomic by temporary name + move, or by one PUT."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        fsspec = import_fsspec(url)
        try:
            fs, root = fsspec.core.url_to_fs(url, **storage_options)
        except ImportError as error:
            raise ConfigurationError(f"result storage {url!r} needs a package: {error}") from None
        except ValueError as error:
            raise ConfigurationError(f"result storage {url!r} cannot be used: {error}") from None
        self.url = url
        self.fs = fs
        self.root = str(root).rstrip("/")
        protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
        self._single_put = bool(protocols & _SINGLE_PUT_PROTOCOLS)

    @property
    def location(self) -> str:
        return self.url

    @property
    def local_directory(self) -> Path | None:
        from fsspec.implementations.local import LocalFileSystem

        return Path(self.root) if isinstance(self.fs, LocalFileSystem) else None

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def read(self, key: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except FileNotFoundError:
            raise RecordMissing(key, self.location) from None

    def read_head(self, key: str, n: int) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._path(key), start=0, end=n))
        except FileNotFoundError:
            raise RecordMissing(key, self.location) from None

    def write(self, key: str, data: bytes) -> None:
        target = self._path(key)
        if self._single_put:
            self.fs.pipe_file(target, data)
            return
        self.fs.makedirs(self.root, exist_ok=True)
        temporary = f"{self.root}/{temporary_name(key)}"
        try:
            with self.fs.open(temporary, "wb") as handle:
                handle.write(data)
                _fsync_if_local(handle)
            self.fs.mv(temporary, target)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(temporary)
            raise

    def exists(self, key: str) -> bool:
        return bool(self.fs.isfile(self._path(key)))

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def _names(self) -> list[tuple[str, str]]:
        """(name, path) of every file directly under the root."""
        self.fs.invalidate_cache(self.root)
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return []
        return [
            (str(e["name"]).rstrip("/").rsplit("/", 1)[-1], str(e["name"]))
            for e in entries
            if e.get("type") == "file"
        ]

    def keys(self) -> Iterator[str]:
        return iter(sorted(name for name, _ in self._names() if is_key(name)))

    def remove_partial_writes(self, *, now: float, older_than: float) -> int:
        removed = 0
        for name, path in self._names():
            if not is_temporary(name):
                continue
            try:
                modified = self.fs.modified(path)
            except (NotImplementedError, OSError):
                continue
            if modified.tzinfo is None:
                modified = modified.replace(tzinfo=UTC)
            if modified.timestamp() <= now - older_than:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(path)
                    removed += 1
        return removed


def _fsync_if_local(handle: Any) -> None:
    """fsync a file that has a descriptor on this machine; other files have nothing to sync."""
    handle.flush()
    try:
        fd = handle.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return
    if isinstance(fd, int):
        os.fsync(fd)
