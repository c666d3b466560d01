"""Feeds: bytes already fetched -> Articles.

RSS 0.9x/1.0/2.0 and Atom go through feedparser (given the URL, so relative links resolve);
JSON Feed through ``json``. Nothing here touches the network or the database, so a process pool
can run it. Entry HTML becomes plain text through nh3 (a real sanitizer), images are dropped,
links are canonicalized (tracking parameters, fragments, trailing slashes removed).

A feed that yields nothing usable is a ``ParsedFeed`` with ``error`` set; a feed that yields
articles despite problems carries ``notes`` (one warning line per feed, never per entry).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit
from xml.sax import SAXParseException

from newsletter.model import Article
from newsletter.untrusted import display_safe, xml_safe

# Tags kept through nh3 only to mark paragraph breaks; every attribute is dropped.
_BLOCK_TAGS = {
    "p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "tr", "table", "section", "article", "figcaption", "dd", "dt",
}  # fmt: skip
_TRACKING = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
    "mc_cid", "mc_eid", "_ga", "_gl", "ocid", "cmpid", "ncid", "sr_share", "smid", "ref_src",
}  # fmt: skip
_TITLE_WORDS = 12
MAX_ENTRY_CHARS = 100_000
# Deeper than this, HTML is flattened before nh3 (html5ever's tree building is quadratic in
# the depth of open elements: 16,000 nested <ul><li> took 7 s). Real articles nest < 30 deep.
MAX_HTML_DEPTH = 200
# Up to the next "<" or ">": linear over any input (a quoted ">" only splits a tag, harmless:
# nh3 cleans the result).
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*>")
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source",
         "track", "wbr", "param"}  # fmt: skip
# Kept through flattening so that nh3 removes them with their content.
_RAW_TEXT = {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
             "plaintext"}  # fmt: skip
_TAG_IN_TEXT = re.compile(r"<[A-Za-z/!?][^<>]*>")
_OPENER_IN_TEXT = re.compile(r"<+(?=[A-Za-z/!?])")  # a run: "<<a" must not leave "<a"
# Text the URL may keep as it is; anything else (non-ASCII, spaces, controls) is %-encoded.
_URL_SAFE = "/:?#[]@!$&()*+,;=%~-._"  # RFC 3986 reserved but ' (encoded: it would end an attribute)


@dataclass(frozen=True)
class ParseJob:
    """One fetched feed to parse. Plain data, so it crosses a process boundary."""

    key: str  # the feed's configured URL (its identity in the state database)
    name: str
    body: bytes
    base_url: str  # where the bytes came from: relative links resolve against it
    content_type: str
    fetched_at: datetime
    max_entries: int
    max_entry_chars: int = MAX_ENTRY_CHARS


@dataclass(frozen=True)
class ParsedFeed:
    key: str
    articles: tuple[Article, ...] = ()
    entries: int = 0
    error: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Entry:
    guid: str | None
    link: str | None
    title: str
    html: str
    published: datetime | None


def parse_feed(job: ParseJob) -> ParsedFeed:
    """Parse one feed's bytes; never raises for bad input."""
    body = job.body
    if not body.strip():
        return ParsedFeed(job.key, error="empty body: the server sent no feed")
    if _has_entity_declarations(body):
        return ParsedFeed(
            job.key,
            error="XML declares entities (possible entity-expansion bomb); refused unparsed",
        )
    if _looks_like_json(body, job.content_type):
        return _parse_json(job)
    return _parse_xml(job)


