"""The service's own short emails: "confirm your subscription" and "you are already in".

Plain text, one link each, sent at once over the same SMTP transport as the issues.
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Literal

from newsletter.config import Config
from newsletter.delivery.addresses import to_header, wire_address
from newsletter.delivery.transport import Transport
from newsletter.email.message import message_bytes

NoticeKind = Literal["confirm", "already"]


def notice(
    config: Config, kind: NoticeKind, email: str, name: str, link: str, now: datetime, hours: int
) -> bytes:
    newsletter = config.newsletter.name
    address = wire_address(email)
    message = EmailMessage(policy=policy.SMTP)
    if kind == "confirm":
        message["Subject"] = f"Confirm your subscription to {newsletter}"
        body = (
            f"Someone, probably you, asked to receive {newsletter} at {email}.\n\n"
            f"To confirm, open this link (it works for {hours} hours):\n\n{link}\n\n"
            "If it was not you, ignore this email: nothing will be sent to you.\n"
        )
    else:
        message["Subject"] = f"You are already subscribed to {newsletter}"
        body = (
            f"Someone, probably you, asked to receive {newsletter} at {email}, which already "
            f"receives it.\n\nTo choose your sections or leave, open:\n\n{link}\n"
        )
    domain = parseaddr(config.newsletter.sender)[1].rpartition("@")[2] or None
    message["From"] = config.newsletter.sender
    message["To"] = to_header(name, address)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(idstring=kind, domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body, charset="utf-8")
    return message_bytes(message, utf8=address.smtputf8)


def send_notice(config: Config, transport: Transport, email: str, data: bytes) -> None:
    try:
        transport.send(parseaddr(config.newsletter.sender)[1], email, data)
    finally:
        transport.close()
