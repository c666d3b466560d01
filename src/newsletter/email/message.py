"""The email: a RenderedIssue -> a MIME multipart/alternative message (text, then HTML)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, make_msgid, parseaddr

from newsletter.config import Config
from newsletter.email.render import RenderedIssue, default_unsubscribe_url


class ListHeader(str):
    """A header of ``<URL>`` entries written as they are: folded only between entries.

    The email package folds a long unstructured value at 78 columns by turning it into RFC
    2047 encoded-words (``=?utf-8?q?=3Chttps...``). Mailbox providers read List-Unsubscribe
    raw and then see no URL at all, so this header folds itself (``fold`` is the hook the
    email package's policies call for header objects), within the 998-octet line limit."""

    name: str
    entries: tuple[str, ...]

    def __new__(cls, name: str, entries: Sequence[str]) -> ListHeader:
        made = super().__new__(cls, ", ".join(entries))
        made.name = name
        made.entries = tuple(entries)
        return made

    def fold(self, *, policy: Policy) -> str:
        separator = policy.linesep or "\n"
        return f"{self.name}: " + f",{separator} ".join(self.entries) + separator


def build_message(
    rendered: RenderedIssue,
    config: Config,
    *,
    sent_at: datetime,
    to: str | None = None,
    unsubscribe_url: str | None = None,
    message_id: str | None = None,
    also_unsubscribe: Sequence[str] = (),
) -> EmailMessage:
    """``also_unsubscribe``: more List-Unsubscribe entries after the first (a mailto:)."""
    message = EmailMessage(policy=policy.SMTP)
    domain = parseaddr(config.newsletter.sender)[1].rpartition("@")[2] or None
    message["Subject"] = rendered.issue.subject
    message["From"] = config.newsletter.sender
    message["To"] = to or config.newsletter.recipient
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = message_id or make_msgid(
        idstring=f"issue-{rendered.issue.number}", domain=domain
    )
    unsubscribe = unsubscribe_url or default_unsubscribe_url(config)
    entries = [f"<{url}>" for url in (unsubscribe, *also_unsubscribe)]
    message["List-Unsubscribe"] = ListHeader("List-Unsubscribe", entries)
    if unsubscribe.startswith("https://"):
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Content-Language"] = config.newsletter.language
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


def message_bytes(message: EmailMessage, *, utf8: bool = False) -> bytes:
    """The message as sent; ``utf8``: headers in raw UTF-8 (RFC 6532), for an address whose
    part before the @ is not ASCII (only sent to servers that offer SMTPUTF8)."""
    return message.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)
