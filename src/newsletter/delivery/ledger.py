"""The delivery ledger: one row per (newsletter, issue number, subscriber) in ``deliveries``.

Each step is one short transaction, so a crash loses at most the step in flight:
``plan`` (rows "pending", with their Message-ID) -> ``claim`` ("sending", before the SMTP
transaction starts) -> ``mark_sent`` (right after the server accepted the message) or
``mark_failed``. A claim changes a row only if it is still as it was read (compare-and-set),
so two processes sending the same issue never both send to one subscriber.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from newsletter.store.state import deliveries, owner_alive
from newsletter.store.writes import compare_and_set, insert_missing

DeliveryStatus = Literal["pending", "sending", "sent", "failed"]
# A "sending" row whose owner is on another host is taken over only after this long.
SENDING_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class Claimed:
    message_id: str
    resumed: bool  # a previous run claimed it and did not finish: it may have been delivered


@dataclass(frozen=True)
class Skip:
    reason: Literal["sent", "refused", "busy"]
    detail: str


ClaimOutcome = Claimed | Skip


@dataclass(frozen=True)
class Key:
    newsletter: str
    number: int
    email: str  # lowercased


def _where(key: Key) -> sa.ColumnElement[bool]:
    return sa.and_(
        deliveries.c.newsletter == key.newsletter,
        deliveries.c.number == key.number,
        deliveries.c.email == key.email,
    )


def plan(
    engine: Engine, newsletter: str, number: int, message_ids: Mapping[str, str], now: datetime
) -> None:
    """Add a "pending" row for every address (lowercased) not yet in the ledger; rows
    already there (planned by an earlier or a concurrent run) keep their Message-ID."""
    rows = [
        {
            "newsletter": newsletter,
            "number": number,
            "email": email,
            "status": "pending",
            "permanent": False,
            "attempts": 0,
            "message_id": message_id,
            "created_at": now,
        }
        for email, message_id in message_ids.items()
    ]
    with engine.begin() as conn:
        insert_missing(conn, deliveries, rows, keys=["newsletter", "number", "email"])


def sent_emails(engine: Engine, newsletter: str, number: int) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                sa.select(deliveries.c.email).where(
                    deliveries.c.newsletter == newsletter,
                    deliveries.c.number == number,
                    deliveries.c.status == "sent",
                )
            ).scalars()
        )


def claim(
    engine: Engine,
    key: Key,
    *,
    owner: str,
    now: datetime,
    retry_refused: bool = False,
    lease: timedelta = SENDING_LEASE,
) -> ClaimOutcome:
    """Take the right to send ``key``'s message now; must follow ``plan``."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(deliveries).where(_where(key))).one()
        if row.status == "sent":
            return Skip("sent", f"sent {row.sent_at}")
        if row.status == "failed" and row.permanent and not retry_refused:
            return Skip("refused", row.last_error or "refused")
        resumed = row.status == "sending"
        if resumed and row.owner != owner and not _stale(row.owner, row.claimed_at, now, lease):
            return Skip("busy", f"being sent by {row.owner}")
        won = compare_and_set(
            conn,
            deliveries,
            _where(key),
            {"status": row.status, "owner": row.owner},
            {"status": "sending", "owner": owner, "claimed_at": now},
        )
        if not won:
            return Skip("busy", "claimed by another process at the same moment")
        return Claimed(row.message_id, resumed=resumed)


def _stale(owner: str | None, claimed_at: datetime | None, now: datetime, lease: timedelta) -> bool:
    if owner is None or claimed_at is None or not owner_alive(owner):
        return True
    return now - claimed_at > lease


def note_attempt(engine: Engine, key: Key, owner: str, error: str | None) -> None:
    """One more SMTP attempt for ``key``; ``error`` is why it has to be tried again."""
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(_where(key), deliveries.c.owner == owner)
            .values(attempts=deliveries.c.attempts + 1, last_error=_short(error))
        )


def mark_sent(engine: Engine, key: Key, owner: str, now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(_where(key), deliveries.c.owner == owner)
            .values(status="sent", sent_at=now, attempts=deliveries.c.attempts + 1)
        )


def mark_failed(engine: Engine, key: Key, owner: str, error: str, *, permanent: bool) -> None:
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(_where(key), deliveries.c.owner == owner)
            .values(
                status="failed",
                permanent=permanent,
                last_error=_short(error),
                attempts=deliveries.c.attempts + 1,
            )
        )


def release(engine: Engine, key: Key, owner: str, error: str | None = None) -> None:
    """Back to "pending": the message was certainly not handed to the server."""
    with engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(_where(key), deliveries.c.owner == owner, deliveries.c.status == "sending")
            .values(status="pending", last_error=_short(error))
        )


def counts(engine: Engine, newsletter: str, number: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.newsletter == newsletter, deliveries.c.number == number)
            .group_by(deliveries.c.status)
        ).all()
    return {status: count for status, count in rows}


def failures(engine: Engine, newsletter: str, number: int) -> list[tuple[str, str, bool]]:
    """Each failed delivery of an issue: (email, the last error, permanent?)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.email, deliveries.c.last_error, deliveries.c.permanent)
            .where(
                deliveries.c.newsletter == newsletter,
                deliveries.c.number == number,
                deliveries.c.status == "failed",
            )
            .order_by(deliveries.c.email)
        ).all()
    return [(email, error or "", bool(permanent)) for email, error, permanent in rows]


def _short(error: str | None) -> str | None:
    return error[:2000] if error else error