def _has_entity_declarations(body: bytes) -> bool:
    """defusedxml's rule: a feed has no business declaring entities in its DOCTYPE."""
    for bom, codec in ((b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe\x00\x00", "utf-32"),
                       (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):  # fmt: skip
        if body.startswith(bom):
            body = body.decode(codec, "ignore").encode("utf-8")
            break
    start = body.find(b"<!DOCTYPE", 0, 65536)
    if start < 0:
        return False
    end = body.find(b"]>", start)
    return b"<!ENTITY" in body[start : end if end >= 0 else len(body)]


def _looks_like_json(body: bytes, content_type: str) -> bool:
    return "json" in content_type.lower() or body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


_IMPORT_LOCK = threading.Lock()
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>/]")
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")


def cut_entries(body: bytes, max_entries: int) -> tuple[bytes, int]:
    """The feed with entries past ``max_entries`` cut out before any parsing (feedparser takes
    ~36 s and 180 MB for 100,000 tiny entries, all but the first ``max_entries`` then thrown
    away), and how many entry tags the body holds. The cut keeps the document whole: the
    entries' tail from the first dropped entry to the end of the last one is removed."""
    starts = _ENTRY_START.finditer(body)
    first_dropped = None
    total = 0
    for total, match in enumerate(starts, 1):
        if total == max_entries + 1:
            first_dropped = match.start()
    if first_dropped is None:
        return body, total
    last_end = -1
    for match in _ENTRY_END.finditer(body, first_dropped):
        last_end = match.end()
    if last_end < 0:
        return body[:first_dropped], total
    return body[:first_dropped] + body[last_end:], total


def _feedparser() -> Any:
    """feedparser, imported on first use: a process that only hands bodies to a parse worker
    (ingest) never loads it (with urllib.request, ~4 MB).

    feedparser imports chardet at its own import whenever chardet is installed (another
    package may bring it: chardet 7 adds about 3 MB and tens of milliseconds to every parsing
    process), yet asks it only for a body none of whose declared encodings decodes. So
    chardet is kept out of that import and loaded by the guess itself, the first time a body
    needs one: the same guesses, paid for only by a day that has such a body."""
    loaded = sys.modules.get("feedparser")
    if loaded is not None:
        return loaded
    with _IMPORT_LOCK:
        blocked = [name for name in ("cchardet", "chardet") if name not in sys.modules]
        for name in blocked:
            sys.modules[name] = None  # type: ignore[assignment]  # "import chardet" fails
        try:
            import feedparser
            import feedparser.encodings
        finally:
            for name in blocked:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
        feedparser.encodings.lazy_chardet_encoding = _guessed_encoding
    return feedparser


def _guessed_encoding(data: bytes) -> str:
    """chardet's guess (cchardet's first, as feedparser prefers it), or "" when neither is
    installed: feedparser then goes on to UTF-8, windows-1252 and iso-8859-2, as it would."""
    for name in ("cchardet", "chardet"):
        try:
            detector = importlib.import_module(name)
        except ImportError:
            continue
        return str(detector.detect(data).get("encoding") or "")
    return ""


def _declaration_first(body: bytes) -> bytes:
    """The body without the blank lines some servers send before the XML declaration (a
    WordPress plugin's stray newline; TechCrunch's and YouTube's feeds in ../shared): XML
    forbids anything before it, so feedparser reported "XML or text declaration not at
    start of entity" on every run for a feed whose entries it read in full."""
    if body[:1].isspace():
        stripped = body.lstrip()
        if stripped.startswith(b"<?xml"):
            return stripped
    return body


def _parse_xml(job: ParseJob) -> ParsedFeed:
    # A file: feed has no content type. application/xml tells feedparser to take the
    # encoding from the XML declaration (UTF-8 without one); text/xml would mean us-ascii
    # under RFC 3023, and a false "declared as us-ascii" warning on every run.
    headers = {
        "content-location": job.base_url,
        "content-type": job.content_type or "application/xml",
    }
    body, tags = cut_entries(_declaration_first(job.body), job.max_entries)
    # resolve_relative_uris=False: feedparser would parse every entry's HTML a second time
    # (superlinear on nested tags) to rewrite links we never use; we keep text only.
    parsed = _feedparser().parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    version = parsed.get("version")
    entries = parsed.get("entries") or []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not entries:
        if _looks_like_html(job.body):
            return ParsedFeed(job.key, error="an HTML page, not a feed (use the site's feed link)")
        if problem is not None:
            return ParsedFeed(job.key, error=f"not a readable feed: {_describe(problem)}")
        if not version:
            return ParsedFeed(job.key, error="not a feed: no RSS, Atom or JSON Feed in the body")
        return ParsedFeed(job.key, notes=("the feed has no entries",))
    notes = [f"parsed despite: {_describe(problem)}"] if problem is not None else []
    return _articles(job, [_xml_entry(e, job.base_url) for e in entries], notes, tags)


def _looks_like_html(body: bytes) -> bool:
    head = body[:2048].lower()
    return b"<html" in head or b"<!doctype html" in head


def _describe(problem: object) -> str:
    if isinstance(problem, SAXParseException):
        where = f"line {problem.getLineNumber()}, column {problem.getColumnNumber()}"
        return f"malformed or truncated XML at {where}: {problem.getMessage()}"
    text = " ".join(str(problem).split()) or type(problem).__name__
    return text[:200]


def _xml_entry(entry: Any, base: str) -> _Entry:
    html = ""
    for content in entry.get("content") or ():
        value = content.get("value") or ""
        if len(value) > len(html):
            html = value
    html = html or entry.get("summary") or ""
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    # FeedBurner (feedproxy.google.com) links redirect; the feed carries the article's own.
    link = entry.get("feedburner_origlink") or entry.get("link") or None
    return _Entry(
        guid=entry.get("id") or None,
        link=urljoin(base, link) if link else None,
        title=entry.get("title") or "",
        html=html,
        published=_from_struct(stamp),
    )


def _from_struct(stamp: time.struct_time | None) -> datetime | None:
    if stamp is None:
        return None
    try:
        return datetime(*stamp[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _parse_json(job: ParseJob) -> ParsedFeed:
    try:
        data = json.loads(job.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        return ParsedFeed(job.key, error=f"not a readable JSON Feed: {_describe(e)}")
    if not isinstance(data, dict) or "jsonfeed.org/version" not in str(data.get("version", "")):
        return ParsedFeed(job.key, error="JSON, but not a JSON Feed (no jsonfeed.org version)")
    items = data.get("items")
    if not isinstance(items, list):
        return ParsedFeed(job.key, error="JSON Feed without an 'items' list")
    base = str(data.get("home_page_url") or job.base_url)
    kept = items[: job.max_entries]
    entries = [_json_entry(item, base) for item in kept if isinstance(item, dict)]
    return _articles(job, entries, [], len(items))


def _json_entry(item: dict[str, Any], base: str) -> _Entry:
    link = item.get("url") or item.get("external_url")
    html = item.get("content_html") or item.get("summary") or ""
    if not html and item.get("content_text"):
        html = _escape_text(str(item["content_text"]))
    return _Entry(
        guid=str(item["id"]) if item.get("id") is not None else None,
        link=urljoin(base, str(link)) if link else None,
        title=str(item.get("title") or ""),
        html=str(html),
        published=_from_iso(item.get("date_published") or item.get("date_modified")),
    )


def _escape_text(text: str) -> str:
    paragraphs = (p.replace("&", "&amp;").replace("<", "&lt;") for p in text.split("\n"))
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def _from_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _articles(job: ParseJob, entries: list[_Entry], notes: list[str], tags: int = 0) -> ParsedFeed:
    """``tags``: entries counted in the body before it was cut (``cut_entries``)."""
    total = max(len(entries), tags if tags > job.max_entries else 0)
    if total > job.max_entries:
        notes.append(f"{total:,} entries; kept the first {job.max_entries:,} (fetch.max_entries)")
        entries = entries[: job.max_entries]
    articles: list[Article] = []
    missing = {"link": 0, "date": 0, "title": 0}
    cut: list[str] = []
    for entry in entries:
        if len(entry.html) > job.max_entry_chars or len(entry.title) > job.max_entry_chars:
            cut.append(display_safe(entry.title[:80]) or entry.guid or entry.link or "untitled")
            entry = replace(
                entry,
                html=entry.html[: job.max_entry_chars],
                title=entry.title[: job.max_entry_chars],
            )
        article = to_article(entry, job)
        if article is None:
            continue
        for flag in article.flags:
            missing[flag.removeprefix("no-")] += 1
        articles.append(article)
    for flag, what in (
        ("link", "without a link"),
        ("date", "without a date (fetch time used)"),
        ("title", "without a title (taken from the text)"),
    ):
        if missing[flag]:
            notes.append(f"{_entries(missing[flag])} {what}")
    if cut:
        notes.append(
            f"{_entries(len(cut))} cut to {job.max_entry_chars:,} characters "
            f"(fetch.max_entry_chars), first {cut[0]!r}"
        )
    skipped = len(entries) - len(articles)
    if skipped:
        notes.append(f"{_entries(skipped)} with neither title nor text skipped")
    return ParsedFeed(job.key, tuple(articles), total, None, tuple(notes))


def _entries(n: int) -> str:
    return f"{n:,} entry" if n == 1 else f"{n:,} entries"


def to_article(entry: _Entry, job: ParseJob) -> Article | None:
    text = xml_safe(plain_text(entry.html))
    title = display_safe(plain_text(entry.title))
    flags: list[str] = []
    if not title:
        if not text:
            return None
        title = _title_from(text)
        flags.append("no-title")
    link = canonical_url(entry.link) if entry.link else None
    if link is None:
        flags.append("no-link")
    published = entry.published
    if published is None:
        published = job.fetched_at
        flags.append("no-date")
    key = entry.guid or link or f"{job.key}\n{title}\n{text[:200]}"
    return Article(
        id="feed:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:24],
        title=title,
        text=text or title,
        url=link,
        outlet=job.name,
        published=published,
        origin="feed",
        flags=tuple(flags),
    )


def _title_from(text: str) -> str:
    words = text.split()
    return " ".join(words[:_TITLE_WORDS]) + (" ..." if len(words) > _TITLE_WORDS else "")


_ANY_TAG = re.compile(r"<[^>]*>")
_HOST = re.compile(r"[a-z0-9._~-]+|\[[0-9a-f:.]+\]")


def plain_text(html: str) -> str:
    """Untrusted HTML -> plain text: nh3 removes everything but block tags (script and style
    with their content, images, attributes, comments); the block tags only become line breaks.
    nh3's output is well-formed and escapes every ``<`` of the text, so each ``<...>`` left in
    it is one of those tags; entities are then decoded as an HTML parser would."""
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return "\n".join(" ".join(line.split()) for line in html.splitlines() if line.strip())
    import nh3  # here, like feedparser: only where text is parsed

    clean = nh3.clean(_shallow(html), tags=_BLOCK_TAGS, attributes={}, strip_comments=True)
    text = unescape(_ANY_TAG.sub("\n", clean))
    # Markup that was escaped in the feed ("&lt;script&gt;") is text now; it is no news.
    # Removing one can join the text around it into another ("<!--<b>-->"): then the "<" of
    # what is left goes too. Two linear passes.
    text = _OPENER_IN_TEXT.sub("", _TAG_IN_TEXT.sub("", text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _shallow(html: str) -> str:
    """``html`` as it is, or, when its tags nest deeper than MAX_HTML_DEPTH, flattened in one
    linear pass: block tags become ``<br>``, other tags go (script, style and the like stay,
    for nh3 to remove with their content). nh3 still cleans the result."""
    depth = deepest = 0
    for match in _TAG.finditer(html):
        if match[2].lower() in _VOID:
            continue
        depth = max(depth - 1, 0) if match[1] else depth + 1
        deepest = max(deepest, depth)
        if deepest > MAX_HTML_DEPTH:
            return _TAG.sub(_flat_tag, html)
    return html


def _flat_tag(match: re.Match[str]) -> str:
    name = match[2].lower()
    if name in _RAW_TEXT:
        return match[0]
    return "<br>" if name in _BLOCK_TAGS else ""


_REDIRECTS = {("www.google.com", "/url"), ("google.com", "/url")}


def _unwrap_redirect(url: str) -> str:
    """A redirect link that carries its target (Google Alerts' google.com/url?url=...) ->
    the target; any other URL unchanged."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    if ((parts.hostname or "").lower(), parts.path) not in _REDIRECTS:
        return url
    query = dict(parse_qsl(parts.query))
    target = query.get("url") or query.get("q") or ""
    return target if target.startswith(("http://", "https://")) else url


def canonical_url(url: str) -> str | None:
    """http(s) URLs only; host lowercased, tracking parameters, fragment and trailing slash
    removed; a redirect that carries its target (Google Alerts) becomes the target. Anything
    else (javascript:, data:, mailto:) is no link at all."""
    url = _unwrap_redirect(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    try:  # a look-alike host shows as what it is: xn--...
        host = parts.hostname.lower().encode("idna").decode("ascii")
    except UnicodeError:
        return None
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    if not _HOST.fullmatch(host):  # 'http://"' or 'http://a b/': no host a browser would open
        return None
    if port and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING
    ]
    path = quote(parts.path.rstrip("/"), safe=_URL_SAFE)
    return urlunsplit((scheme, host, path, quote(urlencode(query, doseq=True), safe=_URL_SAFE), ""))
