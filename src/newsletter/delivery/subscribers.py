"""Subscribers: the CSV named by ``[delivery] subscribers`` -> frozen Subscriber records.

Columns ``email,name,sections`` (a header line is required; ``name`` and ``sections`` are
optional). ``sections`` lists section ids separated by spaces or semicolons: that subscriber
receives only those sections (the lead, the day's main story, goes to everyone); empty means
all. A bad line is reported with the file and its line number and skipped; it never stops the
others. Addresses compare case-insensitively: a second line for the same address is dropped.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from newsletter.delivery.addresses import Address, parse_address
from newsletter.errors import SubscribersError, Warn

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Subscriber:
    email: str
    name: str
    sections: frozenset[str] | None  # None: every section
    id: str | None = None  # the opaque id in the state database (what links carry)

    @property
    def key(self) -> str:
        """What identifies a subscriber in the state database: the address, lowercased."""
        return self.email.lower()

    def wants(self, section_id: str) -> bool:
        return self.sections is None or section_id in self.sections


def address_problem(email: str) -> str | None:
    """Why ``email`` cannot be delivered to, or None. Plain addresses only, no display name."""
    if not email:
        return "the email column is empty"
    if any(c.isspace() for c in email) or email.count("@") != 1:
        return f"{email!r} is not an email address"
    local, domain = email.split("@")
    if len(email) > 254 or len(local) > 64:
        return f"{email!r} is too long for an email address"
    if not _LOCAL.match(local) and (
        local.isascii() or not isinstance(parse_address(email), Address)
    ):
        return f"{email!r}: the part before @ is not valid"
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return f"{email!r}: the domain is not valid"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return f"{email!r}: the domain is not valid (expected e.g. name@example.org)"
    parsed = parse_address(email)
    return parsed if isinstance(parsed, str) else None


def read_subscribers(path: Path, known_sections: Collection[str], warn: Warn) -> list[Subscriber]:
    """Every valid, distinct subscriber in ``path``, in file order; problems go to ``warn``."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _parse(handle, path, known_sections, warn)
    except FileNotFoundError:
        raise SubscribersError(
            f"{path}: no such file; create it with a header line 'email,name,sections' and one "
            "subscriber per line, or set [delivery] subscribers in newsletter.toml"
        ) from None
    except UnicodeDecodeError:
        raise SubscribersError(f"{path}: not UTF-8 text; save it as UTF-8 CSV") from None
    except csv.Error as e:
        raise SubscribersError(f"{path}: not valid CSV: {e}") from None
    except OSError as e:
        raise SubscribersError(f"{path}: cannot read: {e.strerror}") from e


def _parse(
    handle: Iterable[str], path: Path, known: Collection[str], warn: Warn
) -> list[Subscriber]:
    reader = csv.reader(handle)
    header = [f.strip().lower() for f in next(reader, [])]
    if "email" not in header:
        raise SubscribersError(
            f"{path}:1: the header line must name an 'email' column "
            "(expected 'email,name,sections')"
        )
    seen: dict[str, int] = {}
    result: list[Subscriber] = []
    previous = reader.line_num
    for fields in reader:
        line, previous = previous + 1, reader.line_num  # where a record spanning lines starts
        if not any(f.strip() for f in fields):
            continue
        row = dict(zip(header, fields, strict=False))
        subscriber = _subscriber(row, f"{path}:{line}", known, warn)
        if subscriber is None:
            continue
        if subscriber.key in seen:
            warn(
                f"{path}:{line}: {subscriber.email} is already on line "
                f"{seen[subscriber.key]}; skipped"
            )
            continue
        seen[subscriber.key] = line
        result.append(subscriber)
    return result


def _subscriber(
    row: Mapping[str, str], where: str, known: Collection[str], warn: Warn
) -> Subscriber | None:
    email = (row.get("email") or "").strip()
    if email.startswith("#"):
        return None  # a comment line
    problem = address_problem(email)
    if problem:
        warn(f"{where}: {problem}; skipped")
        return None
    sections = _sections(row.get("sections") or "", email, where, known, warn)
    if sections is not None and not sections:
        warn(f"{where}: {email} lists no section this newsletter has; skipped")
        return None
    name = " ".join((row.get("name") or "").split())  # a quoted line break cannot reach To:
    return Subscriber(email=email, name=name, sections=sections)


def _sections(
    text: str, email: str, where: str, known: Collection[str], warn: Warn
) -> frozenset[str] | None:
    ids = [part for part in re.split(r"[\s;]+", text.strip()) if part]
    if not ids:
        return None
    unknown = sorted(set(ids) - set(known))
    if unknown:
        warn(
            f"{where}: {email}: unknown section {', '.join(repr(u) for u in unknown)} ignored "
            f"(this newsletter has: {', '.join(known)})"
        )
    return frozenset(i for i in ids if i in known)
