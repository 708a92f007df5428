"""Where results are stored: the ``ResultStorage`` seam, its implementations, ``storage_from``."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from runnel.exceptions import ConfigurationError
from runnel.results.base import ResultStorage, check_key
from runnel.results.fsspec_storage import FsspecStorage
from runnel.results.local import LocalFileStorage

__all__ = ["FsspecStorage", "LocalFileStorage", "ResultStorage", "check_key", "storage_from"]


def storage_from(value: ResultStorage | str | os.PathLike[str] | None = None) -> ResultStorage:
    """A storage from a path, a URL (``file://`` is local; others need fsspec) or itself.

    None gives the default: ``LocalFileStorage`` at the ``results_dir`` setting.
    """
    if value is None:
        return LocalFileStorage()
    if isinstance(value, ResultStorage):
        return value
    if isinstance(value, os.PathLike):
        return LocalFileStorage(value)
    if isinstance(value, str) and value.strip():
        if "://" not in value:
            return LocalFileStorage(value)
        parts = urlsplit(value)
        if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
            if parts.query or parts.fragment:
                raise ConfigurationError(f"result storage {value!r}: a file URL takes no ? or #")
            from urllib.request import url2pathname  # only here: urllib.request is slow to import

            return LocalFileStorage(url2pathname(parts.path))
        return FsspecStorage(value)
    raise ConfigurationError(
        f"result storage {value!r} is not usable: give a directory path, a URL such as "
        "'file:///data/results' or 's3://bucket/prefix', or a ResultStorage"
    )
