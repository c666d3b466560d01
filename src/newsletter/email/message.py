"""The email: a RenderedIssue -> a MIME multipart/alternative message (text, then HTML)."""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from newsletter.config import Config
from newsletter.email.render import RenderedIssue, default_unsubscribe_url


def build_message(
    rendered: RenderedIssue,
    config: Config,
    *,
    sent_at: datetime,
    to: str | None = None,
    unsubscribe_url: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
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
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    if unsubscribe.startswith("https://"):
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Content-Language"] = config.newsletter.language
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return message


def message_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=policy.SMTP)
