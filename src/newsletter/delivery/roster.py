"""The subscriber list in the state database: who gets the newsletter, and the consent record.

One list per newsletter (``mailing_lists``, a stable random id), its subscribers and every
status change as a ``consent_events`` row, each change in one short transaction. Statuses:

- ``pending``: signed up, not yet confirmed (double opt-in); never mailed an issue;
- ``active``: mailed;
- ``unsubscribed``, ``bounced``, ``complained``: the address left or cannot be mailed; no
  import and no operator ``add`` makes it active again (only the person, by signing up and
  confirming, can come back from ``unsubscribed``);
- ``removed``: the operator took it off (``newsletter subscribers remove``, or a line gone
  from the ``[delivery] subscribers`` CSV); an import may add it again.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from newsletter.config import Config
from newsletter.delivery.addresses import Address, parse_address
from newsletter.delivery.subscribers import Subscriber, read_subscribers
from newsletter.errors import SubscribersError
from newsletter.store import writes
from newsletter.store.tables import (
    consent_events,
    mailing_lists,
    signup_limits,
    subscribers,
)

Status = Literal["pending", "active", "unsubscribed", "bounced", "complained", "removed"]
STATUSES: tuple[Status, ...] = (
    "pending",
    "active",
    "unsubscribed",
    "bounced",
    "complained",
    "removed",
)
# The address left or cannot be mailed: an import or an operator's add never undoes these.
LEFT: frozenset[str] = frozenset({"unsubscribed", "bounced", "complained"})


@dataclass(frozen=True)
class Member:
    id: str
    list_id: str
    email: str
    name: str
    sections: frozenset[str] | None
    status: str
    status_at: datetime
    status_how: str
    origin: str

    def as_subscriber(self) -> Subscriber:
        return Subscriber(self.email, self.name, self.sections, id=self.id)


@dataclass(frozen=True)
class Event:
    at: datetime
    event: str
    how: str
    detail: str | None


def new_id() -> str:
    """An opaque subscriber id: 96 random bits, URL-safe, no dots."""
    return secrets.token_urlsafe(12)


def list_id(
    engine: Engine,
    newsletter: str,
    now: datetime,
    warn: Callable[[str], None] | None = None,
) -> str:
    """The stable id of ``newsletter``'s list, created on first use. ``warn`` hears when a new
    list is made while lists of other names exist: a renamed newsletter would start afresh
    (``rename_list`` moves the old list to the new name)."""
    with engine.connect() as conn:
        found = _list_of(conn, newsletter)
    if found is not None:
        return found
    row = {"id": uuid.uuid4().hex, "newsletter": newsletter, "created_at": now}
    with engine.begin() as conn:
        made = writes.insert_missing(conn, mailing_lists, [row], ["newsletter"], returning="id")
        found = _list_of(conn, newsletter)
        others = list(
            conn.execute(
                sa.select(mailing_lists.c.newsletter).where(
                    mailing_lists.c.newsletter != newsletter
                )
            ).scalars()
        )
    if found is None:
        raise SubscribersError(f"cannot create the subscriber list of {newsletter!r}")
    if made and others and warn is not None:
        warn(
            f"a new, empty subscriber list was made for {newsletter!r}; the database also "
            f"has lists for {', '.join(repr(o) for o in others)}. If you renamed the "
            "newsletter, run 'newsletter subscribers rename-list \"OLD NAME\"' to keep its "
            "subscribers (and who left)"
        )
    return found


def _writers(list_ref: str) -> str:
    """Writers of one list's addresses take turns (``writes.serialized``): a sign-up, an
    ``add`` and an import of the same new address never both insert it."""
    return f"subscribers:{list_ref}"


def _list_of(conn: Connection, newsletter: str) -> str | None:
    found = conn.execute(
        sa.select(mailing_lists.c.id).where(mailing_lists.c.newsletter == newsletter)
    ).scalar()
    return None if found is None else str(found)


def rename_list(engine: Engine, old: str, new: str) -> str | None:
    """Give the list of ``old`` to ``new`` (the newsletter was renamed); links keep working,
    since tokens are bound to the list's id. None when done, else why not."""
    with engine.begin() as conn:
        lists = {
            row.newsletter: row.id
            for row in conn.execute(
                sa.select(mailing_lists).where(mailing_lists.c.newsletter.in_([old, new]))
            )
        }
        if old not in lists:
            return f"there is no list for {old!r}"
        if new in lists:
            used = conn.execute(
                sa.select(sa.func.count())
                .select_from(subscribers)
                .where(subscribers.c.list_id == lists[new])
            ).scalar_one()
            if used:
                return f"{new!r} already has a list with {used} subscriber(s); nothing was changed"
            conn.execute(mailing_lists.delete().where(mailing_lists.c.id == lists[new]))
        conn.execute(
            mailing_lists.update().where(mailing_lists.c.id == lists[old]).values(newsletter=new)
        )
    return None


