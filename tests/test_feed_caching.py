"""A feed that says how long its answer stays fresh (Cache-Control max-age, Expires) is not
fetched again within that time, as feed readers do; "no-cache" and a failed fetch change
nothing, and a long max-age never keeps a daily edition from fetching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from feedserver import Route, serving
from newsletter.config import load_config
from newsletter.sources.caching import freshness
from newsletter.sources.ingest import default_fetcher, feed_health, ingest_feeds
from newsletter.store import state

NOW = datetime(2025, 11, 25, 7, 0, tzinfo=UTC)
RSS = (
    b"<rss version='2.0'><channel><title>x</title><item><title>Kyiv answers the plan</title>"
    b"<link>http://w.example/1</link><description>Ukraine replied.</description>"
    b"<pubDate>Tue, 25 Nov 2025 06:00:00 GMT</pubDate></item></channel></rss>"
)
HEADERS = {
    "hourly": {"Cache-Control": "public, max-age=1800"},
    # Measured against the server's own Date header (sent by the test server: the real clock).
    "expires": {"Expires": format_datetime(datetime.now(UTC) + timedelta(minutes=20), usegmt=True)},
    "no-cache": {"Cache-Control": "no-cache, max-age=1800"},
    "yearly": {"Cache-Control": "max-age=31536000"},
    "plain": {},
}


def test_fresh_answers_are_reused_and_stale_ones_fetched(project: Path) -> None:
    with serving() as server:
        feeds = ""
        for name, headers in HEADERS.items():
            server.routes[f"/{name}.xml"] = Route(RSS, headers=headers)
            feeds += f'[[feeds]]\nname = "{name}"\nurl = "{server.url(f"/{name}.xml")}"\n'
        path = project / "newsletter.toml"
        path.write_text(path.read_text() + "\n" + feeds + "[fetch]\ntimeout = 2\ndeadline = 3\n")
        config = load_config(path)
        warnings: list[str] = []
        with state.connect(config.state_dir) as engine:
            fetcher = default_fetcher(config)
            first = ingest_feeds(config, engine, fetcher, NOW, warnings.append)
            fetched = {name: len(server.requests_to(f"/{name}.xml")) for name in HEADERS}
            later = ingest_feeds(
                config, engine, fetcher, NOW + timedelta(minutes=10), warnings.append
            )
            after_ten = {name: len(server.requests_to(f"/{name}.xml")) for name in HEADERS}
            ingest_feeds(config, engine, fetcher, NOW + timedelta(minutes=61), warnings.append)
            after_hour = {name: len(server.requests_to(f"/{name}.xml")) for name in HEADERS}
            health = {h.name: h.as_json() for h in feed_health(config, engine)}
    assert warnings == [] and len(first) >= 1
    assert fetched == dict.fromkeys(HEADERS, 1)
    # Ten minutes later: the fresh ones are not asked again, their stored articles still count.
    assert after_ten == {"hourly": 1, "expires": 1, "no-cache": 2, "yearly": 1, "plain": 2}
    assert {a.url for a in later} == {a.url for a in first}
    # An hour later every feed is fetched: a year-long max-age holds for an hour at most.
    assert after_hour == {"hourly": 2, "expires": 2, "no-cache": 3, "yearly": 2, "plain": 3}
    assert health["yearly"]["fresh_until"] == "2025-11-25T09:01:00+00:00"
    assert health["plain"]["fresh_until"] is None


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"cache-control": "max-age=600", "age": "100"}, 500.0),  # a proxy held it 100 s
        ({"cache-control": "max-age=oops"}, None),  # unreadable: not said, not "forever"
        ({"expires": "0"}, 0.0),  # already expired
        ({"expires": "Tue, 25 Nov 2025 08:00:00 GMT"}, None),  # no Date to measure it against
        (
            {"expires": "Tue, 25 Nov 2025 08:00:00 GMT", "date": "Tue, 25 Nov 2025 07:00:00 GMT"},
            3600.0,
        ),
        ({"cache-control": "no-store"}, 0.0),
    ],
)
def test_caching_headers_are_read_as_a_private_cache_reads_them(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert freshness(headers) == seconds
