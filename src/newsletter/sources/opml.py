"""OPML subscription lists in and out: ``newsletter feeds import`` and ``feeds export``.

Import reads the list with listparser (by feedparser's maintainer: OPML 1 and 2, nested
outlines as categories) and appends ``[[feeds]]`` tables to newsletter.toml with tomlkit, which
edits the document in place: every comment, blank line and key order stays as written. A feed
already configured (by normalized URL, see ``normalized_url``) is skipped. The new text is
validated as a whole config before it replaces the file, in one rename.

An OPML file is untrusted: it is parsed from bytes (never fetched), checked to be well-formed
XML with an ``<opml>`` root first (listparser's own parser recovers from anything), and only
http(s) URLs are taken; titles are made display-safe and shortened.

Export writes OPML 2.0: one ``<outline type="rss">`` per http(s) feed, nested under outlines
for its ``category`` path, in the order of newsletter.toml.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.parsers import expat

from newsletter.config import Config, parse_config
from newsletter.errors import ConfigError
from newsletter.untrusted import display_safe

MAX_OPML_BYTES = 10_000_000
MAX_TITLE = 200
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str
    category: tuple[str, ...]  # the outline path above it, outermost first; () at the top


@dataclass(frozen=True)
class ImportReport:
    added: tuple[OpmlFeed, ...]
    duplicates: int  # already in newsletter.toml, or twice in the file
    unusable: int  # not an http(s) URL

    def summary(self, source: Path, config_path: Path) -> str:
        line = (
            f"{source}: added {len(self.added)} feed{'' if len(self.added) == 1 else 's'} "
            f"to {config_path}, skipped {self.duplicates} already configured"
        )
        if self.unusable:
            line += f", {self.unusable} without an http(s) URL"
        return line


def normalized_url(url: str) -> str:
    """What makes two feed URLs the same subscription: scheme (http and https alike) and host
    case-insensitive, no default port, no fragment, no trailing slash on the path."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if scheme in _DEFAULT_PORTS:
        scheme = "http"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def read_opml(path: Path) -> list[OpmlFeed]:
    """The feeds listed in the OPML file ``path``; ConfigError (one line) if it is not one."""
    try:
        if path.stat().st_size > MAX_OPML_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_OPML_BYTES} bytes; not an OPML file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; pass the path of an .opml file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; pass the path of an .opml file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    return parse_opml(data, path)


def parse_opml(data: bytes, path: Path) -> list[OpmlFeed]:
    _check_well_formed(data, path)
    import listparser

    parsed: Any = listparser.parse(data)  # bytes: listparser never fetches a document
    if parsed.get("bozo"):
        raise ConfigError(f"{path}: not a readable OPML file: {parsed.get('bozo_exception')}")
    feeds = []
    for entry in parsed.get("feeds", []):
        url = str(entry.get("url") or "").strip()
        categories = entry.get("categories") or [[]]
        category = tuple(_clean(c) for c in categories[0] if _clean(c))
        feeds.append(OpmlFeed(url, _clean(str(entry.get("title") or "")), category))
    return feeds


def _check_well_formed(data: bytes, path: Path) -> None:
    """Expat, which resolves no external entity, on the whole document: the first error with
    its line and column, or a root that is not ``<opml>``."""
    roots: list[str] = []
    parser = expat.ParserCreate()
    parser.StartElementHandler = lambda name, _attrs: roots.append(name) if not roots else None
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        reason = expat.errors.messages.get(e.code, str(e))
        raise ConfigError(
            f"{path}: not an OPML file: line {e.lineno}, column {e.offset + 1}: {reason}"
        ) from None
    if not roots or roots[0].lower() != "opml":
        found = f"<{roots[0]}>" if roots else "no element"
        raise ConfigError(f"{path}: not an OPML file: the document starts with {found}")


def _clean(text: str) -> str:
    return display_safe(text)[:MAX_TITLE].strip()


def plan_import(existing: list[str], found: list[OpmlFeed]) -> ImportReport:
    """Which of ``found`` to add: http(s) only, none already configured or listed earlier."""
    seen = {normalized_url(u) for u in existing}
    added: list[OpmlFeed] = []
    duplicates = unusable = 0
    for feed in found:
        parts = urlsplit(feed.url)
        if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.netloc:
            unusable += 1
            continue
        key = normalized_url(feed.url)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        added.append(feed)
    return ImportReport(tuple(added), duplicates, unusable)


def import_opml(config_path: Path, source: Path) -> ImportReport:
    """Append the new feeds of ``source`` to ``config_path`` (see module doc)."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    found = read_opml(source)
    try:
        text = config_path.read_text(encoding="utf-8")
        document = tomlkit.parse(text)
    except FileNotFoundError:
        raise ConfigError(
            f"{config_path}: no such file; run 'newsletter init DIR' or pass --config PATH"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{config_path}: cannot read: {e}") from None
    except TOMLKitError as e:
        raise ConfigError(f"{config_path}: invalid TOML: {e}") from None
    current = document.get("feeds", [])
    urls = [str(t.get("url", "")) for t in current if hasattr(t, "get")]
    report = plan_import(urls, found)
    if not report.added:
        return report
    if "feeds" not in document:
        document.append("feeds", tomlkit.aot())
    feeds_table = document["feeds"]
    for feed in report.added:
        table = tomlkit.table()
        table.add("name", feed.title or urlsplit(feed.url).hostname or feed.url)
        table.add("url", feed.url)
        if feed.category:
            table.add("category", list(feed.category))
        table.add(tomlkit.nl())  # a blank line after each, as people write them
        feeds_table.append(table)
    new_text = tomlkit.dumps(document)
    _validate(new_text, config_path)
    _replace(config_path, new_text)
    return report


def _validate(text: str, config_path: Path) -> None:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:  # pragma: no cover - tomlkit writes valid TOML
        raise ConfigError(f"{config_path}: the edit is not valid TOML ({e}); unchanged") from None
    try:
        parse_config(data, config_path)
    except ConfigError as e:
        raise ConfigError(f"{e} (after the import; newsletter.toml left unchanged)") from None


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` in one rename, keeping the file's permissions."""
    mode = path.stat().st_mode & 0o7777
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def export_opml(config: Config, now: datetime) -> tuple[bytes, int]:
    """OPML 2.0 for every http(s) feed of ``config``; and how many local feeds were left out."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = f"{config.newsletter.name}: feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(now)
    body = ET.SubElement(root, "body")
    folders: dict[tuple[str, ...], ET.Element] = {(): body}
    left_out = 0
    for feed in config.feeds:
        if urlsplit(feed.url).scheme.lower() not in _DEFAULT_PORTS:
            left_out += 1
            continue
        parent = _folder(folders, tuple(feed.category))
        ET.SubElement(
            parent, "outline", type="rss", text=feed.name, title=feed.name, xmlUrl=feed.url
        )
    ET.indent(root, space="  ")
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
    return data, left_out


def _folder(folders: dict[tuple[str, ...], ET.Element], path: tuple[str, ...]) -> ET.Element:
    if path not in folders:
        parent = _folder(folders, path[:-1])
        folders[path] = ET.SubElement(parent, "outline", text=path[-1], title=path[-1])
    return folders[path]