def _sections_text(sections: frozenset[str] | None) -> str | None:
    return None if sections is None else json.dumps(sorted(sections))


def _sections(text: str | None) -> frozenset[str] | None:
    return None if text is None else frozenset(json.loads(text))


def _member(row: Any) -> Member:
    return Member(
        id=row.id,
        list_id=row.list_id,
        email=row.email,
        name=row.name,
        sections=_sections(row.sections),
        status=row.status,
        status_at=row.status_at,
        status_how=row.status_how,
        origin=row.origin,
    )


def members(engine: Engine, list_ref: str, status: str | None = None) -> list[Member]:
    """The list's subscribers in the order they were added (optionally of one status)."""
    query = sa.select(subscribers).where(subscribers.c.list_id == list_ref)
    if status is not None:
        query = query.where(subscribers.c.status == status)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(subscribers.c.created_at, subscribers.c.email_key))
        return [_member(row) for row in rows]


def active_subscribers(engine: Engine, list_ref: str) -> list[Subscriber]:
    return [m.as_subscriber() for m in members(engine, list_ref, "active")]


def by_id(engine: Engine, subscriber_id: str) -> Member | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    return None if row is None else _member(row)


def by_email(engine: Engine, list_ref: str, email: str) -> Member | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(subscribers).where(
                subscribers.c.list_id == list_ref, subscribers.c.email_key == email.lower()
            )
        ).first()
    return None if row is None else _member(row)


def events(engine: Engine, subscriber_id: str) -> list[Event]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(consent_events)
            .where(consent_events.c.subscriber_id == subscriber_id)
            .order_by(consent_events.c.id)
        )
        return [Event(r.at, r.event, r.how, r.detail) for r in rows]


def _record(
    conn: Connection, subscriber_id: str, event: str, how: str, detail: str | None, now: datetime
) -> None:
    conn.execute(
        consent_events.insert().values(
            subscriber_id=subscriber_id,
            at=now,
            event=event,
            how=how,
            detail=None if detail is None else detail[:2000],
        )
    )


def _insert(
    conn: Connection,
    list_ref: str,
    address: Address,
    name: str,
    sections: frozenset[str] | None,
    *,
    status: Status,
    how: str,
    origin: str,
    prefs_by: str,
    now: datetime,
    detail: str | None,
    nonce: str | None = None,
) -> str:
    made = new_id()
    conn.execute(
        subscribers.insert().values(
            id=made,
            list_id=list_ref,
            email=address.email,
            email_key=address.key,
            name=name,
            sections=_sections_text(sections),
            status=status,
            status_at=now,
            status_how=how,
            origin=origin,
            prefs_by=prefs_by,
            confirm_nonce=nonce,
            created_at=now,
        )
    )
    _record(conn, made, status, how, detail, now)
    return made


def set_status(
    engine: Engine,
    subscriber_id: str,
    status: Status,
    *,
    how: str,
    now: datetime,
    detail: str | None = None,
    unless: Iterable[str] = (),
) -> bool:
    """Move a subscriber to ``status`` (recorded), unless it already is there or in ``unless``.
    True when it changed: calling it twice changes nothing the second time."""
    keep = {status, *unless}
    with engine.begin() as conn:
        changed = conn.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id, subscribers.c.status.not_in(keep))
            .values(status=status, status_at=now, status_how=how, confirm_nonce=None)
        ).rowcount
        if changed:
            _record(conn, subscriber_id, status, how, detail, now)
    return bool(changed)


def note(
    engine: Engine, subscriber_id: str, event: str, how: str, detail: str | None, now: datetime
) -> None:
    """Record an event that changes no status (a soft bounce)."""
    with engine.begin() as conn:
        _record(conn, subscriber_id, event, how, detail, now)


