"""DKIM: each message signed with the operator's key before it is handed to the server.

``[delivery] dkim_key`` (a PEM RSA private key file, 2048 bits or more), ``dkim_selector`` and
``dkim_domain`` (default: the sender's domain). The key is read once per send, checked, and
never logged; a missing, unreadable or invalid key is one line naming the file. The public key
goes into DNS as ``<selector>._domainkey.<domain>`` (see docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import parseaddr

import dkim

from newsletter.config import Config
from newsletter.errors import DeliveryError

# What a reader and a filter rely on; From first (RFC 6376 requires it), List-Unsubscribe-Post
# because RFC 8058 one-click unsubscribe requires it signed.
SIGNED_HEADERS = (
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe",
    b"List-Unsubscribe-Post", b"MIME-Version", b"Content-Type", b"Content-Language",
)  # fmt: skip


@dataclass(frozen=True)
class Signer:
    selector: str
    domain: str
    key: bytes = field(repr=False)  # never in a log line or a traceback's repr

    def sign(self, message: bytes) -> bytes:
        """``message`` with its DKIM-Signature header in front."""
        header = dkim.sign(
            message,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.key,
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=b"rsa-sha256",
            include_headers=list(SIGNED_HEADERS),
        )
        return bytes(header) + message


def load_signer(config: Config) -> Signer | None:
    """The configured signer, or None when ``[delivery] dkim_key`` is not set."""
    settings = config.delivery
    if settings.dkim_key is None:
        return None
    path = config.path(settings.dkim_key)
    try:
        key = path.read_bytes()
    except OSError as e:
        raise DeliveryError(
            f"[delivery] dkim_key: cannot read {path}: {e.strerror}; point it at the PEM "
            "private key file"
        ) from None
    domain = settings.dkim_domain or parseaddr(config.newsletter.sender)[1].rpartition("@")[2]
    signer = Signer(settings.dkim_selector or "", domain, key)
    try:
        signer.sign(b"From: check@example.org\r\nSubject: check\r\n\r\ncheck\r\n")
    except Exception:  # dkimpy raises several kinds; which one says nothing more to the user
        raise DeliveryError(f"[delivery] dkim_key: {path} is not a PEM RSA private key") from None
    return signer
