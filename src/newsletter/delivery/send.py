"""Delivery: an issue in the outbox -> one personalized message per subscriber, over SMTP, once.

``deliver_issue`` is the one entry point (the CLI's ``send`` and the scheduler call it). For
each subscriber it rebuilds the Issue from issue.json, keeps the sections they asked for,
renders it with the live templates and their own signed unsubscribe link, then:

1. claims the delivery in the state database ("sending"), in its own short transaction;
2. hands the message to the SMTP server;
3. marks it "sent" as soon as the server has accepted it (250 after DATA).

Why not exactly once: SMTP has no way to ask a server "did you already take this message?",
so one moment cannot be closed: the server has said 250 but our "sent" is not yet committed.
A crash exactly there leaves the row "sending", and the next run sends that one message again
(at-least-once for the message in flight, exactly-once for every other). We narrow it to that
single step: the mark follows the 250 with no other work between, each message has its own
transaction, and the retry carries the same Message-ID, which lets mail systems and readers'
clients recognize the copy. A claim never goes back to "pending" unless the message was
certainly not handed over.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import Engine

from newsletter.config import Config
from newsletter.delivery import ledger
from newsletter.delivery.addresses import to_header, wire_address
from newsletter.delivery.dkim import Signer, load_signer
from newsletter.delivery.roster import sending_list
from newsletter.delivery.subscribers import Subscriber
from newsletter.delivery.transport import (
    FatalFailure,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
)
from newsletter.delivery.unsubscribe import (
    base_url,
    make_token,
    secret_from_env,
    subscriber_token,
    unsubscribe_link,
)
from newsletter.email.message import build_message, message_bytes
from newsletter.email.render import Reader, Templates, load_templates, render_issue
from newsletter.errors import DeliveryError, NewsletterError, Warn
from newsletter.model import Issue, issue_from_json
from newsletter.store import state
from newsletter.store.outbox import read_issue_json

TransportFactory = Callable[[Config, str | None], Transport]
DRY_RUN_FOLDER = "dry-run"
MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class Failure:
    email: str
    reason: str
    permanent: bool


@dataclass(frozen=True)
class DeliveryReport:
    number: int
    folder: Path
    sent: int = 0
    skipped: int = 0  # already sent by an earlier run
    refused_before: int = 0  # refused permanently by an earlier run; --retry-refused retries
    busy: int = 0  # being sent right now by another process
    failed: tuple[Failure, ...] = ()
    resent: int = 0  # claimed by a run that died mid-send: may have been delivered twice
    dry_run: bool = False
    written: tuple[Path, ...] = field(default=())  # dry run: the .eml files

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        if self.dry_run:
            return (
                f"Dry run of issue #{self.number}: {_plural(len(self.written), 'message')} "
                f"written to {self.folder / DRY_RUN_FOLDER}; nothing sent"
            )
        line = (
            f"Issue #{self.number}: sent {self.sent}, skipped {self.skipped} (already sent), "
            f"failed {len(self.failed)}"
        )
        extras = []
        if self.refused_before:
            extras.append(f"{self.refused_before} refused in an earlier run, not retried")
        if self.busy:
            extras.append(f"{self.busy} being sent by another process")
        if self.resent:
            extras.append(f"{self.resent} re-sent after an interrupted run")
        if extras:
            line += " (" + "; ".join(extras) + ")"
        if self.failed:
            line += ": " + "; ".join(f"{f.email}: {f.reason}" for f in self.failed)
        return line


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclass(frozen=True)
class Pacing:
    """The effects of time, passed in: tests and the scheduler may replace them."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


Progress = Callable[[int, int], None]
"""Told (subscribers done, subscribers in all) after each subscriber of a send."""


def _no_progress(_done: int, _total: int) -> None:
    return None


def smtp_transport(config: Config, password: str | None) -> Transport:
    return SmtpTransport(config.smtp, password)