AddResult = Literal["added", "reactivated", "updated", "unchanged", "refused"]


@dataclass(frozen=True)
class Added:
    result: AddResult
    member_status: str  # the status it has now (for "refused": why)


def add(
    engine: Engine,
    list_ref: str,
    address: Address,
    name: str,
    sections: frozenset[str] | None,
    *,
    how: str,
    origin: str,
    now: datetime,
    detail: str | None = None,
) -> Added:
    """Add an address as active (the operator vouches for its consent). An address that left
    (unsubscribed, bounced, complained) is never made active again: "refused"."""
    with engine.begin() as conn:
        writes.serialized(conn, _writers(list_ref))
        return _add(conn, list_ref, address, name, sections, how, origin, now, detail)


@dataclass(frozen=True)
class _Change:
    """What adding one address does to its row: the decision, apart from the database."""

    result: AddResult
    status: str
    insert: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    event: bool = False  # a consent event "active" is recorded


def _decide(
    row: Any,
    list_ref: str,
    address: Address,
    name: str,
    sections: frozenset[str] | None,
    how: str,
    origin: str,
    now: datetime,
) -> _Change:
    if row is None:
        values = {
            "id": new_id(),
            "list_id": list_ref,
            "email": address.email,
            "email_key": address.key,
            "name": name,
            "sections": _sections_text(sections),
            "status": "active",
            "status_at": now,
            "status_how": how,
            "origin": origin,
            "prefs_by": how,
            "confirm_nonce": None,
            "created_at": now,
        }
        return _Change("added", "active", insert=values, event=True)
    if row.status in LEFT:
        return _Change("refused", row.status)
    values = {}
    wanted = (name, _sections_text(sections))
    if row.prefs_by != "subscriber" and (row.name, row.sections) != wanted:
        values.update(name=name, sections=wanted[1], prefs_by=how)
    if row.status != "active":
        values.update(
            status="active", status_at=now, status_how=how, origin=origin, confirm_nonce=None
        )
    if not values:
        return _Change("unchanged", "active")
    if row.status != "active":
        return _Change("reactivated", "active", update=values, event=True)
    return _Change("updated", "active", update=values)


def _apply(
    conn: Connection, row: Any, change: _Change, how: str, detail: str | None, now: datetime
) -> None:
    if change.insert is not None:
        conn.execute(subscribers.insert().values(**change.insert))
        _record(conn, change.insert["id"], "active", how, detail, now)
    elif change.update is not None:
        conn.execute(subscribers.update().where(subscribers.c.id == row.id).values(**change.update))
        if change.event:
            _record(conn, row.id, "active", how, detail, now)


def _add(
    conn: Connection,
    list_ref: str,
    address: Address,
    name: str,
    sections: frozenset[str] | None,
    how: str,
    origin: str,
    now: datetime,
    detail: str | None,
) -> Added:
    row = conn.execute(
        sa.select(subscribers).where(
            subscribers.c.list_id == list_ref, subscribers.c.email_key == address.key
        )
    ).first()
    change = _decide(row, list_ref, address, name, sections, how, origin, now)
    _apply(conn, row, change, how, detail, now)
    return Added(change.result, change.status)


@dataclass(frozen=True)
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    reactivated: int = 0
    refused: tuple[tuple[str, str], ...] = ()  # (address, its status): they left
    removed: int = 0  # synced CSV: active lines gone from the file

    def summary(self) -> str:
        line = (
            f"{self.added} added, {self.reactivated} re-added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.refused)} not re-activated"
        )
        if self.removed:
            line += f", {self.removed} removed (no longer in the file)"
        return line


def import_subscribers(
    engine: Engine,
    list_ref: str,
    rows: Sequence[tuple[Address, Subscriber]],
    *,
    origin: str,
    now: datetime,
    sync: bool = False,
) -> ImportReport:
    """Add every row (see ``add``) in one transaction; with ``sync``, the active subscribers
    this same ``origin`` added earlier and no longer listed are marked "removed" (the CSV is
    their source). If a sign-up adds one of the addresses meanwhile, it starts over."""
    with engine.begin() as conn:
        writes.serialized(conn, _writers(list_ref))
        return _import(conn, list_ref, rows, origin, now, sync)


