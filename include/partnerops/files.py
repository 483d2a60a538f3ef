"""Opening input files (agreements, evidence feeds) without surprises.

An input path may be anything a user or a sender left in a folder: a named pipe that
blocks a reader forever, a device such as `/dev/zero` that never ends, a folder named
like a file, or a file nobody may read. `open_input()` checks what the path is before
reading a byte: it opens without blocking, looks at what it opened, and only hands back
a regular file of bounded size. Anything else is an `UnreadableFile` whose message says
what the path is and what to do, for the caller to report against that file alone.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["UnreadableFile", "open_input", "read_input"]


class UnreadableFile(Exception):
    """A path that cannot be read as an input file; the message is the reason, for the user."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_regular(path: Path, mode: int) -> UnreadableFile:
    link = f" (a link to {os.path.realpath(path)})" if path.is_symlink() else ""
    return UnreadableFile(f"is {_kind(mode)}{link}, not a regular file; only regular files are read")


def _os_error(path: Path, exc: OSError) -> UnreadableFile:
    if exc.errno == errno.ENOENT:
        if path.is_symlink():
            return UnreadableFile(f"is a link to {os.readlink(path)}, which does not exist")
        return UnreadableFile("no such file or folder")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UnreadableFile("cannot be read: permission denied; give the loading user read access")
    return UnreadableFile(f"cannot be read: {exc.strerror or exc}")


def open_input(path: Path, max_bytes: int) -> BinaryIO:
    """`path` opened for reading, if it is a regular file of at most `max_bytes` bytes.

    Raises `UnreadableFile` otherwise. The returned file reads at most `max_bytes` bytes,
    so a file that grows while it is read cannot make the reader run on without end.
    """
    path = Path(path)
    try:
        before = os.stat(path)  # follows links: a link to /dev/zero is a device
    except OSError as exc:
        raise _os_error(path, exc) from None
    if not stat.S_ISREG(before.st_mode):
        raise _not_regular(path, before.st_mode)
    try:
        # Never blocks, even if the path was swapped for a named pipe since the stat above.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise _os_error(path, exc) from None
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise _not_regular(path, opened.st_mode)
        if opened.st_size > max_bytes:
            raise UnreadableFile(f"is {opened.st_size:,} bytes, more than the {max_bytes:,} allowed")
        os.set_blocking(fd, True)
        return _Bounded(os.fdopen(fd, "rb", closefd=True), max_bytes)  # type: ignore[return-value]
    except BaseException:
        try:
            os.close(fd)
        except OSError:
            pass
        raise


def read_input(path: Path, max_bytes: int) -> bytes:
    """The whole content of a regular file of at most `max_bytes` bytes; `UnreadableFile` otherwise."""
    with open_input(path, max_bytes) as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise _os_error(Path(path), exc) from None


class _Bounded:
    """A binary file that raises `UnreadableFile` once more than `limit` bytes were read."""

    def __init__(self, raw: BinaryIO, limit: int):
        self._raw = raw
        self._limit = limit
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        want = self._limit - self._read + 1 if size is None or size < 0 else size
        data = self._raw.read(want)
        self._read += len(data)
        if self._read > self._limit:
            raise UnreadableFile(f"grew past the {self._limit:,} bytes allowed while it was read")
        return data

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _Bounded:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
