"""Feeds as an operator meets them: one run over good feeds and every kind of broken one, served
by a real HTTP server on 127.0.0.1. The issue is still built, each broken feed is reported once
with its reason, a second run sends the stored validators, nothing is published twice, and one
story from three outlets is one item citing all three."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import run_cli
from feedserver import FeedServer, Route, serving
from newsletter.config import Config, load_config
from newsletter.pipeline import RunResult, run
from newsletter.sources import feedstate
from newsletter.store import state

NOW = datetime(2025, 11, 25, 7, 0, tzinfo=UTC)
STORY = (
    "Ukraine's President Zelenskiy said on Monday that Kyiv would work with Washington on the "
    "United States peace plan, while Russia's Kremlin insisted that any framework must meet its "
    "demands on territory, NATO and the armed forces. European allies warned that security "
    "guarantees for Ukraine remain the central question of the talks in Geneva this week."
)
VARIANTS = {  # the same story as three outlets tell it: a few words differ
    "Wire A": STORY,
    "Wire B": STORY.replace("on Monday", "late on Monday").replace("this week", "this weekend"),
    "Wire C": STORY.replace("European allies", "Europe's allies") + " Talks continue.",
}
OTHER = {
    "Wire A": "Rubio told reporters the delegation in Geneva made progress on the draft proposal "
    "and that the White House envoy would brief Trump on the revised terms by Thursday.",
    "Wire B": "The Kremlin said Putin would study the proposal, and Moscow demanded that Kyiv "
    "withdraw from the provinces it still holds before military operations could stop.",
    "Wire C": "Erdogan offered Ankara as a venue for talks as Turkey urged the partners to end "
    "the bloodshed, and Zelenskiy thanked Ukraine's allies for their support.",
}


def rss(items: list[str], encoding: str = "utf-8") -> bytes:
    body = "".join(items)
    return (
        f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
        f"<title>feed</title><link>http://example.org/</link>{body}</channel></rss>"
    ).encode(encoding if encoding != "us-ascii" else "utf-8")


def item(
    title: str | None,
    text: str,
    link: str | None,
    guid: str | None = None,
    date: str | None = "Tue, 25 Nov 2025 06:00:00 GMT",
) -> str:
    parts = [f"<title>{title}</title>" if title is not None else ""]
    parts.append(f"<link>{link}</link>" if link else "")
    parts.append(f'<guid isPermaLink="false">{guid}</guid>' if guid else "")
    parts.append(f"<pubDate>{date}</pubDate>" if date else "")
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    parts.append(f"<description>&lt;p&gt;{escaped}&lt;/p&gt;</description>")
    return "<item>" + "".join(parts) + "</item>"


def atom(entries: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<entry><id>{link}</id><title>{title}</title><link href='{link}'/>"
        f"<updated>2025-11-25T05:30:00Z</updated><summary type='html'>&lt;p&gt;{text}&lt;/p&gt;"
        "&lt;img src='http://tracker.example/pixel.gif'&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        "</summary></entry>"
        for title, text, link in entries
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>B</title><id>urn:b</id><updated>2025-11-25T05:30:00Z</updated>{body}</feed>"
    ).encode()


def json_feed(entries: list[tuple[str, str, str]]) -> bytes:
    items = [
        {
            "id": link,
            "url": link,
            "title": title,
            "content_text": text,
            "date_published": "2025-11-25T05:00:00+00:00",
        }
        for title, text, link in entries
    ]
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": "C", "items": items}
    ).encode()


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>bomb</title>
<item><title>&lol9;</title><link>http://bomb.example/1</link></item></channel></rss>"""