def _import(
    conn: Connection,
    list_ref: str,
    rows: Sequence[tuple[Address, Subscriber]],
    origin: str,
    now: datetime,
    sync: bool,
) -> ImportReport:
    existing = {
        row.email_key: row
        for row in conn.execute(sa.select(subscribers).where(subscribers.c.list_id == list_ref))
    }
    counts = {"added": 0, "updated": 0, "unchanged": 0, "reactivated": 0}
    refused: list[tuple[str, str]] = []
    inserts: list[dict[str, Any]] = []
    seen: set[str] = set()
    for address, line in rows:
        if address.key in seen:
            continue
        seen.add(address.key)
        row = existing.get(address.key)
        change = _decide(row, list_ref, address, line.name, line.sections, "import", origin, now)
        if change.result == "refused":
            refused.append((address.email, change.status))
            continue
        counts[change.result] += 1
        if change.insert is not None:
            inserts.append(change.insert)
        else:
            _apply(conn, row, change, "import", None, now)
    if inserts:
        conn.execute(subscribers.insert(), inserts)
        conn.execute(
            consent_events.insert(),
            [
                {
                    "subscriber_id": i["id"],
                    "at": now,
                    "event": "active",
                    "how": "import",
                    "detail": origin[:2000],
                }
                for i in inserts
            ],
        )
    removed = 0
    if sync:
        gone = [
            row.id
            for key, row in existing.items()
            if row.status == "active" and row.origin == origin and key not in seen
        ]
        for subscriber_id in gone:
            conn.execute(
                subscribers.update()
                .where(subscribers.c.id == subscriber_id)
                .values(status="removed", status_at=now, status_how="import")
            )
            _record(conn, subscriber_id, "removed", "import", f"no longer in {origin}", now)
        removed = len(gone)
    return ImportReport(refused=tuple(refused), removed=removed, **counts)


def set_preferences(
    engine: Engine,
    subscriber_id: str,
    name: str,
    sections: frozenset[str] | None,
    now: datetime,
) -> bool:
    """The subscriber's own choice of name and sections; it outlives later imports."""
    with engine.begin() as conn:
        changed = conn.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(name=name, sections=_sections_text(sections), prefs_by="subscriber")
        ).rowcount
        if changed:
            shown = "all" if sections is None else ",".join(sorted(sections)) or "none"
            _record(conn, subscriber_id, "preferences", "web", f"sections: {shown}", now)
    return bool(changed)


SignupKind = Literal["confirm", "already", "silent"]


@dataclass(frozen=True)
class Signup:
    kind: SignupKind  # send a confirmation, tell them they are already in, or send nothing
    member: Member | None
    nonce: str | None = None


def start_signup(
    engine: Engine,
    list_ref: str,
    address: Address,
    name: str,
    sections: frozenset[str] | None,
    *,
    now: datetime,
    detail: str | None,
) -> Signup:
    """A sign-up form was sent: a new address is "pending" with a fresh confirmation nonce;
    one that is pending or unsubscribed gets a new nonce (it becomes active only once
    confirmed); an active one is "already"; a bounced or complained one gets no mail."""
    nonce = secrets.token_urlsafe(16)
    with engine.begin() as conn:
        writes.serialized(conn, _writers(list_ref))
        row = conn.execute(
            sa.select(subscribers).where(
                subscribers.c.list_id == list_ref, subscribers.c.email_key == address.key
            )
        ).first()
        if row is None:
            made = _insert(
                conn,
                list_ref,
                address,
                name,
                sections,
                status="pending",
                how="signup",
                origin="signup",
                prefs_by="subscriber",
                now=now,
                detail=detail,
                nonce=nonce,
            )
            created = conn.execute(sa.select(subscribers).where(subscribers.c.id == made)).one()
            return Signup("confirm", _member(created), nonce)
        member = _member(row)
        if row.status == "active":
            return Signup("already", member)
        if row.status in ("bounced", "complained"):
            return Signup("silent", member)
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == row.id)
            .values(
                confirm_nonce=nonce,
                name=name or row.name,
                sections=_sections_text(sections),
                prefs_by="subscriber",
            )
        )
        _record(conn, row.id, "signup", "signup", detail, now)
        return Signup("confirm", member, nonce)


