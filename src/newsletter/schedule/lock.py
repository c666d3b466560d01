"""The scheduler's lock: at most one ``newsletter schedule`` per newsletter and state database.

APScheduler 3.x cannot share jobs between processes (two schedulers run every job twice), so
a scheduler holds a lock that the operating system or the database releases when its holder
dies, with nothing to expire and no heartbeat to miss:

- the embedded SQLite database: ``flock`` on ``<state_dir>/scheduler-<newsletter>.lock``
  (``FileLock``); the kernel drops it when the holder's process ends, however it ends. The
  holder writes its owner token and start time into the file, so the one refused can name it
  and ``newsletter status`` can say who runs;
- PostgreSQL: an advisory lock held by a session (``distributed/lock.py``), chosen by the
  command (``daemon.serve``'s ``take_lock``).

Both sit behind the small ``SchedulerLock`` protocol. ``renew`` only checks that the lock is
still ours (the file was not removed or replaced; the session is alive).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from newsletter.config import slugify
from newsletter.errors import NewsletterError
from newsletter.store import state

Clock = Callable[[], datetime]


class LockHeld(NewsletterError):
    """Another live scheduler holds the lock."""


class LockLost(NewsletterError):
    """The lock is no longer ours: stop scheduling."""


class SchedulerLock(Protocol):
    def acquire(self) -> None:
        """Take the lock or raise LockHeld naming the holder."""

    def renew(self) -> None:
        """Check the lock is still ours; raise LockLost if it is not."""

    def release(self) -> None:
        """Let the next scheduler start at once."""


@dataclass(frozen=True)
class Holder:
    owner: str
    acquired_at: datetime
    expires_at: datetime | None = None  # none for a lock released when its holder dies


def on_postgresql(url: str | None) -> bool:
    """A state database on PostgreSQL: schedulers lock it with an advisory lock."""
    return url is not None and sa.engine.make_url(url).get_backend_name() == "postgresql"


def lock_path(state_dir: Path, url: str | None, newsletter: str) -> Path:
    """The lock file beside the SQLite database (the state folder's ``state.db``, or the file
    a ``sqlite:///`` URL names). Each newsletter has its own, so projects can share a folder."""
    folder = state_dir
    if url is not None:
        database = sa.engine.make_url(url).database
        if database:
            folder = Path(database).parent
    return folder / f"scheduler-{slugify(newsletter)}.lock"


class FileLock:
    """The embedded mode's ``SchedulerLock``: an exclusive ``flock`` on the lock file."""

    def __init__(self, path: Path, owner: str, clock: Clock) -> None:
        self._path = path
        self._owner = owner
        self._clock = clock
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = file_holder(self._path)
            who = holder.owner if holder else "a process that is still starting"
            since = f" since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC" if holder else ""
            raise LockHeld(
                f"another 'newsletter schedule' ({who}) is running on this state database"
                f"{since}; stop it first (lock file {self._path})"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        record = {"owner": self._owner, "acquired_at": self._clock().isoformat()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        self._fd = fd

    def renew(self) -> None:
        if self._fd is None:
            raise LockLost("the scheduler lock is not held")
        try:
            same = os.stat(self._path).st_ino == os.fstat(self._fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise LockLost(
                f"the scheduler lock file {self._path} was removed or replaced, so another "
                "scheduler may start; stopping"
            )

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Never unlink: a scheduler waiting on the old file would then lock a file nobody sees.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock


def file_holder(path: Path) -> Holder | None:
    """Who holds the lock file, if a live process does (read-only: creates and locks nothing).

    A holder that died leaves its record behind but not its lock; its process is gone, which
    ``owner_alive`` tells on this machine (the file lock serves one machine's state folder)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8") or "null")
        owner, since = str(record["owner"]), datetime.fromisoformat(record["acquired_at"])
    except (OSError, ValueError, TypeError, KeyError):
        return None  # no file, released (empty), or being written this instant
    return Holder(owner, since) if state.owner_alive(owner) else None