# Every broken feed: its path, how the server answers, and what its warning must say.
BROKEN: dict[str, tuple[Route, str]] = {
    "/page.html": (
        Route(b"<!doctype html><html><body><p>Welcome</p></body></html>", content_type="text/html"),
        "an HTML page, not a feed",
    ),
    "/truncated.xml": (
        Route(rss([item("Cut", "Ukraine talks", "http://t.example/1")])[:-60]),
        "truncated XML",
    ),
    "/wrong-encoding.xml": (
        Route(
            rss([item("Caf\u00e9 talks in Kyiv", "Ukraine", "http://e.example/1")], "utf-8")
            .decode()
            .encode("latin-1")
        ),
        "declared as utf-8",
    ),
    "/no-encoding.xml": (
        Route(
            rss([item("Caf\u00e9 in Kyiv", "Ukraine", "http://n.example/1")])
            .replace(b' encoding="utf-8"', b"")
            .decode()
            .encode("cp1252"),
            content_type="text/xml",
        ),
        "parsed as",
    ),
    "/empty.xml": (Route(b""), "empty body"),
    "/missing.xml": (Route(b"gone", status=404, content_type="text/plain"), "HTTP 404"),
    "/gone.xml": (Route(b"", status=410, content_type="text/plain"), "410 Gone"),
    "/error.xml": (Route(b"oops", status=500, content_type="text/plain"), "HTTP 500"),
    "/busy.xml": (
        Route(b"", status=503, content_type="text/plain", headers={"Retry-After": "120"}),
        "Retry-After: 120",
    ),
    "/slow.xml": (Route(rss([]), delay=4.0), "timed out after 1.5 s"),
    "/trickle.xml": (Route(b"", trickle=True), "no complete answer within 3 s"),
    "/loop-a": (Route(status=302, headers={"Location": "/loop-b"}), "redirect loop"),
    "/big.xml": (Route(b"<rss>" + b" " * 3_000_000, send_length=False), "over the 2 MB limit"),
    "/bomb.xml": (Route(BOMB), "entity-expansion bomb"),
    "/sparse.xml": (
        Route(
            rss(
                [
                    item(None, "Kyiv and Washington discuss the plan's terms.", "http://s/1"),
                    item("No link: Ukraine", "Zelenskiy met allies.", None, guid="s-2"),
                    item("No date: Russia", "The Kremlin answered.", "http://s/3", date=None),
                ]
            )
        ),
        "1 entry without a link; 1 entry without a date (fetch time used); 1 entry without a title",
    ),
    "/huge.xml": (
        Route(
            rss([item(f"Entry {i}", "x", f"http://h.example/{i}") for i in range(10_000)]),
            etag='"h"',
        ),
        "10,000 entries; kept the first 300 (fetch.max_entries)",
    ),
}


def good_routes(server: FeedServer) -> None:
    a = [
        item(
            "Zelenskiy backs talks on US plan", VARIANTS["Wire A"], "http://a.example/story", "a-1"
        )
    ]
    a.append(item("Rubio sees progress", OTHER["Wire A"], "http://a.example/rubio/?utm_source=rss"))
    server.routes["/a.xml"] = Route(rss(a), etag='"a1"', last_modified="Tue, 25 Nov 2025 06:00 GMT")
    b = [("Kyiv to work with Washington", VARIANTS["Wire B"], "http://b.example/story")]
    b.append(("Kremlin studies proposal", OTHER["Wire B"], "http://b.example/kremlin"))
    server.routes["/b.atom"] = Route(
        atom(b), content_type="application/atom+xml", etag='"b1"', gzip=True
    )
    c = [("Ukraine will work on plan", VARIANTS["Wire C"], "http://c.example/story")]
    c.append(("Erdogan offers Ankara", OTHER["Wire C"], "http://c.example/ankara"))
    server.routes["/c.json"] = Route(
        json_feed(c), content_type="application/feed+json", last_modified="Tue, 25 Nov 2025"
    )
    server.routes["/old-c.json"] = Route(status=301, headers={"Location": "/c.json"})


def write_config(project: Path, server: FeedServer, local_feed: Path) -> None:
    feeds = [("Wire A", "/a.xml"), ("Wire B", "/b.atom"), ("Wire C", "/old-c.json")]
    feeds += [(f"Broken {path}", path) for path in BROKEN]
    lines = [f'[[feeds]]\nname = "{name}"\nurl = "{server.url(path)}"\n' for name, path in feeds]
    lines.append(f'[[feeds]]\nname = "Local"\nurl = "{local_feed.name}"\nexclude = ["sport"]\n')
    lines.append(
        "[fetch]\ntimeout = 1.5\ndeadline = 3.0\nmax_bytes = 2_000_000\nmax_entries = 300\n"
        "unhealthy_after = 2\n"
        "allow_private_networks = true\n"  # its moves and loops redirect on 127.0.0.1
    )
    with (project / "newsletter.toml").open("a", encoding="utf-8") as f:
        f.write("\n" + "\n".join(lines))


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with serving() as s:
        good_routes(s)
        for path, (route, _) in BROKEN.items():
            s.routes[path] = route
        s.routes["/loop-b"] = Route(status=302, headers={"Location": "/loop-a"})
        yield s


def issue(result: RunResult) -> dict[str, object]:
    assert result.path is not None, result.message
    data: dict[str, object] = json.loads((result.path / "issue.json").read_text())
    return data


def items_of(data: dict[str, object]) -> list[dict[str, object]]:
    sections = data["sections"]
    lead = data.get("lead") or []
    assert isinstance(sections, list) and isinstance(lead, list)
    return [*lead, *(i for s in sections for i in s["items"])]


def considered(config: Config) -> dict[str, tuple[str | None, str | None]]:
    """Feed articles recorded as published by a finished issue: id -> (outlet, url)."""
    query = sa.select(
        feedstate.feed_articles.c.id,
        feedstate.feed_articles.c.outlet,
        feedstate.feed_articles.c.url,
    ).join(state.issue_articles, state.issue_articles.c.article_id == feedstate.feed_articles.c.id)
    with state.connect(config.state_dir, config.state.url) as engine, engine.connect() as conn:
        return {row.id: (row.outlet, row.url) for row in conn.execute(query)}


