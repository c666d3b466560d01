"""Email addresses as the wire needs them: email-validator's syntax check and normalization,
the domain in IDNA (``ana@exämple.org`` -> ``ana@xn--exmple-cua.org``), and whether the
address needs SMTPUTF8 at all (only a non-ASCII part before the @ does)."""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress
from email.utils import formataddr
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True)
class Address:
    email: str  # normalized: the domain lowercased, Unicode kept
    wire: str  # what goes on the SMTP envelope and in To:: the domain in IDNA
    smtputf8: bool  # the part before the @ is not ASCII: only an SMTPUTF8 server takes it

    @property
    def key(self) -> str:
        return self.email.lower()


@lru_cache(maxsize=65_536)
def parse_address(text: str) -> Address | str:
    """The address, or why it is not one (a short phrase, no trailing period). Cached: a
    send checks the whole CSV each time (about half a millisecond per address)."""
    try:
        valid = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as e:
        return f"{text!r} is not a valid email address: {str(e).rstrip('.')}"
    if valid.ascii_email:
        return Address(valid.normalized, valid.ascii_email, smtputf8=False)
    return Address(valid.normalized, f"{valid.local_part}@{valid.ascii_domain}", smtputf8=True)


def wire_address(text: str) -> Address:
    """``text`` as the wire needs it; an address that does not parse is passed as it is (the
    server will refuse it, for that recipient alone)."""
    parsed = parse_address(text)
    if isinstance(parsed, Address):
        return parsed
    return Address(text, text, smtputf8=not text.isascii())


def to_header(name: str, address: Address) -> str:
    """The To: value: ``Name <wire address>``; a non-ASCII part before the @ stays as it is
    (the message is then written with SMTPUTF8's raw UTF-8 headers)."""
    if not address.smtputf8:
        return formataddr((name, address.wire))
    local, _, domain = address.wire.rpartition("@")
    return str(HeaderAddress(display_name=name, username=local, domain=domain))
