"""Ingestion details an operator notices: full text for teaser feeds (and the teaser when the page
fails), Retry-After honoured, and disabled feeds left alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedserver import Route, serving
from newsletter.config import load_config
from newsletter.sources.fetch import FetchRequest, FetchResult, OnResult
from newsletter.sources.ingest import default_fetcher, feed_health, ingest_feeds
from newsletter.store import state

NOW = datetime(2025, 11, 25, 7, 0, tzinfo=UTC)
PAGE = (
    "<html><body><nav>Home | World | Sport</nav><article><h1>Talks</h1>"
    + "<p>Kyiv said the plan needs changes before any deal can be signed. </p>" * 6
    + "<p>Officials in Washington said the envoy would return to Geneva.</p></article>"
    + "<footer>Copyright</footer><script>track()</script></body></html>"
)


def rss(*items: tuple[str, str, str]) -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
        "<pubDate>Tue, 25 Nov 2025 06:00:00 GMT</pubDate></item>"
        for t, d, link in items
    )
    return f"<rss version='2.0'><channel><title>x</title>{body}</channel></rss>".encode()


def configure(project: Path, tables: str, fetch: str = "") -> Path:
    path = project / "newsletter.toml"
    fetch = "\n[fetch]\ntimeout = 2\ndeadline = 3\n" + fetch
    path.write_text(path.read_text() + "\n" + tables + fetch)
    return path


def test_full_text_replaces_the_teaser_and_falls_back_to_it(project: Path) -> None:
    with serving() as server:
        server.routes["/teasers.xml"] = Route(
            rss(
                ("Talks", "Kyiv wants changes.", server.url("/article/1")),
                ("Missing page", "Teaser stays.", server.url("/article/404")),
            )
        )
        server.routes["/article/1"] = Route(PAGE.encode(), content_type="text/html")
        config = load_config(
            configure(
                project,
                f'[[feeds]]\nname = "T"\nurl = "{server.url("/teasers.xml")}"\nfull_text = true',
                "allow_private_networks = true\n",  # the article pages are on 127.0.0.1
            )
        )
        warnings: list[str] = []
        with state.connect(config.state_dir) as engine:
            articles = ingest_feeds(config, engine, default_fetcher(config), NOW, warnings.append)
    texts = {a.title: a.text for a in articles}
    assert "Officials in Washington said the envoy" in texts["Talks"]
    assert "Home | World" not in texts["Talks"] and "track()" not in texts["Talks"]
    assert texts["Missing page"] == "Teaser stays."
    assert warnings == []


def test_retry_after_is_honoured_and_disabled_feeds_are_not_fetched(project: Path) -> None:
    with serving() as server:
        server.routes["/busy.xml"] = Route(
            b"slow down", status=429, content_type="text/plain", headers={"Retry-After": "3600"}
        )
        server.routes["/off.xml"] = Route(rss(("Off", "x", "http://o/1")))
        config = load_config(
            configure(
                project,
                f'[[feeds]]\nname = "Busy"\nurl = "{server.url("/busy.xml")}"\n'
                f'[[feeds]]\nname = "Off"\nurl = "{server.url("/off.xml")}"\nenabled = false\n',
            )
        )
        warnings: list[str] = []
        with state.connect(config.state_dir) as engine:
            fetcher = default_fetcher(config)
            ingest_feeds(config, engine, fetcher, NOW, warnings.append)
            ingest_feeds(config, engine, fetcher, NOW + timedelta(minutes=10), warnings.append)
            ingest_feeds(config, engine, fetcher, NOW + timedelta(hours=2), warnings.append)
            health = {h.name: h for h in feed_health(config, engine)}
        assert len(server.requests_to("/busy.xml")) == 2  # not during the hour asked for
        assert server.requests_to("/off.xml") == []
    assert "HTTP 429" in warnings[0] and "Retry-After: 3600" in warnings[0]
    assert "asked to retry after 2025-11-25 08:00 UTC" in warnings[1]
    assert health["Busy"].consecutive_failures == 2 and health["Busy"].last_status == 429
    assert health["Off"].health == "disabled"


class CannedFetcher:
    """A hand-written Fetcher that answers every request with the same feed and never reports
    results as they arrive (the protocol's ``on_result`` is optional to honour)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests: list[FetchRequest] = []

    def fetch_all(
        self, requests: Sequence[FetchRequest], on_result: OnResult | None = None
    ) -> list[FetchResult]:
        self.requests.extend(requests)
        return [FetchResult(r, status=200, body=self.body, final_url=r.url) for r in requests]


def test_any_fetcher_will_do_even_one_that_reports_only_at_the_end(project: Path) -> None:
    tables = "".join(
        f'[[feeds]]\nname = "F{i}"\nurl = "https://f{i}.example/rss"\n' for i in range(20)
    )
    config = load_config(configure(project, tables))
    fetcher = CannedFetcher(rss(("Kyiv talks", "Text.", "https://x.example/1")))
    with state.connect(config.state_dir) as engine:
        articles = ingest_feeds(config, engine, fetcher, NOW, print)
    assert len(fetcher.requests) == 20
    assert [a.url for a in articles] == ["https://x.example/1"] * 20  # dedup happens later


def test_feed_state_round_trips_on_sqlite_and_postgresql(
    tmp_path: Path, state_url: str | None
) -> None:
    from newsletter.model import Article
    from newsletter.sources.feedstate import (
        FeedRecord,
        load_feeds,
        published_urls,
        save_feeds,
        store_articles,
        stored_articles,
    )

    a = Article("feed:a", "A", "Text a.", "https://x.example/a", "X", NOW, "feed", ("no-date",))
    b = Article("feed:b", "B", "Text b.", "https://x.example/b", "X", NOW, "feed")
    with state.connect(tmp_path, state_url) as engine:
        save_feeds(engine, [FeedRecord("https://x.example/rss", "X", etag='"1"')])
        save_feeds(engine, [FeedRecord("https://x.example/rss", "X", etag='"2"', retired=True)])
        assert store_articles(engine, [("https://x.example/rss", [a, b, a])], NOW) == {
            "https://x.example/rss": 2
        }
        assert store_articles(engine, [("https://x.example/rss", [a])], NOW) == {}
        (record,) = load_feeds(engine).values()
        assert record.etag == '"2"' and record.retired
        stored = stored_articles(engine, ["https://x.example/rss"], "N")
        assert {s.id for s in stored} == {"feed:a", "feed:b"}
        assert next(s for s in stored if s.id == "feed:a").flags == ("no-date",)
        assert published_urls(
            engine, {"feed:a"}, ["https://x.example/a", "https://x.example/b"]
        ) == {"https://x.example/a"}


def test_entries_older_than_max_age_are_left_out(project: Path) -> None:
    def dated(title: str, day: str) -> str:
        return (
            f"<item><title>{title}</title><link>https://d.example/{title}</link>"
            f"<description>Text.</description><pubDate>{day}</pubDate></item>"
        )

    feed = project / "archive.xml"
    feed.write_text(
        "<rss version='2.0'><channel><title>d</title>"
        + dated("fresh", "Mon, 24 Nov 2025 10:00:00 GMT")
        + dated("old", "Sat, 25 Oct 2025 10:00:00 GMT")
        + "<item><title>undated</title><link>https://d.example/u</link></item>"
        + "</channel></rss>"
    )
    path = configure(project, '[[feeds]]\nname = "D"\nurl = "archive.xml"')
    titles = []
    for max_age in ("", "max_age_days = 0\n"):
        path.write_text(path.read_text().replace("[fetch]\n", f"[fetch]\n{max_age}"))
        config = load_config(path)
        with state.connect(config.state_dir) as engine:
            found = ingest_feeds(config, engine, default_fetcher(config), NOW, print)
        titles.append({a.title for a in found})
    assert titles == [{"fresh", "undated"}, {"fresh", "old", "undated"}]