ConfirmResult = Literal["confirmed", "already", "invalid"]


def confirm(
    engine: Engine, subscriber_id: str, nonce: str, *, now: datetime, detail: str | None
) -> ConfirmResult:
    """Make a pending (or unsubscribed, signed up again) address active, once per nonce."""
    with engine.begin() as conn:
        row = conn.execute(sa.select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        if row is None:
            return "invalid"
        if row.confirm_nonce is None or not secrets.compare_digest(row.confirm_nonce, nonce):
            return "already" if row.status == "active" else "invalid"
        if row.status not in ("pending", "unsubscribed", "removed"):
            return "invalid"
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == row.id, subscribers.c.confirm_nonce == nonce)
            .values(
                status="active",
                status_at=now,
                status_how="confirmed",
                confirm_nonce=None,
            )
        )
        _record(conn, row.id, "active", "confirmed", detail, now)
    return "confirmed"


def over_limit(engine: Engine, key: str, limit: int, now: datetime) -> bool:
    """Count one more attempt for ``key`` in the current hour; True once over ``limit``.

    A fixed one-hour window in the shared database, so every ``serve`` process sees the same
    count. Old windows are deleted as new ones start."""
    window = int(now.timestamp() // 3600)
    key = key[:400]
    with engine.begin() as conn:
        conn.execute(signup_limits.delete().where(signup_limits.c.window < window - 1))
        writes.upsert(
            conn,
            signup_limits,
            [{"key": key, "window": window, "count": 1}],
            ["key", "window"],
            update={"count": signup_limits.c.count + 1},
        )
        count = conn.execute(
            sa.select(signup_limits.c.count).where(
                signup_limits.c.key == key, signup_limits.c.window == window
            )
        ).scalar_one()
    return int(count) > limit


def csv_origin(path: Path) -> str:
    return f"csv:{path}"


def sending_list(
    config: Config, engine: Engine, warn: Callable[[str], None], now: datetime, *, sync: bool = True
) -> tuple[str, list[Subscriber]]:
    """The list's id and its active subscribers, after bringing in the ``[delivery]
    subscribers`` CSV when it exists (``sync``): new lines are added, lines gone are
    "removed", and an address that left is never made active again by it."""
    list_ref = list_id(engine, config.newsletter.name, now, warn)
    path = config.subscribers_file
    if sync and path.exists():
        known = [s.id for s in config.sections]
        rows = valid_rows(read_subscribers(path, known, warn), path, warn)
        report = import_subscribers(
            engine, list_ref, rows, origin=csv_origin(path), now=now, sync=True
        )
        for email, status in report.refused:
            warn(f"{path}: {email} is {status} in the subscriber list; not mailed")
    active = active_subscribers(engine, list_ref)
    if not active and sync and not path.exists():
        raise SubscribersError(
            f"no active subscriber: {path} does not exist and the list in the state database "
            "is empty; add people with 'newsletter subscribers add ADDRESS' or 'newsletter "
            "subscribers import FILE.csv', or let them sign up ('newsletter serve')"
        )
    return list_ref, active


def valid_rows(
    rows: Iterable[Subscriber], path: Path, warn: Callable[[str], None]
) -> list[tuple[Address, Subscriber]]:
    """Each CSV row with its normalized address; one that email-validator refuses is
    reported and skipped, never stopping the others."""
    result: list[tuple[Address, Subscriber]] = []
    for row in rows:
        parsed = parse_address(row.email)
        if isinstance(parsed, str):
            warn(f"{path}: {parsed}; skipped")
            continue
        result.append((parsed, row))
    return result


EXPORT_HEADER = ("email", "name", "sections", "status", "since", "how")


def export_rows(engine: Engine, list_ref: str, *, everyone: bool) -> list[tuple[str, ...]]:
    """CSV rows (``EXPORT_HEADER``) of the active subscribers, or of everyone; the first three
    columns are what ``import`` reads back."""
    rows: list[tuple[str, ...]] = []
    for m in members(engine, list_ref, None if everyone else "active"):
        sections = "" if m.sections is None else ";".join(sorted(m.sections))
        rows.append((m.email, m.name, sections, m.status, m.status_at.isoformat(), m.status_how))
    return rows
