"""How long a feed's answer stays fresh, from its HTTP caching headers (RFC 9111, read as a
private cache would): ``Cache-Control: max-age`` first, else ``Expires`` against the answer's
own ``Date``, less any ``Age`` a proxy added. ``no-cache``/``no-store`` mean "ask every time".
Feed readers honour these (reader does); a feed that says "fresh for an hour" is not fetched
again within that hour."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime


def freshness(headers: Mapping[str, str]) -> float | None:
    """Seconds the answer may be reused without asking, or None when the headers do not say.
    A value that cannot be read counts as "not said", never as "fresh forever"."""
    directives = _directives(headers.get("cache-control", ""))
    if "no-cache" in directives or "no-store" in directives:
        return 0.0
    lifetime = _seconds(directives.get("max-age"))
    if lifetime is None:
        lifetime = _expires(headers.get("expires"), headers.get("date"))
    if lifetime is None:
        return None
    age = _seconds(headers.get("age")) or 0.0
    return max(0.0, lifetime - age)


def _directives(value: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for part in value.split(","):
        name, _, argument = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = argument.strip().strip('"') or None
    return found


def _seconds(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return float(int(value.strip()))


def _expires(expires: str | None, date: str | None) -> float | None:
    if expires is None:
        return None
    until = _date(expires)
    if until is None:
        return 0.0 if expires.strip() else None  # "Expires: 0" or junk: already expired
    sent = _date(date)
    return None if sent is None else (until - sent).total_seconds()


def _date(value: str | None) -> datetime | None:
    try:
        moment = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return moment if moment is not None and moment.tzinfo is not None else None
