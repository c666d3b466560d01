"""The scheduler's lock: at most one ``newsletter schedule`` per newsletter in a
state database (each newsletter has its own lease row, so projects can share one database).

APScheduler 3.x cannot share a job store between processes (two schedulers run every job
twice), so the scheduler holds a lease row in the state database and renews it (heartbeat)
while it runs. A second scheduler finds a live lease and refuses to start. A scheduler that died
stops renewing: its lease expires after ``lease`` seconds, or at once when its process is known
to be gone on this machine. The lock sits behind the small ``SchedulerLock`` protocol so a
PostgreSQL advisory lock can replace the lease row later without touching the daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from newsletter.errors import NewsletterError
from newsletter.store import state

Clock = Callable[[], datetime]
LOCK_NAME = "scheduler"


def lock_name(newsletter: str) -> str:
    """Each newsletter has its own scheduler lock, so projects can share one database."""
    return f"{LOCK_NAME}:{newsletter}"[:100]


class LockHeld(NewsletterError):
    """Another live scheduler holds the state database."""


class LockLost(NewsletterError):
    """Our lease was taken over (we stalled past its expiry): stop scheduling."""


class SchedulerLock(Protocol):
    def acquire(self) -> None:
        """Take the lock or raise LockHeld naming the holder."""

    def renew(self) -> None:
        """Prove we are alive; raise LockLost if the lock is no longer ours."""

    def release(self) -> None:
        """Let the next scheduler start at once."""


@dataclass(frozen=True)
class Holder:
    owner: str
    acquired_at: datetime
    expires_at: datetime


class LeaseLock:
    """The lease-row lock: works on any database SQLAlchemy Core speaks."""

    def __init__(
        self,
        engine: Engine,
        owner: str,
        lease: timedelta,
        clock: Clock,
        name: str = LOCK_NAME,
    ) -> None:
        self._name = name
        self._engine = engine
        self._owner = owner
        self._lease = lease
        self._clock = clock

    def acquire(self) -> None:
        for _ in range(3):
            try:
                with self._engine.begin() as conn:
                    self._acquire(conn)
                return
            except sa.exc.IntegrityError:
                continue  # another scheduler inserted the row first: look again
        raise LockHeld("another scheduler is starting on the same state database")

    def _acquire(self, conn: Connection) -> None:
        now = self._clock()
        holder = current_holder(conn, self._name)
        values = {"owner": self._owner, "acquired_at": now, "expires_at": now + self._lease}
        if holder is None:
            conn.execute(state.scheduler_lease.insert().values(name=self._name, **values))
            return
        if holder.expires_at > now and state.owner_alive(holder.owner):
            raise LockHeld(
                f"another 'newsletter schedule' ({holder.owner}) is running on this state "
                f"database since {holder.acquired_at:%Y-%m-%d %H:%M:%S} UTC; stop it first "
                f"(its lock expires {holder.expires_at:%H:%M:%S} UTC if it died)"
            )
        conn.execute(
            state.scheduler_lease.update()
            .where(state.scheduler_lease.c.name == self._name)
            .values(**values)
        )

    def renew(self) -> None:
        now = self._clock()
        with self._engine.begin() as conn:
            updated = conn.execute(
                state.scheduler_lease.update()
                .where(
                    state.scheduler_lease.c.name == self._name,
                    state.scheduler_lease.c.owner == self._owner,
                )
                .values(expires_at=now + self._lease)
            ).rowcount
        if updated != 1:
            raise LockLost("the scheduler lock was taken over by another scheduler; stopping")

    def release(self) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                state.scheduler_lease.delete().where(
                    state.scheduler_lease.c.name == self._name,
                    state.scheduler_lease.c.owner == self._owner,
                )
            )


def current_holder(conn: Connection, name: str = LOCK_NAME) -> Holder | None:
    row = conn.execute(
        sa.select(state.scheduler_lease).where(state.scheduler_lease.c.name == name)
    ).first()
    if row is None:
        return None
    return Holder(row.owner, row.acquired_at, row.expires_at)
