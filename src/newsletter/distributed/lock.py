"""One scheduler per newsletter and database (the key hashes the newsletter's name), by a
PostgreSQL advisory lock held on a dedicated session.

The lock lives exactly as long as the session: a scheduler killed with SIGKILL closes its socket,
PostgreSQL ends the session and the lock is free at once, with no lease to expire. A whole
machine that vanishes is noticed through TCP keepalives, set short on the lock's session. The
holder's owner token is its session's ``application_name``, so the one refused can name it.
A standby polls ``pg_try_advisory_lock`` (rather than blocking in ``pg_advisory_lock``) so it
still answers SIGTERM while it waits.
"""

from __future__ import annotations

import threading
import zlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from newsletter.schedule.lock import Holder, LockHeld, LockLost

SCHEDULER_LOCK = 0x6E6C5F73  # "nl_s": the advisory lock key of 'newsletter schedule'
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


def scheduler_key(newsletter: str) -> int:
    """The advisory lock key of one newsletter's scheduler: SCHEDULER_LOCK in the high 32 bits
    (pg_locks.classid), a hash of the name in the low 32 (pg_locks.objid)."""
    return (SCHEDULER_LOCK << 32) | zlib.crc32(newsletter.encode("utf-8"))


class AdvisoryLockHeld(LockHeld):
    """Another scheduler holds the lock."""


class AdvisoryLockLost(LockLost):
    """Our session (and so our lock) is gone: stop scheduling."""


class AdvisoryLock:
    """The ``SchedulerLock`` of the distributed mode (acquire / renew / release)."""

    def __init__(self, url: str, owner: str, key: int = SCHEDULER_LOCK) -> None:
        self._engine = sa.create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={**KEEPALIVE, "application_name": owner[:63]},
        )
        self._owner = owner
        self._key = key
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting."""
        return self._try()

    def _try(self) -> bool:
        conn = self._engine.connect()
        try:
            # The server side too notices a vanished client within ~11 s.
            conn.exec_driver_sql("SET tcp_keepalives_idle = 5")
            conn.exec_driver_sql("SET tcp_keepalives_interval = 2")
            conn.exec_driver_sql("SET tcp_keepalives_count = 3")
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            if got.scalar():
                self._conn = conn
                return True
        except BaseException:
            conn.close()
            raise
        conn.close()
        return False

    def acquire(self) -> None:
        if not self._try():
            raise AdvisoryLockHeld(
                f"another 'newsletter schedule' ({self.holder() or 'unknown'}) holds this "
                "database's scheduler lock; stop it first, or start this one with --standby "
                "to take over when it stops"
            )

    def wait(self, stop: threading.Event, poll: float = 0.5) -> bool:
        """Standby: take the lock as soon as it is free; False if ``stop`` was set first."""
        while not stop.is_set():
            if self._try():
                return True
            stop.wait(poll)
        return False

    def renew(self) -> None:
        if self._conn is None:
            raise AdvisoryLockLost("the scheduler lock is not held")
        try:
            held = self._conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND objid = :k"
                ),
                {"k": self._key & 0xFFFFFFFF},
            ).scalar()
        except sa.exc.DBAPIError as e:
            raise AdvisoryLockLost(f"lost the database session holding the lock: {e}") from e
        if not held:
            raise AdvisoryLockLost("the scheduler lock is no longer held by this session")

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except sa.exc.DBAPIError:
                pass  # the session is gone, and the lock with it
            finally:
                conn.close()
        self._engine.dispose()

    def holder(self) -> str | None:
        """Who holds the lock, for a message: owner token, address, since when."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.granted AND l.objid = :k"
                ),
                {"k": self._key & 0xFFFFFFFF},
            ).first()
        if row is None:
            return None
        since = f", since {row.backend_start:%Y-%m-%d %H:%M:%S %Z}" if row.backend_start else ""
        return f"{row.application_name or 'a session'} from {row.client_addr or 'local'}{since}"

    def holder_session(self) -> tuple[str, datetime | None] | None:
        """The holder's owner token and session start, if the lock is held."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT a.application_name, a.backend_start FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.granted AND l.objid = :k"
                ),
                {"k": self._key & 0xFFFFFFFF},
            ).first()
        return None if row is None else (str(row.application_name), row.backend_start)


def advisory_holder(url: str, newsletter: str, now: datetime) -> Holder | None:
    """Who holds ``newsletter``'s scheduler lock on this PostgreSQL database, or None."""
    lock = AdvisoryLock(url, "newsletter-status", scheduler_key(newsletter))
    try:
        held = lock.holder_session()
    finally:
        lock.release()
    return None if held is None else Holder(held[0], held[1] or now)
