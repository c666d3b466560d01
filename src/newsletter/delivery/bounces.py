"""Bounces and complaints: delivery status notifications (RFC 3464, and the many
non-standard bounce formats flufl.bounce's detectors know) and ARF complaint reports (RFC 5965)
read from a maildir or an IMAP folder.

A hard (permanent) bounce makes the subscriber "bounced", a complaint "complained": neither
is ever mailed again, and no import brings them back. A soft (temporary) bounce changes
nothing and is recorded and reported. Applying a report twice changes nothing the second time,
so a message read again after a crash does no harm.

A plain message with the subject "unsubscribe" (what the ``mailto:`` entry of List-Unsubscribe
sends) unsubscribes its sender.
"""

from __future__ import annotations

import base64
import contextlib
import email
import imaplib
import mailbox
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from email.utils import getaddresses
from pathlib import Path
from typing import Literal

from flufl.bounce import all_failures
from sqlalchemy.engine import Engine

from newsletter.delivery import roster
from newsletter.errors import DeliveryError

Kind = Literal["hard", "soft", "complaint", "unsubscribe"]


@dataclass(frozen=True)
class Finding:
    email: str
    kind: Kind
    detail: str


def classify(message: Message) -> list[Finding]:
    """What one message says: a complaint (ARF), hard and soft bounces (DSN and others), or
    a request to leave sent to the ``mailto:`` of List-Unsubscribe (subject "unsubscribe")."""
    request = _unsubscribe_request(message)
    if request is not None:
        return request
    complaint = _arf(message)
    if complaint is not None:
        return complaint
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector choking on a malformed message must not stop the run
        return []
    statuses = _dsn_statuses(message)
    subject = " ".join(str(message.get("Subject", "")).split())[:200]

    def finding(address: bytes, kind: Kind) -> Finding:
        text = _text(address)
        return Finding(text, kind, statuses.get(text.lower(), f"bounce: {subject}"))

    found = [finding(a, "hard") for a in sorted(permanent)]
    found += [finding(a, "soft") for a in sorted(temporary - permanent)]
    return found


def _dsn_statuses(message: Message) -> dict[str, str]:
    """Final-Recipient -> "Status (Diagnostic-Code)" from an RFC 3464 delivery-status part."""
    found: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        for block in payload if isinstance(payload, list) else []:
            if not isinstance(block, Message) or not block.get("Final-Recipient"):
                continue
            recipient = str(block["Final-Recipient"]).partition(";")[2].strip().strip("<>")
            status = str(block.get("Status", "")).strip()
            diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
            found[recipient.lower()] = f"DSN {status}" + (f" ({diagnostic})" if diagnostic else "")
    return found


def _unsubscribe_request(message: Message) -> list[Finding] | None:
    """The sender of a plain message whose subject is "unsubscribe", as a List-Unsubscribe
    ``mailto:`` sends it; None for anything else (reports, automatic replies)."""
    subject = " ".join(str(message.get("Subject", "")).split()).lower()
    automatic = str(message.get("Auto-Submitted", "no")).lower() != "no"
    if subject != "unsubscribe" or automatic or message.get_content_type() == "multipart/report":
        return None
    senders = [a for _, a in getaddresses(message.get_all("From", [])) if "@" in a]
    return [Finding(senders[0], "unsubscribe", "mailto: unsubscribe request")] if senders else []


def _text(address: bytes | str) -> str:
    return address.decode("utf-8", "replace") if isinstance(address, bytes) else address


def _arf(message: Message) -> list[Finding] | None:
    """The complained-about recipient of an ARF report (RFC 5965), or None if not ARF."""
    if message.get_content_type() != "multipart/report":
        return None
    if (message.get_param("report-type") or "").lower() != "feedback-report":  # type: ignore[union-attr]
        return None
    fields: dict[str, str] = {}
    original_to: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            fields.update(_report_fields(part))
        elif kind in ("message/rfc822", "text/rfc822-headers"):
            original_to = _original_recipients(part)
    feedback = fields.get("feedback-type", "abuse")
    recipients = (
        [a for _, a in getaddresses([fields["original-rcpt-to"]])]
        if fields.get("original-rcpt-to")
        else original_to
    )
    detail = f"complaint (ARF feedback-type {feedback})"
    return [Finding(a, "complaint", detail) for a in recipients if "@" in a]


def _report_fields(part: Message) -> dict[str, str]:
    payload = part.get_payload()
    blocks: list[Message] = []
    if isinstance(payload, list):
        blocks = [p for p in payload if isinstance(p, Message)]
    text = ""
    if blocks:
        return {k.lower(): str(v) for block in blocks for k, v in block.items()}
    if isinstance(payload, str):
        text = payload
    parsed = email.message_from_string(text)
    return {k.lower(): str(v) for k, v in parsed.items()}


def _original_recipients(part: Message) -> list[str]:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        original = payload[0]
    elif isinstance(payload, str):
        original = email.message_from_string(payload)
    else:
        return []
    return [a for _, a in getaddresses(original.get_all("To", []))]


@dataclass
class BounceReport:
    bounced: list[Finding] = field(default_factory=list)  # marked bounced now
    complained: list[Finding] = field(default_factory=list)  # marked complained now
    unsubscribed: list[Finding] = field(default_factory=list)  # mailto: requests
    soft: list[Finding] = field(default_factory=list)
    already: int = 0  # hard bounces or complaints already recorded
    unknown: list[Finding] = field(default_factory=list)  # not on this list
    messages: int = 0

    def lines(self) -> list[str]:
        out = [f"hard bounce: {f.email}: marked bounced ({f.detail})" for f in self.bounced]
        out += [f"complaint: {f.email}: marked complained ({f.detail})" for f in self.complained]
        out += [f"unsubscribed: {f.email} ({f.detail})" for f in self.unsubscribed]
        out += [f"soft bounce: {f.email}: still mailed ({f.detail})" for f in self.soft]
        out += [f"not on the list: {f.email} ({f.kind})" for f in self.unknown]
        out.append(
            f"{self.messages} message(s): {len(self.bounced)} bounced, {len(self.complained)} "
            f"complained, {len(self.unsubscribed)} unsubscribed by mail, {len(self.soft)} soft "
            f"bounce(s), {self.already} already recorded"
        )
        return out


