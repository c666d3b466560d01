"""The public archive: an index of past issues, each issue's web version, an Atom feed.

The same pages are served by ``newsletter serve`` and written as static files by
``newsletter archive DIR``. A web version is the issue rendered again from its issue.json with
the live templates for no reader at all: no address, no personal link (the footer offers the
sign-up page instead). Relative links only, so the static copy works under any path.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment

from newsletter.config import Config
from newsletter.email.render import Reader, load_templates, render_issue
from newsletter.model import Issue, issue_from_json
from newsletter.store.outbox import read_issue_json

ATOM = "http://www.w3.org/2005/Atom"
FEED_NAME = "feed.atom"


@dataclass(frozen=True)
class Entry:
    number: int
    subject: str
    date: str  # YYYY-MM-DD
    slot: datetime
    folder: Path

    @property
    def path(self) -> str:
        """The web version's path relative to the archive's root."""
        return f"issues/{self.number}/"


def entries(config: Config) -> list[Entry]:
    """This newsletter's issues in the outbox, newest first (one per number)."""
    found: dict[int, Entry] = {}
    outbox = config.outbox_dir
    if not outbox.is_dir():
        return []
    for folder in sorted(outbox.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        data = read_issue_json(folder)
        if not data or data.get("newsletter") != config.newsletter.name:
            continue
        try:
            issue = issue_from_json(data)
        except (KeyError, TypeError, ValueError):
            continue  # not the contract: `newsletter send` reports it; the archive skips it
        found[issue.number] = Entry(
            issue.number, issue.subject, issue.date.isoformat(), issue.slot, folder
        )
    return [found[n] for n in sorted(found, reverse=True)]


def web_version(config: Config, entry: Entry, subscribe_url: str | None) -> str:
    """The issue's HTML for the web: rendered for no reader, so no personal link."""
    key = (entry.folder, (entry.folder / "issue.json").stat().st_mtime_ns, subscribe_url)
    if key not in _RENDERED:
        if len(_RENDERED) >= 64:
            _RENDERED.clear()  # a cache of finished issues; any process may rebuild it
        _RENDERED[key] = _web_version(config, entry.folder, subscribe_url)
    return _RENDERED[key]


_RENDERED: dict[tuple[Path, int, str | None], str] = {}


def _web_version(config: Config, folder: Path, subscribe_url: str | None) -> str:
    data = read_issue_json(folder)
    assert data is not None
    issue: Issue = issue_from_json(data)
    templates = load_templates(config.templates_dir)
    rendered = render_issue(
        issue,
        config,
        templates,
        unsubscribe_url=subscribe_url,
        reader=Reader(None, subscribe_url=subscribe_url),
    )
    return rendered.html


def index_html(
    config: Config, pages: Environment, found: list[Entry], subscribe_url: str | None
) -> str:
    return pages.get_template("archive.html").render(
        newsletter=config.newsletter.name,
        entries=found,
        feed=FEED_NAME,
        subscribe_url=subscribe_url,
    )


def atom_feed(config: Config, found: list[Entry], base: str) -> bytes:
    """An Atom 1.0 feed of the issues; ``base`` is the archive's absolute URL (ends with /)."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = config.newsletter.name
    ET.SubElement(feed, f"{{{ATOM}}}id").text = base
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", href=base)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=base + FEED_NAME)
    newest = max((e.slot for e in found), default=datetime(2000, 1, 1, tzinfo=UTC))
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(newest)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = config.newsletter.name
    for entry in found:
        item = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(item, f"{{{ATOM}}}title").text = entry.subject
        ET.SubElement(item, f"{{{ATOM}}}id").text = base + entry.path
        ET.SubElement(item, f"{{{ATOM}}}link", rel="alternate", href=base + entry.path)
        ET.SubElement(item, f"{{{ATOM}}}updated").text = _stamp(entry.slot)
        summary = ET.SubElement(item, f"{{{ATOM}}}summary")
        summary.text = f"Issue #{entry.number}, {entry.date}"
    data: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return data


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_archive(config: Config, pages: Environment, target: Path, base: str) -> int:
    """Write index.html, feed.atom and issues/N/index.html under ``target``; each file
    appears whole (written beside, then renamed). Returns how many issues were written."""
    found = entries(config)
    subscribe = base + "subscribe" if config.web.base_url else None
    files: dict[Path, bytes] = {
        target / "index.html": index_html(config, pages, found, subscribe).encode(),
        target / FEED_NAME: atom_feed(config, found, base),
    }
    for entry in found:
        html = web_version(config, entry, subscribe)
        files[target / entry.path / "index.html"] = html.encode()
    for path, data in files.items():
        _write(path, data)
    return len(found)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
