"""Single flight: one holder per cache key, so a result missing in two places is computed once.

A ``KeyLock`` serialises the threads of this process with a per-key ``threading.Lock`` and,
when the records are on this machine, the processes too with ``flock`` on
``<results dir>/.locks/<key>.lock``. The holder removes the lock file before unlocking it, and
a waiter that then gets the lock checks that its file is still the one at the path, so the
folder does not fill up and two holders never meet. Not re-entrant. Where ``fcntl`` is missing
(Windows), threads only.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

from runnel.clock import REAL_CLOCK, Clock
from runnel.results.base import ResultStorage, check_key
from runnel.results.errors import LockTimeout

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FOLDER = ".locks"
_MAX_POLL = 0.05

# (directory or "", key) -> [lock, number of KeyLocks using it]; entries go when unused.
_thread_locks: dict[tuple[str, str], tuple[threading.Lock, int]] = {}
_registry = threading.Lock()


def _checkout(slot: tuple[str, str]) -> threading.Lock:
    with _registry:
        lock, users = _thread_locks.get(slot, (threading.Lock(), 0))
        _thread_locks[slot] = (lock, users + 1)
        return lock


def _checkin(slot: tuple[str, str]) -> None:
    with _registry:
        lock, users = _thread_locks[slot]
        if users <= 1:
            del _thread_locks[slot]
        else:
            _thread_locks[slot] = (lock, users - 1)


class KeyLock:
    """Hold ``key`` against other threads and, when ``directory`` is given, other processes."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | None,
        key: str,
        *,
        timeout: float | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.key = check_key(key)
        self.directory = None if directory is None else Path(directory).absolute()
        self.timeout = timeout
        self.clock = clock
        self._slot = ("" if self.directory is None else str(self.directory), self.key)
        self._thread_lock: threading.Lock | None = None
        self._fd: int | None = None

    @classmethod
    def for_storage(
        cls,
        storage: ResultStorage,
        key: str,
        *,
        timeout: float | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> KeyLock:
        """The lock of ``key`` in ``storage``: across processes when its records are local."""
        return cls(storage.local_directory, key, timeout=timeout, clock=clock)

    @property
    def path(self) -> Path | None:
        """The lock file, or None when only threads are held off."""
        return None if self.directory is None else self.directory / LOCK_FOLDER / f"{self.key}.lock"

    @property
    def held(self) -> bool:
        return self._thread_lock is not None

    def acquire(self) -> None:
        """Wait until the key is ours; ``LockTimeout`` after ``timeout`` seconds."""
        if self._thread_lock is not None:
            raise RuntimeError(f"the lock of {self.key!r} is already held by this KeyLock")
        deadline = None if self.timeout is None else self.clock.monotonic() + self.timeout
        lock = _checkout(self._slot)
        try:
            if not self._acquire_thread_lock(lock, deadline):
                raise self._timeout()
            try:
                if self.path is not None and fcntl is not None:
                    self._fd = self._acquire_file(self.path, deadline)
            except BaseException:
                lock.release()
                raise
        except BaseException:
            _checkin(self._slot)
            raise
        self._thread_lock = lock

    def release(self) -> None:
        """Give the key up; the next waiter gets it."""
        lock, self._thread_lock = self._thread_lock, None
        if lock is None:
            raise RuntimeError(f"the lock of {self.key!r} is not held")
        fd, self._fd = self._fd, None
        try:
            if fd is not None and fcntl is not None and self.path is not None:
                try:
                    self.path.unlink(missing_ok=True)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
        finally:
            lock.release()
            _checkin(self._slot)

    def __enter__(self) -> KeyLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _timeout(self) -> LockTimeout:
        where = str(self.path) if self.path is not None else "held in this process"
        return LockTimeout(self.key, self.timeout or 0.0, where)

    def _remaining(self, deadline: float) -> float:
        return deadline - self.clock.monotonic()

    def _acquire_thread_lock(self, lock: threading.Lock, deadline: float | None) -> bool:
        if deadline is None:
            return lock.acquire()
        remaining = self._remaining(deadline)
        return lock.acquire(timeout=remaining) if remaining > 0 else lock.acquire(blocking=False)

    def _acquire_file(self, path: Path, deadline: float | None) -> int:
        assert fcntl is not None
        while True:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                self._flock(fd, deadline)
                if _is_linked_at(fd, path):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the holder before us removed this file: lock the new one

    def _flock(self, fd: int, deadline: float | None) -> None:
        assert fcntl is not None
        if deadline is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                remaining = self._remaining(deadline)
                if remaining <= 0:
                    raise self._timeout() from None
                self.clock.sleep(min(pause, remaining))
                pause = min(pause * 2, _MAX_POLL)


def _is_linked_at(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path``."""
    try:
        linked = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (linked.st_dev, linked.st_ino)