def deliver_issue(
    config: Config,
    issue_folder: Path,
    *,
    now: datetime,
    warn: Warn,
    dry_run: bool = False,
    retry_refused: bool = False,
    transport: TransportFactory = smtp_transport,
    pacing: Pacing = Pacing(),
    environ: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
    throttle: Throttle | None = None,
    progress: Progress = _no_progress,
) -> DeliveryReport:
    """Send the issue in ``issue_folder`` to every subscriber not yet sent it (see module doc).

    ``only`` (lowercased addresses) narrows it to those subscribers: a distributed worker
    sends one batch of the list this way, and passes the fleet's ``throttle`` so that all
    workers together keep ``[delivery] rate`` (default: this process alone keeps it).

    ``now`` is when the run starts; each message's Date and the ledger's timestamps advance
    from it by the elapsed monotonic time. Raises DeliveryError (one line) when nothing can be
    sent at all: no secret, no password, the server refuses our login or is unreachable.
    """
    env = os.environ if environ is None else environ
    secret = secret_from_env(config, env)
    link_base = config.web.base_url or base_url(config)
    issue = load_issue(issue_folder)
    templates = load_templates(config.templates_dir)
    if issue.newsletter != config.newsletter.name:
        warn(
            f"{issue_folder}: issue.json is for {issue.newsletter!r}, the config for "
            f"{config.newsletter.name!r}; sending it as {config.newsletter.name!r}"
        )
    password = None if dry_run else _password(config, env, warn)
    with state.connect(config.state_dir, config.state.url) as engine:
        # A batch of a distributed send (``only``) reads the list its planner already synced.
        list_ref, subscribers = sending_list(config, engine, warn, now, sync=only is None)
        if only is not None:
            wanted = set(only)
            subscribers = [s for s in subscribers if s.key in wanted]
        job = _Job(
            config,
            issue,
            issue_folder,
            templates,
            secret,
            link_base,
            now,
            pacing,
            pacing.monotonic(),
            list_ref,
            load_signer(config),
        )
        if dry_run:
            return _dry_run(job, subscribers)
        smtp = transport(config, password)
        return _send_all(job, subscribers, engine, smtp, retry_refused, throttle, progress)


class Built(Protocol):
    """What a build step hands over: the pipeline's (or the scheduler's) run result."""

    @property
    def path(self) -> Path | None: ...


def deliver_after_build(
    config: Config,
    *,
    warn: Warn,
    inform: Warn,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[Built], None]:
    """The scheduler's hook for ``send = true``: send each issue as soon as it is written.

    A failed send is reported through ``warn`` and never raised, so the scheduler keeps going;
    every delivery already made is recorded, and ``newsletter send`` (or the next call for the
    same issue) finishes the rest without sending anything twice.
    """

    def deliver(result: Built) -> None:
        if result.path is None:
            return
        try:
            report = deliver_issue(config, result.path, now=clock(), warn=warn)
        except NewsletterError as e:
            warn(f"sending {result.path.name} failed: {e}")
            return
        (inform if report.ok else warn)(report.summary())

    return deliver


def load_issue(folder: Path) -> Issue:
    data = read_issue_json(folder)
    if data is None:
        raise DeliveryError(f"{folder}: no readable issue.json; pass an issue folder or number")
    try:
        return issue_from_json(data)
    except (KeyError, TypeError, ValueError) as e:
        raise DeliveryError(f"{folder / 'issue.json'}: does not follow the contract: {e}") from e


def smtp_password(config: Config, env: Mapping[str, str], warn: Warn) -> str | None:
    """The SMTP password from ``[smtp] password_env`` when ``[smtp] user`` is set."""
    return _password(config, env, warn)


