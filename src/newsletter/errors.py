"""One exception tree: every error the tool raises on purpose is a NewsletterError.

Library errors (TOML, Jinja2, MJML, SQLAlchemy, httpx) are wrapped where they enter,
with ``raise ... from e``, so the CLI can print one clear line for any of them. A problem that
is not fatal goes, as one line, to a ``Warn`` the caller passes in. A URL shown in any message
goes through ``redacted`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

Warn = Callable[[str], None]
"""Where a non-fatal problem goes: one line (the CLI logs it as a warning)."""


def redacted(url: str) -> str:
    """``url`` with its password, if any, shown as ``***`` (database and broker URLs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class NewsletterError(Exception):
    """Root of all errors raised by newsletter."""


class ConfigError(NewsletterError, ValueError):
    """newsletter.toml is missing, unreadable or invalid."""


class SeedError(NewsletterError, ValueError):
    """A seed document cannot be used (empty, binary, not UTF-8, too large, bad front matter)."""


class FeedError(NewsletterError):
    """A feed could not be fetched or parsed."""


class TemplateError(NewsletterError):
    """A template failed to load, render or compile."""


class OutboxError(NewsletterError):
    """An issue could not be written to the outbox."""


class StateError(NewsletterError):
    """The state database is unreachable or inconsistent."""


class SubscribersError(NewsletterError, ValueError):
    """The subscribers file is missing, unreadable or has no usable header."""


class DeliveryError(NewsletterError):
    """An issue could not be sent: missing secret or password, SMTP refused us, etc."""
