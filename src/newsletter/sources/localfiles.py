"""Local files read safely: seeds and ``file:`` feeds.

Only a regular file is read (a FIFO would block the run, ``/dev/zero`` never ends), only one
that stays inside its folder once symlinks are followed, and its size is checked before the
first byte is read; then at most ``limit + 1`` bytes are read, so a file growing meanwhile is
caught too. The FIFO is opened non-blocking: opening it never waits for a writer.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


class LocalFileError(Exception):
    """Why a local file is not read: one line, naming the file."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def megabytes(n: int) -> str:
    return f"{n / 1_000_000:g} MB"


def read_regular_file(path: Path, folder: Path, limit: int) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes inside ``folder``."""
    real = Path(os.path.realpath(path))
    home = Path(os.path.realpath(folder))
    if not real.is_relative_to(home):
        raise LocalFileError(f"{path}: refused: a symlink leading out of {folder} (to {real})")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise LocalFileError(f"{path}: cannot read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a file")
            raise LocalFileError(f"{path}: refused: {kind}, not a regular file")
        if info.st_size > limit:
            raise LocalFileError(
                f"{path}: refused: {info.st_size:,} bytes is over the {megabytes(limit)} limit"
            )
        try:
            data = f.read(limit + 1)
        except OSError as e:
            raise LocalFileError(f"{path}: cannot read: {e.strerror}") from None
    if len(data) > limit:
        raise LocalFileError(f"{path}: refused: over the {megabytes(limit)} limit (it grew)")
    return data
