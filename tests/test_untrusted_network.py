"""Untrusted input, the network and files half: feeds and pages are written by strangers.

A URL a feed chose (an article page, any redirect target) never reaches a private address; a
redirect never downgrades https to http nor records a move to a refused address; a compression
bomb, a 100,000-entry feed and an endless redirect chain each stop at their limit with one line
and bounded memory; local seeds and ``file:`` feeds are regular files in their folder, their
size checked before reading. Real servers on 127.0.0.1 (the operator's own feed URLs there stay
allowed: they are trusted as written); no network.
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import json
import os
import ssl
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from conftest import cli_env
from feedserver import FeedServer, Route, serving
from newsletter.config import load_config
from newsletter.pipeline import run
from newsletter.sources import feedstate
from newsletter.sources.fetch import FetchLimits, FetchRequest, FetchResult, HttpFetcher
from newsletter.sources.netguard import GuardedTransport, refusal
from newsletter.sources.seeds import read_seeds
from newsletter.store import state

NOW = datetime(2025, 11, 25, 7, 0, tzinfo=UTC)
SECRET = "The internal admin password is hunter2 and the database listens on port 5432."
TEASER = "Ukraine and the United States discussed the peace plan in Geneva."


def rss(*items: tuple[str, str, str]) -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><description>{d}</description>"
        f"<guid>{link}</guid><pubDate>Tue, 25 Nov 2025 06:00:00 GMT</pubDate></item>"
        for t, d, link in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>f</title>'
        f"<link>http://example.org/</link>{body}</channel></rss>"
    ).encode()


def page(text: str) -> bytes:
    paragraphs = "".join(f"<p>{text} {text}</p>" for _ in range(6))
    return f"<html><body><article><h1>Internal</h1>{paragraphs}</article></body></html>".encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with serving() as s:
        yield s


def localhost_url(server: FeedServer, path: str) -> str:
    return server.url(path).replace("127.0.0.1", "localhost")


def write_feeds(project: Path, server: FeedServer, fetch: str = "") -> None:
    """'Teasers' (full_text) links its entry to a loopback page; 'Moved' redirects to a
    loopback feed by a name (localhost), as a hostile public server would."""
    server.routes["/secret.html"] = Route(page(SECRET), content_type="text/html")
    server.routes["/teasers.xml"] = Route(
        rss(("Peace plan talks", TEASER, server.url("/secret.html")))
    )
    server.routes["/moved.xml"] = Route(
        status=301, headers={"Location": localhost_url(server, "/internal.xml")}
    )
    server.routes["/internal.xml"] = Route(
        rss(("Internal feed", SECRET, "http://intranet.example/1"))
    )
    with (project / "newsletter.toml").open("a", encoding="utf-8") as f:
        f.write(
            f'\n[[feeds]]\nname = "Teasers"\nurl = "{server.url("/teasers.xml")}"\n'
            "full_text = true\n"
            f'\n[[feeds]]\nname = "Moved"\nurl = "{server.url("/moved.xml")}"\n'
            f"\n[fetch]\ntimeout = 2\ndeadline = 4\n{fetch}"
        )


def stored(project: Path) -> dict[str, str]:
    """Every feed article in the state database: id -> text."""
    config = load_config(project / "newsletter.toml")
    query = sa.select(feedstate.feed_articles.c.id, feedstate.feed_articles.c.text)
    with state.connect(config.state_dir, config.state.url) as engine, engine.connect() as conn:
        return {row.id: row.text for row in conn.execute(query)}


def moved_to(project: Path) -> str | None:
    config = load_config(project / "newsletter.toml")
    with state.connect(config.state_dir, config.state.url) as engine:
        records = feedstate.load_feeds(engine, [f.url for f in config.feeds])
    (moved,) = [r for r in records.values() if r.name == "Moved"]
    return moved.current_url


def test_guard_on_a_feed_entry_and_a_redirect_to_loopback_fetch_nothing(
    project: Path, server: FeedServer
) -> None:
    write_feeds(project, server)
    warnings: list[str] = []

    result = run(load_config(project / "newsletter.toml"), now=NOW, warn=warnings.append)

    assert result.status == "written", result.message  # the issue is built all the same
    assert server.requests_to("/secret.html") == []
    assert server.requests_to("/internal.xml") == []
    assert len(server.requests_to("/teasers.xml")) == 1  # the operator's own URL: trusted
    teasers = [w for w in warnings if "'Teasers'" in w]
    moved = [w for w in warnings if "'Moved'" in w]
    assert len(teasers) == 1 and len(moved) == 1, warnings
    assert f"article page {server.url('/secret.html')} refused" in teasers[0]
    assert "127.0.0.1 is a loopback address" in teasers[0]
    assert f"redirect to {localhost_url(server, '/internal.xml')} refused" in moved[0]
    assert "localhost (127.0.0.1) is a loopback address" in moved[0]
    assert "allow_private_networks" in moved[0]
    assert not any(SECRET in text for text in stored(project).values())
    assert moved_to(project) is None  # a 301 to a refused address is not recorded
    html = (result.path / "issue.html").read_text() if result.path else ""
    assert "hunter2" not in html


def test_guard_off_fetches_them(project: Path, server: FeedServer) -> None:
    write_feeds(project, server, "allow_private_networks = true\n")
    warnings: list[str] = []

    result = run(load_config(project / "newsletter.toml"), now=NOW, warn=warnings.append)

    assert result.status == "written", result.message
    assert len(server.requests_to("/secret.html")) == 1
    assert len(server.requests_to("/internal.xml")) == 1
    texts = stored(project).values()
    assert sum(SECRET in text for text in texts) == 2  # the page's text and the internal feed
    assert moved_to(project) == localhost_url(server, "/internal.xml")


def test_article_pages_and_the_run_have_limits_each_with_one_line(
    project: Path, server: FeedServer
) -> None:
    """A page too big, a page too slow (each cut, the teaser kept) and more articles than a run
    takes: each reported once; the issue is built."""
    server.routes["/big.html"] = Route(page("Kyiv " * 4000), content_type="text/html")
    server.routes["/slow.html"] = Route(page(TEASER), content_type="text/html", delay=3)
    server.routes["/pages.xml"] = Route(
        rss(
            ("Big page", TEASER, server.url("/big.html")),
            ("Slow page", TEASER, server.url("/slow.html")),
        )
    )
    server.routes["/many.xml"] = Route(
        rss(*((f"Plan {n}", TEASER, f"http://many.example/{n}") for n in range(5)))
    )
    with (project / "newsletter.toml").open("a", encoding="utf-8") as f:
        f.write(
            f'\n[[feeds]]\nname = "Pages"\nurl = "{server.url("/pages.xml")}"\nfull_text = true\n'
            f'\n[[feeds]]\nname = "Many"\nurl = "{server.url("/many.xml")}"\n'
            "\n[fetch]\nallow_private_networks = true\npage_max_bytes = 10_000\n"
            "page_deadline = 1\nmax_articles = 4\n"
        )
    warnings: list[str] = []

    result = run(load_config(project / "newsletter.toml"), now=NOW, warn=warnings.append)

    assert result.status == "written", result.message
    assert warnings.count("feeds gave 7 articles; took the first 4 (fetch.max_articles)") == 1
    (pages,) = [w for w in warnings if "'Pages'" in w]
    assert f"article page {server.url('/big.html')}: body of " in pages
    assert "bytes is over the 0.01 MB limit; article page " in pages
    assert f"{server.url('/slow.html')}: no complete answer within 1 s" in pages
    assert len(stored(project)) == 4


def one(request: FetchRequest, **options: object) -> FetchResult:
    limits = FetchLimits(timeout=2, deadline=4)
    (result,) = HttpFetcher(limits, **options).fetch_all([request])  # type: ignore[arg-type]
    return result


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]", "0.0.0.0", "[::1]"],
)
def test_every_spelling_of_loopback_is_refused_for_a_page(server: FeedServer, host: str) -> None:
    server.routes["/p"] = Route(b"<html>secret</html>", content_type="text/html")
    url = server.url("/p").replace("127.0.0.1", host)

    result = one(FetchRequest(url, trusted=False))

    assert result.body is None and result.guarded
    assert result.error is not None and result.error.startswith(f"{url} refused: ")
    assert server.requests_to("/p") == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("169.254.169.254", "a link-local address"),  # cloud metadata
        ("10.1.2.3", "a private address"),
        ("192.168.0.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("100.64.0.1", "a non-public address"),  # carrier-grade NAT
        ("224.0.0.251", "a multicast address"),
        ("240.0.0.1", "a private address"),  # reserved
        ("fd00::1", "a private address"),  # unique-local
        ("fe80::1", "a link-local address"),
        ("::", "an unspecified address"),
        ("::ffff:10.0.0.1", "a private address"),  # IPv4-mapped
        ("ff02::1", "a multicast address"),
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
    ],
)
def test_which_addresses_are_refused(address: str, why: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == why


def test_a_name_answering_a_public_then_a_private_address_is_refused(server: FeedServer) -> None:
    """A resolver stub: the first address public, the second the loopback where the test's
    server listens (what a rebinding DNS server answers). A check of the first address only,
    or a check followed by a second lookup when connecting, would reach the server."""
    server.routes["/p"] = Route(b"<html>secret</html>", content_type="text/html")
    asked: list[str] = []

    def resolver(host: str) -> list[str]:
        asked.append(host)
        return ["93.184.216.34", "127.0.0.1"]

    url = server.url("/p").replace("127.0.0.1", "news.example")
    result = one(FetchRequest(url, trusted=False), resolver=resolver)

    assert asked == ["news.example"]  # asked once: the address checked is the one connected to
    assert result.error is not None
    assert "news.example (127.0.0.1) is a loopback address" in result.error
    assert server.requests_to("/p") == []


def test_the_guard_connects_to_the_address_it_checked_with_the_name_in_host(
    server: FeedServer,
) -> None:
    """The allowed path, on loopback: a policy that allows everything stands in for a public
    answer. The stub resolver is asked once; the server sees the name in ``Host``."""
    server.routes["/p"] = Route(b"<rss/>")
    asked: list[str] = []

    def resolver(host: str) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]

    async def get(url: str) -> httpx.Response:
        transport = GuardedTransport(resolver, False, httpx.Limits(), refuse=lambda _: None)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(url)

    port = server.url("/p").rsplit(":", 1)[1].split("/")[0]
    response = asyncio.run(get(f"http://feed.example:{port}/p"))

    assert response.status_code == 200 and response.content == b"<rss/>"
    assert asked == ["feed.example"]
    (seen,) = server.requests_to("/p")
    assert seen.headers["host"] == f"feed.example:{port}"


def test_an_https_feed_never_follows_or_records_a_move_to_http(
    server: FeedServer, tmp_path: Path
) -> None:
    """A TLS server on 127.0.0.1 answers 301 to the same feed over plain http."""
    from smtp_server import self_signed_certificate, server_tls

    cert, key = self_signed_certificate(tmp_path)
    context = server_tls(cert, key)
    server.routes["/feed.xml"] = Route(rss(("Plan", TEASER, "http://a.example/1")))
    with serving(tls=context) as secure:
        secure.routes["/feed.xml"] = Route(
            status=301, headers={"Location": server.url("/feed.xml")}
        )
        verify = ssl.create_default_context(cafile=str(cert))
        limits = FetchLimits(timeout=2, allow_private_networks=True)
        (result,) = HttpFetcher(limits, verify=verify).fetch_all(
            [FetchRequest(secure.url("/feed.xml"))]
        )
    assert result.error == (
        f"redirect from {secure.url('/feed.xml')} to {server.url('/feed.xml')} refused: "
        "it would leave https for http"
    )
    assert result.permanent_url is None
    assert server.requests_to("/feed.xml") == []


def test_certificates_are_checked_on_https_in_a_run_of_http_feeds(
    server: FeedServer, tmp_path: Path
) -> None:
    """Plain-http feeds are fetched without building a TLS context; an https feed beside
    them, and an http feed that redirects to https, still get their certificate checked
    (here self-signed: refused) and the http feed still arrives."""
    from smtp_server import self_signed_certificate, server_tls

    cert, key = self_signed_certificate(tmp_path)
    server.routes["/plain.xml"] = Route(rss(("Plan", TEASER, "http://a.example/1")))
    with serving(tls=server_tls(cert, key)) as secure:
        secure.routes["/feed.xml"] = Route(rss(("Plan", TEASER, "http://a.example/2")))
        server.routes["/moved.xml"] = Route(
            status=301, headers={"Location": secure.url("/feed.xml")}
        )
        limits = FetchLimits(timeout=2, allow_private_networks=True)
        plain, direct, moved = HttpFetcher(limits).fetch_all(
            [
                FetchRequest(server.url("/plain.xml")),
                FetchRequest(secure.url("/feed.xml")),
                FetchRequest(server.url("/moved.xml")),
            ]
        )
    assert plain.ok and plain.body
    for result in (direct, moved):
        assert result.body is None and result.error is not None
        assert "CERTIFICATE_VERIFY_FAILED" in result.error, result.error
    assert secure.requests_to("/feed.xml") == []  # no request got through the handshake


PROBE = r"""
import json, resource, sys
from newsletter.sources.fetch import FetchLimits, FetchRequest, HttpFetcher
from newsletter.sources.feeds import ParseJob, parse_feed
from datetime import UTC, datetime
url, max_bytes = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))
def peak():  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024
before = peak()
limits = FetchLimits(timeout=5, deadline=8, max_bytes=max_bytes, allow_private_networks=True)
try:
    (result,) = HttpFetcher(limits).fetch_all([FetchRequest(url)])
    error, entries, notes = result.error, 0, []
    if result.ok:
        job = ParseJob("k", "n", result.body, url, result.content_type, datetime.now(UTC), 1000)
        parsed = parse_feed(job)
        error, entries, notes = parsed.error, len(parsed.articles), list(parsed.notes)