def _password(config: Config, env: Mapping[str, str], warn: Warn) -> str | None:
    smtp = config.smtp
    if not smtp.user or smtp.token_command:
        return None  # the token command is run at each connection (delivery/transport.py)
    password = env.get(smtp.password_env, "")
    if not password:
        secret = "OAuth2 access token" if smtp.auth == "xoauth2" else "SMTP password"
        raise DeliveryError(
            f"[smtp] user is {smtp.user!r} but the environment variable {smtp.password_env} "
            f"is empty: set it to the {secret} (it is never read from newsletter.toml)"
        )
    if smtp.security == "none" and smtp.host not in ("localhost", "127.0.0.1", "::1"):
        warn(
            f'[smtp] security = "none": the password for {smtp.user!r} crosses the network '
            'unencrypted; use "starttls" or "tls"'
        )
    return password


@dataclass(frozen=True)
class _Job:
    config: Config
    issue: Issue
    folder: Path
    templates: Templates
    secret: bytes
    link_base: str
    started: datetime
    pacing: Pacing
    t0: float
    list_ref: str  # the list's stable id: opaque tokens are bound to it
    signer: Signer | None = None

    def at(self) -> datetime:
        return self.started + timedelta(seconds=self.pacing.monotonic() - self.t0)


def personal_issue(issue: Issue, subscriber: Subscriber) -> Issue:
    """The issue as ``subscriber`` gets it: only their sections (the lead stays)."""
    return replace(issue, sections=tuple(s for s in issue.sections if subscriber.wants(s.id)))


def message_id(config: Config, secret: bytes, number: int, email: str) -> str:
    """Stable per (newsletter, issue, subscriber), so a re-sent copy is recognizably the same;
    keyed with the secret so it does not reveal the address."""
    domain = parseaddr(config.newsletter.sender)[1].rpartition("@")[2] or "newsletter.invalid"
    material = f"{config.newsletter.name}\0{number}\0{email.lower()}".encode()
    digest = hmac.new(secret, material, hashlib.sha256).hexdigest()[:24]
    return f"<issue-{number}.{digest}.{config.newsletter.folder_slug}@{domain}>"


@dataclass(frozen=True)
class Links:
    unsubscribe: str  # List-Unsubscribe's first entry and the footer's link
    preferences: str | None
    also: tuple[str, ...]  # more List-Unsubscribe entries (the mailto:)


def personal_links(
    config: Config, secret: bytes, list_ref: str, subscriber: Subscriber, link_base: str
) -> Links:
    """With ``[web] base_url``: the service's one-click and preferences pages, with an
    opaque token, and the sender's mailto: as a second List-Unsubscribe entry. Without it:
    ``[brand] unsubscribe_url`` with the first (v1) token, as before."""
    web = config.web.base_url
    if web and subscriber.id is not None:
        token = subscriber_token(secret, list_ref, subscriber.id)
        base = web.rstrip("/")
        mailto = f"mailto:{parseaddr(config.newsletter.sender)[1]}?subject=unsubscribe"
        return Links(f"{base}/u/{token}", f"{base}/p/{token}", (mailto,))
    token = make_token(secret, config.newsletter.name, subscriber.email)
    return Links(unsubscribe_link(link_base, token), None, ())


def personal_message(job: _Job, subscriber: Subscriber, msg_id: str, sent_at: datetime) -> bytes:
    config = job.config
    links = personal_links(config, job.secret, job.list_ref, subscriber, job.link_base)
    address = wire_address(subscriber.email)
    reader = Reader(subscriber.email, preferences_url=links.preferences)
    rendered = render_issue(
        personal_issue(job.issue, subscriber),
        config,
        job.templates,
        unsubscribe_url=links.unsubscribe,
        reader=reader,
    )
    message = build_message(
        rendered,
        config,
        sent_at=sent_at,
        to=to_header(subscriber.name, address),
        unsubscribe_url=links.unsubscribe,
        message_id=msg_id,
        also_unsubscribe=links.also,
    )
    data = message_bytes(message, utf8=address.smtputf8)
    return job.signer.sign(data) if job.signer else data