def test_a_run_over_good_and_broken_feeds(project: Path, server: FeedServer) -> None:
    local = project / "local.xml"
    local.write_bytes(
        rss(
            [
                item(
                    "Local: Kyiv council on the plan", "Ukraine's capital prepares.", "http://l/1"
                ),
                item("Local sport results", "The sport club won.", "http://l/2"),
            ]
        )
    )
    write_config(project, server, local)
    config = load_config(project / "newsletter.toml")
    warnings: list[str] = []

    first = run(config, now=NOW, warn=warnings.append)

    # The issue is built from the good feeds (and the seed).
    assert first.status == "written", first.message
    data = issue(first)
    seen = considered(config)  # every feed article the run considered, recorded as published
    ids = set(seen)
    outlets = {outlet for outlet, _ in seen.values()}
    assert {"Wire A", "Wire B", "Wire C", "Local"} <= outlets, warnings
    urls = {url for _, url in seen.values()}
    assert "http://a.example/rubio" in urls  # canonical: no utm_*, no trailing slash
    assert "http://l/2" not in urls  # excluded by the feed's "sport" pattern
    # issue.json lists exactly the articles its items cite (not every one considered).
    listed = {(a["title"], a["url"], a["outlet"]) for a in data["articles"]}
    cited = {(s["title"], s["url"], s["outlet"]) for i in items_of(data) for s in i["sources"]}
    assert listed == cited and len(listed) < len(seen)

    # Each broken feed: exactly one line naming it, its URL and the reason.
    for path, (_, reason) in BROKEN.items():
        lines = [w for w in warnings if f"'Broken {path}'" in w]
        assert len(lines) == 1, (path, lines)
        assert server.url(path) in lines[0] and reason in lines[0], lines[0]
    assert not [w for w in warnings if "Wire A" in w or "Wire B" in w]
    assert any("Wire C" in w and "moved permanently" in w for w in warnings)

    # One story from three outlets: one item citing all three.
    story_items = [
        i for i in items_of(data) if {s["outlet"] for s in i["sources"]} >= set(VARIANTS)
    ]
    assert story_items, items_of(data)
    cited = [i for i in items_of(data) for s in i["sources"] if "/story" in str(s["url"])]
    assert len(cited) == 3 * len(story_items)

    # No script, image or tracker from a feed reaches the email.
    html = (first.path / "issue.html").read_text()
    assert "tracker.example" not in html and "alert(1)" not in html

    # Second run, a day later: validators sent back, 304s parse nothing, nothing is repeated.
    warnings.clear()
    second = run(config, now=NOW + timedelta(days=1), warn=warnings.append)
    assert server.requests_to("/a.xml")[-1].headers.get("if-none-match") == '"a1"'
    assert server.requests_to("/a.xml")[-1].status == 304
    assert server.requests_to("/b.atom")[-1].status == 304
    assert server.requests_to("/c.json")[-1].headers.get("if-modified-since")
    assert len(server.requests_to("/old-c.json")) == 1  # the 301 moved the stored URL
    assert second.status == "nothing-new", second.message
    assert any("'Broken /gone.xml'" in w and "retired" in w for w in warnings)
    assert len(server.requests_to("/gone.xml")) == 1  # a retired feed is not fetched again

    # Third run: Wire A has one new story and re-issues an old one under a new guid.
    server.routes["/a.xml"] = Route(
        rss(
            [
                item("New: Kremlin answers", OTHER["Wire B"] + " New.", "http://a.example/new"),
                item("Rubio again", OTHER["Wire A"], "http://a.example/rubio", guid="changed"),
                item("Zelenskiy backs talks", VARIANTS["Wire A"], "http://a.example/story", "a-1"),
            ]
        ),
        etag='"a2"',
    )
    third = run(config, now=NOW + timedelta(days=2), warn=warnings.append)
    again = issue(third)
    assert [a["url"] for a in again["articles"]] == ["http://a.example/new"]
    assert not ids & {a["id"] for a in again["articles"]}

    # The operator's view of feed health.
    shown = run_cli("feeds", "--json", cwd=project)
    assert shown.returncode == 0, shown.stderr
    health = {f["name"]: f for f in json.loads(shown.stdout)}
    assert health["Wire A"]["health"] == "ok" and health["Wire A"]["entries_seen"] == 4
    assert health["Wire C"]["fetched_from"] == server.url("/c.json")
    assert health["Broken /missing.xml"]["unhealthy"] is True
    assert health["Broken /missing.xml"]["consecutive_failures"] == 3
    assert health["Broken /missing.xml"]["last_status"] == 404
    assert health["Broken /gone.xml"]["health"] == "retired"
    assert "redirect loop" in health["Broken /loop-a"]["last_error"]
    table = run_cli("feeds", cwd=project)
    assert table.returncode == 0 and table.stdout.splitlines()[1].startswith("retired")