except MemoryError:
    error, entries, notes = "MemoryError", 0, []
grew = peak() - before
print(json.dumps({"error": error, "entries": entries, "notes": notes, "grew": grew}))
"""


def probe(url: str, max_bytes: int = 10_000_000) -> dict[str, object]:
    """Fetch (and parse) ``url`` in a fresh process; what it gave and how much its peak RSS
    grew over the process's imports ("grew")."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, url, str(max_bytes)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def stacked_gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip'd twice (served as ``Content-Encoding: gzip, gzip``): under
    1 KB. The inner stream is built from one fully flushed deflate block repeated (zlib would
    take seconds to compress the zeros), with a valid trailer."""
    chunk = bytes(1_000_000)
    inner = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = inner.compress(chunk) + inner.flush(zlib.Z_FULL_FLUSH)  # with the gzip header
    block = inner.compress(chunk) + inner.flush(zlib.Z_FULL_FLUSH)
    count = size // len(chunk)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()  # empty last block
    once = first + block * (count - 1) + final + struct.pack("<II", crc, size & 0xFFFFFFFF)
    return gzip.compress(once, 9)


def test_a_stacked_gzip_bomb_is_stopped_as_it_inflates(server: FeedServer) -> None:
    bomb = stacked_gzip_bomb(300_000_000)
    assert len(bomb) < 1_000
    server.routes["/bomb.xml"] = Route(bomb, headers={"Content-Encoding": "gzip, gzip"})

    answer = probe(server.url("/bomb.xml"), max_bytes=2_000_000)

    assert answer["error"] == "body is over the 2 MB limit"
    assert isinstance(answer["grew"], int) and answer["grew"] < 40_000_000


def test_a_feed_of_100000_entries_is_cut_before_parsing(server: FeedServer) -> None:
    items = "".join(
        f"<item><title>t{i}</title><link>http://h/{i}</link></item>" for i in range(100_000)
    )
    body = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>{items}</channel></rss>'
    )
    assert len(body) < 10_000_000  # under the body cap: only the entries limit can stop it
    server.routes["/huge.xml"] = Route(body.encode())

    answer = probe(server.url("/huge.xml"))

    assert answer["entries"] == 1000
    assert answer["notes"] == [
        "100,000 entries; kept the first 1,000 (fetch.max_entries)",
        "1,000 entries without a date (fetch time used)",
    ]
    assert isinstance(answer["grew"], int) and answer["grew"] < 80_000_000


def test_an_endless_redirect_chain_stops_at_the_limit(server: FeedServer) -> None:
    """Each hop a new URL (no loop to spot), each redirect carrying a large body."""
    for n in range(40):
        server.routes[f"/r{n}"] = Route(
            b"x" * 5_000_000, status=302, headers={"Location": f"/r{n + 1}"}
        )

    answer = probe(server.url("/r0"))

    assert answer["error"] == "more than 5 redirects (fetch.max_redirects)"
    assert len(server.seen) == 6
    assert isinstance(answer["grew"], int) and answer["grew"] < 40_000_000


def test_a_fifo_and_a_device_as_file_feeds_are_refused_in_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.xml"
    os.mkfifo(fifo)
    results: list[list[FetchResult]] = []
    worker = threading.Thread(
        target=lambda: results.append(
            HttpFetcher().fetch_all([FetchRequest(fifo.as_uri()), FetchRequest("file:/dev/zero")])
        ),
        daemon=True,
    )
    worker.start()
    worker.join(5)
    assert results, "reading a FIFO blocked the run"
    fifo_result, zero = results[0]
    assert fifo_result.error == f"{fifo}: refused: a FIFO, not a regular file"
    assert zero.error == "/dev/zero: refused: a character device, not a regular file"


def test_seeds_a_fifo_and_a_symlink_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a-good.txt").write_text("Kyiv and Washington discussed the plan.\n")
    os.mkfifo(seeds / "b-fifo.txt")
    private = tmp_path / "private.txt"
    private.write_text("The operator's private notes.\n")
    (seeds / "c-link.txt").symlink_to(private)
    (seeds / "d-inside.txt").symlink_to(seeds / "a-good.txt")  # stays in seeds/: fine
    warnings: list[str] = []

    articles = read_seeds(seeds, warnings.append)

    assert [a.text for a in articles] == ["Kyiv and Washington discussed the plan."] * 2
    assert warnings == [
        f"{seeds / 'b-fifo.txt'}: skipped: a FIFO, not a regular file",
        f"{seeds / 'c-link.txt'}: skipped: a symlink leading out of {seeds} (to {private})",
    ]


SEED_PROBE = r"""
import json, sys
from pathlib import Path
from newsletter.sources.seeds import read_seeds
def peak():  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent
    status = open("/proc/self/status").read()
    return int(status.split("VmHWM:")[1].split()[0]) * 1024
before = peak()
warnings = []
read_seeds(Path(sys.argv[1]), warnings.append)
print(json.dumps({"warnings": warnings, "grew": peak() - before}))
"""


def test_a_300_mb_sparse_seed_is_refused_without_reading_it(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    with (seeds / "huge.txt").open("wb") as f:
        f.truncate(300_000_000)  # sparse: no disk used
    (seeds / "small.txt").write_text("Kyiv and Washington discussed the plan.\n")

    done = subprocess.run(
        [sys.executable, "-c", SEED_PROBE, str(seeds)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(done.stdout)

    assert answer["warnings"] == [
        f"{seeds / 'huge.txt'}: skipped: 300,000,000 bytes is over the 1 MB limit"
    ]
    assert answer["grew"] < 20_000_000  # not the 300 MB it would take to read it