def _dry_run(job: _Job, subscribers: list[Subscriber]) -> DeliveryReport:
    files = {}
    for subscriber in subscribers:
        msg_id = message_id(job.config, job.secret, job.issue.number, subscriber.email)
        files[_file_name(subscriber.email)] = personal_message(job, subscriber, msg_id, job.at())
    target = job.folder / DRY_RUN_FOLDER
    _replace_folder(target, files)
    written = tuple(target / name for name in files)
    return DeliveryReport(job.issue.number, job.folder, dry_run=True, written=written)


def _file_name(email: str) -> str:
    safe = "".join(c if c.isalnum() or c in "@._+-" else "_" for c in email.lower())
    return f"{safe.lstrip('.')}.eml"


def _replace_folder(target: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into a fresh ``target`` folder in one step: a sibling staging folder,
    fsynced, renamed over the old one (moved aside first and removed after)."""
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    old = target.with_name(f".{target.name}.old.{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir(mode=0o700)  # working unsubscribe links: for the operator's eyes only
        for name, data in files.items():
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            with os.fdopen(os.open(staging / name, flags, 0o600), "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        if target.exists():
            os.rename(target, old)
        try:
            os.rename(staging, target)
        except OSError:
            if old.exists():
                os.rename(old, target)  # put the previous dry run back
            raise
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        raise DeliveryError(f"{target}: cannot write the dry-run messages: {e.strerror}") from e
    shutil.rmtree(old, ignore_errors=True)


def _send_all(
    job: _Job,
    subscribers: list[Subscriber],
    engine: Engine,
    transport: Transport,
    retry_refused: bool,
    throttle: Throttle | None = None,
    progress: Progress = _no_progress,
) -> DeliveryReport:
    config, number = job.config, job.issue.number
    newsletter = config.newsletter.name
    ids = {s.key: message_id(config, job.secret, number, s.email) for s in subscribers}
    ledger.plan(engine, newsletter, number, ids, job.at())
    already = ledger.sent_emails(engine, newsletter, number)
    report = DeliveryReport(number, job.folder)
    owner = state.owner_token()
    limiter = throttle or _RateLimiter(config.delivery.rate, job.pacing)
    with _closing(transport):
        for done, subscriber in enumerate(subscribers):
            progress(done, len(subscribers))
            if subscriber.key in already:
                report = replace(report, skipped=report.skipped + 1)
                continue
            key = ledger.Key(newsletter, number, subscriber.key)
            try:
                report = _deliver_one(
                    job, subscriber, key, engine, transport, owner, limiter, retry_refused, report
                )
            except _Stopped as e:
                raise DeliveryError(
                    f"issue #{number}: {e}; stopped after sending {report.sent} "
                    f"(failed {len(report.failed)}): run 'newsletter send' again to go on"
                ) from e
        progress(len(subscribers), len(subscribers))
    return report


class _Stopped(DeliveryError):
    """Nothing more can be sent this run (server unreachable, login refused, TLS failed)."""


@contextmanager
def _closing(transport: Transport) -> Iterator[Transport]:
    try:
        yield transport
    finally:
        transport.close()


def _deliver_one(
    job: _Job,
    subscriber: Subscriber,
    key: ledger.Key,
    engine: Engine,
    transport: Transport,
    owner: str,
    limiter: Throttle,
    retry_refused: bool,
    report: DeliveryReport,
) -> DeliveryReport:
    outcome = ledger.claim(engine, key, owner=owner, now=job.at(), retry_refused=retry_refused)
    if isinstance(outcome, ledger.Skip):
        counter = {"sent": "skipped", "refused": "refused_before", "busy": "busy"}[outcome.reason]
        return replace(report, **{counter: getattr(report, counter) + 1})
    try:
        data = personal_message(job, subscriber, outcome.message_id, job.at())
        # Paced at the hand-off, after the render: the server sees the rate itself, not the
        # rate plus each message's render time (the wait is at most one interval per sender).
        limiter.wait()
    except BaseException as e:
        ledger.release(engine, key, owner, f"not sent: {e}")
        raise
    sender = parseaddr(job.config.newsletter.sender)[1]
    try:
        _send_with_retries(job, transport, sender, subscriber.email, data, engine, key, owner)
    except PermanentFailure as e:
        ledger.mark_failed(engine, key, owner, str(e), permanent=True)
        return _failed(report, subscriber, str(e), permanent=True)
    except TemporaryFailure as e:
        if e.kind == "connection":
            ledger.release(engine, key, owner, str(e))
            raise _Stopped(f"cannot deliver: {e}") from e
        ledger.mark_failed(engine, key, owner, str(e), permanent=False)
        return _failed(report, subscriber, f"{e} (gave up after retries)", permanent=False)
    except FatalFailure as e:
        ledger.release(engine, key, owner, str(e))
        raise _Stopped(str(e)) from e
    except BaseException as e:
        # Interrupted while the server may have been taking the message: never back to
        # "pending"; a later run retries it (at most this one message twice).
        ledger.mark_failed(engine, key, owner, f"interrupted: {e!r}", permanent=False)
        raise
    ledger.mark_sent(engine, key, owner, job.at())
    return replace(
        report, sent=report.sent + 1, resent=report.resent + (1 if outcome.resumed else 0)
    )


def _failed(
    report: DeliveryReport, subscriber: Subscriber, reason: str, *, permanent: bool
) -> DeliveryReport:
    failure = Failure(subscriber.email, reason, permanent)
    return replace(report, failed=(*report.failed, failure))


def _send_with_retries(
    job: _Job,
    transport: Transport,
    sender: str,
    recipient: str,
    data: bytes,
    engine: Engine,
    key: ledger.Key,
    owner: str,
) -> None:
    delivery = job.config.delivery
    for attempt in range(1, delivery.attempts + 1):
        try:
            transport.send(sender, recipient, data)
            return
        except TemporaryFailure as e:
            if attempt == delivery.attempts:
                raise
            ledger.note_attempt(engine, key, owner, str(e))
            job.pacing.sleep(min(MAX_BACKOFF, delivery.backoff * 2 ** (attempt - 1)))


class Throttle(Protocol):
    """Paces the messages: ``wait()`` returns when the next one may start."""

    def wait(self) -> None: ...


class _RateLimiter:
    """At most ``rate`` messages per second: message n starts no earlier than n / rate."""

    def __init__(self, rate: float, pacing: Pacing) -> None:
        self.interval = 1.0 / rate
        self.pacing = pacing
        self.next_at: float | None = None

    def wait(self) -> None:
        now = self.pacing.monotonic()
        if self.next_at is not None and now < self.next_at:
            self.pacing.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


def find_issue(config: Config, spec: str | None) -> Path:
    """The issue folder ``spec`` names (a folder path or an issue number), or the latest."""
    if spec is not None and not spec.isdigit():
        folder = Path(spec)
        if not (folder / "issue.json").is_file():
            raise DeliveryError(f"{folder}: not an issue folder (it has no issue.json)")
        return folder.resolve()
    number = int(spec) if spec is not None else None
    folders = _outbox_issues(config)
    if number is not None:
        if number in folders:
            return folders[number]
        raise DeliveryError(f"issue #{number} is not in the outbox {config.outbox_dir}")
    if not folders:
        raise DeliveryError(f"{config.outbox_dir}: no issue to send; run 'newsletter run' first")
    return folders[max(folders)]


def _outbox_issues(config: Config) -> dict[int, Path]:
    """Issue number -> folder, for this newsletter's issues in the outbox."""
    found: dict[int, Path] = {}
    outbox = config.outbox_dir
    if not outbox.is_dir():
        return found
    for folder in sorted(outbox.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        data = read_issue_json(folder)
        if data and data.get("newsletter") == config.newsletter.name:
            number = data.get("number")
            if isinstance(number, int):
                found[number] = folder
    return found
