"""`newsletter send --to ADDRESS`: one test copy of an issue, recorded nowhere.

The copy is what a subscriber who takes every section gets, personalized for ``ADDRESS`` (its
To: and the footer name it), over the same SMTP settings, DKIM signature and SMTPUTF8 handling
as a real send. It opens no database: no delivery is claimed or marked, no subscriber is
added, and the address need not be on the list. What differs, on purpose:

- its unsubscribe link carries the token ``test-send``, which the unsubscribe service refuses
  as invalid (there is no subscription behind it): ``[web] base_url``'s ``/u/test-send``, else
  ``[brand] unsubscribe_url`` with ``token=test-send``, else a ``mailto:`` to the sender;
- its Message-ID is random, so it is never mistaken for the real copy sent later;
- it carries ``X-Newsletter-Test: test copy; nothing recorded``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from newsletter.config import Config
from newsletter.delivery.addresses import Address, parse_address, to_header
from newsletter.delivery.dkim import load_signer
from newsletter.delivery.send import TransportFactory, load_issue, smtp_password, smtp_transport
from newsletter.delivery.unsubscribe import unsubscribe_link
from newsletter.email.message import build_message, message_bytes
from newsletter.email.render import Reader, load_templates, render_issue
from newsletter.errors import DeliveryError, Warn

TEST_TOKEN = "test-send"
TEST_HEADER = "X-Newsletter-Test"


@dataclass(frozen=True)
class CopySent:
    number: int
    address: str
    message_id: str

    def summary(self) -> str:
        return (
            f"Issue #{self.number}: test copy sent to {self.address}; nothing recorded "
            "(not in the delivery ledger, not on the list; its unsubscribe link is a test link)"
        )


def copy_link(config: Config) -> str:
    """The unsubscribe link of a test copy (see module doc): it unsubscribes no one."""
    if config.web.base_url:
        return f"{config.web.base_url.rstrip('/')}/u/{TEST_TOKEN}"
    if config.brand.unsubscribe_url:
        return unsubscribe_link(config.brand.unsubscribe_url, TEST_TOKEN)
    sender = parseaddr(config.newsletter.sender)[1]
    return f"mailto:{sender}?subject=unsubscribe"


def send_test_copy(
    config: Config,
    issue_folder: Path,
    to: str,
    *,
    now: datetime,
    warn: Warn,
    transport: TransportFactory = smtp_transport,
    environ: Mapping[str, str] | None = None,
) -> CopySent:
    """Mail one copy of the issue in ``issue_folder`` to ``to``; DeliveryError (one line) if
    the address is not one or the server does not take it."""
    address = parse_address(to)
    if not isinstance(address, Address):
        raise DeliveryError(f"--to: {address}")
    issue = load_issue(issue_folder)
    templates = load_templates(config.templates_dir)
    password = smtp_password(config, os.environ if environ is None else environ, warn)
    link = copy_link(config)
    rendered = render_issue(
        issue, config, templates, unsubscribe_url=link, reader=Reader(address.email)
    )
    domain = parseaddr(config.newsletter.sender)[1].rpartition("@")[2] or "newsletter.invalid"
    msg_id = f"<test-{issue.number}.{uuid.uuid4().hex}@{domain}>"
    message = build_message(
        rendered,
        config,
        sent_at=now,
        to=to_header("", address),
        unsubscribe_url=link,
        message_id=msg_id,
    )
    message[TEST_HEADER] = "test copy; nothing recorded"
    data = message_bytes(message, utf8=address.smtputf8)
    signer = load_signer(config)
    if signer is not None:
        data = signer.sign(data)
    smtp = transport(config, password)
    try:
        smtp.send(parseaddr(config.newsletter.sender)[1], address.email, data)
    finally:
        smtp.close()
    return CopySent(issue.number, address.email, msg_id)