def apply(
    engine: Engine, list_ref: str, findings: list[Finding], report: BounceReport, now: datetime
) -> None:
    for finding in findings:
        member = roster.by_email(engine, list_ref, finding.email)
        if member is None:
            report.unknown.append(finding)
            continue
        if finding.kind == "soft":
            roster.note(engine, member.id, "soft-bounce", "bounces", finding.detail, now)
            report.soft.append(finding)
            continue
        outcomes: dict[str, tuple[roster.Status, tuple[str, ...], list[Finding]]] = {
            "hard": ("bounced", ("complained",), report.bounced),
            "complaint": ("complained", (), report.complained),
            "unsubscribe": ("unsubscribed", ("bounced", "complained"), report.unsubscribed),
        }
        status, unless, found = outcomes[finding.kind]
        how = "mailto" if finding.kind == "unsubscribe" else "bounces"
        changed = roster.set_status(
            engine, member.id, status, how=how, now=now, detail=finding.detail, unless=unless
        )
        if changed:
            found.append(finding)
        else:
            report.already += 1


def maildir_messages(path: Path) -> Iterator[tuple[Message, str]]:
    """Unread messages of a maildir, each marked read (moved to cur/, flag S) once handled."""
    if not (path / "cur").is_dir() or not (path / "new").is_dir():
        raise DeliveryError(f"{path}: not a maildir (it needs cur/, new/ and tmp/ folders)")
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in list(box.keys()):
        entry = box.get_message(key)
        if "S" in entry.get_flags():
            continue
        yield email.message_from_bytes(box.get_bytes(key)), key
        entry.set_subdir("cur")
        entry.add_flag("S")
        box[key] = entry


@dataclass(frozen=True)
class ImapSource:
    host: str
    user: str
    folder: str = "INBOX"
    port: int = 993
    password_env: str = "NEWSLETTER_IMAP_PASSWORD"


def imap_messages(source: ImapSource, env: Mapping[str, str]) -> Iterator[tuple[Message, str]]:
    """Unseen messages of an IMAP folder over TLS (the server's certificate verified), each
    marked seen only once handled: a run that stops half-way reads the rest next time."""
    password = env.get(source.password_env, "")
    if not password:
        raise DeliveryError(
            f"the environment variable {source.password_env} is empty: set it to the IMAP "
            f"password of {source.user} (it is never read from newsletter.toml)"
        )
    where = f"IMAP {source.host}:{source.port}"
    try:
        client = imaplib.IMAP4_SSL(
            source.host, source.port, ssl_context=ssl.create_default_context(), timeout=60
        )
    except ssl.SSLCertVerificationError as e:
        raise DeliveryError(
            f"{where}: its TLS certificate is not trusted ({e.verify_message}); nothing was "
            "read (a private CA: point SSL_CERT_FILE at its certificate)"
        ) from e
    except OSError as e:
        raise DeliveryError(f"{where}: cannot connect: {e}") from e
    try:
        yield from _unseen(client, source, password, where)
    except imaplib.IMAP4.error as e:
        raise DeliveryError(f"{where}: {_imap_text(e)}") from e
    except OSError as e:
        raise DeliveryError(f"{where}: connection lost: {e}") from e
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def _unseen(
    client: imaplib.IMAP4, source: ImapSource, password: str, where: str
) -> Iterator[tuple[Message, str]]:
    try:
        client.login(source.user, password)
    except imaplib.IMAP4.error as e:
        raise DeliveryError(
            f"{where}: login as {source.user} refused ({_imap_text(e)}): check the user and "
            f"{source.password_env}"
        ) from e
    status, _ = client.select(_quoted(imap_utf7(source.folder)))
    if status != "OK":
        raise DeliveryError(f"{where}: no folder {source.folder!r} (--imap-folder)")
    _, found = client.uid("SEARCH", "UNSEEN")
    for uid in (found[0] or b"").split():
        # BODY.PEEK leaves the message unseen until it has been handled (after the yield).
        _, parts = client.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
        raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
        if isinstance(raw, bytes):
            yield email.message_from_bytes(raw), uid.decode()
        client.uid("STORE", uid.decode(), "+FLAGS", "(\\Seen)")


def imap_utf7(name: str) -> str:
    """A folder name as IMAP spells it on the wire: modified UTF-7 (RFC 3501, 5.1.3), so that
    "Rückläufer & Co" is ``R&APw-ckl&AOQ-ufer &- Co``."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = base64.b64encode("".join(pending).encode("utf-16-be")).decode("ascii")
            out.append("&" + raw.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _quoted(folder: str) -> str:
    """A folder name as an IMAP quoted string (imaplib sends arguments as they are)."""
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _imap_text(error: Exception) -> str:
    """The server's words from an imaplib error (it wraps them as a bytes repr)."""
    text = str(error)
    for prefix in ("b'", 'b"'):
        if text.startswith(prefix) and text.endswith(prefix[1]):
            text = text[2:-1]
    return text


def process(
    engine: Engine,
    list_ref: str,
    messages: Iterator[tuple[Message, str]],
    now: datetime,
) -> BounceReport:
    report = BounceReport()
    for message, _where in messages:
        report.messages += 1
        apply(engine, list_ref, classify(message), report, now)
    return report
