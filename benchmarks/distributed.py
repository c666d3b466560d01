"""Embedded vs distributed throughput: feeds fetched per second and messages sent per second.

Run from the repository root (needs Debian's postgresql and redis-server, like the tests):

    PYTHONPATH=src:tests python benchmarks/distributed.py [--feeds 200] [--subscribers 1000]

Feeds: N feeds on a loopback HTTP server that answers each request after 100 ms (a far-away
server's latency), one item each. Embedded: ``ingest.ingest_feeds`` in one process (16 at a
time, as configured by default). Distributed: the slot's fetch tasks (one per feed) on 1 and 2
``newsletter worker`` processes, timed from enqueueing to the last fetch recorded. Messages:
M subscribers on an aiosmtpd server on loopback, rate limit lifted. Embedded:
``delivery.deliver_issue`` in one process; distributed: ``send_issue`` fanned out in batches
on 1 and 2 workers, timed from enqueueing to the last delivery recorded. Every distributed run
gets a fresh PostgreSQL database; the embedded runs use SQLite, as the embedded mode does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

import sqlalchemy as sa  # noqa: E402

from feedserver import Route, serving  # noqa: E402
from fleet import fresh_database, workers  # noqa: E402
from newsletter import pipeline  # noqa: E402
from newsletter.config import Config, load_config  # noqa: E402
from newsletter.delivery import ledger  # noqa: E402
from newsletter.delivery.send import deliver_issue  # noqa: E402
from newsletter.distributed.app import CeleryQueue, make_app  # noqa: E402
from newsletter.distributed.orchestrate import enqueue_slot  # noqa: E402
from newsletter.sources.ingest import default_fetcher, ingest_feeds  # noqa: E402
from newsletter.store import state  # noqa: E402
from servers import postgres_server, redis_server  # noqa: E402
from smtp_server import SmtpServer  # noqa: E402

SECRET = {"NEWSLETTER_UNSUBSCRIBE_SECRET": "benchmark-secret-0123456789"}
LATENCY = 0.1


def feed_body(n: int) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire {n}</title><link>https://wire{n}.example/</link>
<item><title>Report {n}</title><link>https://wire{n}.example/story-{n}</link>
<guid>https://wire{n}.example/story-{n}</guid><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate>
<description>Correspondent {n} reports that delegations met again; officials said the plan
needs changes before any vote, and talks go on next week in a city to be named.</description>
</item></channel></rss>""".encode()


@dataclass(frozen=True)
class Row:
    what: str
    mode: str
    count: int
    seconds: float

    def line(self) -> str:
        rate = self.count / self.seconds
        return f"| {self.what} | {self.mode} | {self.count} | {self.seconds:.2f} | {rate:.0f} |"


def project(root: Path, feed_urls: list[str], smtp_port: int, subscribers: int) -> Path:
    shutil.copy(REPO / "newsletter.toml", root / "newsletter.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copytree(REPO / "seeds", root / "seeds")
    text = (root / "newsletter.toml").read_text()
    text = text.replace("[brand]\n", '[brand]\nunsubscribe_url = "https://example.org/u"\n', 1)
    text += "\n" + "".join(
        f'[[feeds]]\nurl = "{u}"\nname = "Wire {i}"\n' for i, u in enumerate(feed_urls)
    )
    text += f'\n[delivery]\nrate = 1000\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\n'
    text += 'security = "none"\n'
    (root / "newsletter.toml").write_text(text)
    rows = [f"reader{i}@example.org,Reader {i}" for i in range(subscribers)]
    (root / "subscribers.csv").write_text("email,name\n" + "\n".join(rows) + "\n")
    return root / "newsletter.toml"


def distributed(toml: Path, url: str, broker: str, queue: str) -> Config:
    text = toml.read_text()
    text = text.replace('[state]\npath = ".newsletter"', f'[state]\nurl = "{url}"')
    text += f'\n[queue]\nbroker = "{broker}"\nname = "{queue}"\nsend_batch = 100\n'
    toml.write_text(text)
    return load_config(toml)


def wait(condition: Callable[[], bool], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.05)


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(sql).scalar() or 0)
    finally:
        engine.dispose()


def fleet(
    toml: Path, url: str, broker: str, pool: str, concurrency: int, count_workers: int
) -> list[Row]:
    """One distributed measurement: the slot's fetches, then sending, on ``count_workers``."""
    plural = "s" if count_workers > 1 else ""
    mode = f"{count_workers} worker{plural} ({pool} x{concurrency})"
    config = distributed(toml, url, broker, f"bench-{pool}-{count_workers}")
    feeds = len(config.feeds)
    subscribers = len((toml.parent / "subscribers.csv").read_text().splitlines()) - 1
    app = make_app(config)
    queue = CeleryQueue(app, config.queue_name)
    rows: list[Row] = []
    try:
        with workers(toml.parent, count_workers, concurrency, env=SECRET, pool=pool):
            now = datetime.now(UTC)
            with state.connect(config.state_dir, url) as engine:
                start = time.perf_counter()
                enqueue_slot(config, engine, queue, pipeline.slot_for(now, config), now=now)
                fetched = "SELECT count(*) FROM slot_fetches WHERE status <> 'pending'"
                wait(lambda: count(url, fetched) == feeds)
                rows.append(Row("feeds", mode, feeds, time.perf_counter() - start))
                built = "SELECT count(*) FROM issues WHERE status = 'done'"
                wait(lambda: count(url, built) == 1)
                number = count(url, "SELECT max(number) FROM issues")
                start = time.perf_counter()
                queue.send(number)
                name = config.newsletter.name
                wait(lambda: ledger.counts(engine, name, number).get("sent", 0) == subscribers)
                rows.append(Row("messages", mode, subscribers, time.perf_counter() - start))
    finally:
        app.close()
    return rows


def main(feeds: int, subscribers: int, pools: list[tuple[str, int]]) -> None:
    results: list[Row] = []
    os.environ.update(SECRET)
    smtp = SmtpServer().start()
    with serving(LATENCY) as server, postgres_server() as pg, redis_server() as broker:
        for n in range(feeds):
            server.routes[f"/feed/{n}.xml"] = Route(body=feed_body(n))
        urls = [server.url(f"/feed/{n}.xml") for n in range(feeds)]

        with tempfile.TemporaryDirectory() as tmp:  # embedded
            config = load_config(project(Path(tmp), urls, smtp.port, subscribers))
            now = datetime.now(UTC)
            with state.connect(config.state_dir, None) as engine:
                start = time.perf_counter()
                got = ingest_feeds(config, engine, default_fetcher(config), now, lambda _: None)
                results.append(Row("feeds", "embedded", feeds, time.perf_counter() - start))
                assert len(got) == feeds
            folder = pipeline.run(config, now=now, warn=lambda _: None).path
            assert folder is not None
            start = time.perf_counter()
            report = deliver_issue(config, folder, now=now, warn=print)
            assert report.sent == subscribers, report.summary()
            results.append(Row("messages", "embedded", subscribers, time.perf_counter() - start))
            print(results[-2].line(), results[-1].line(), sep="\n", flush=True)

        for pool, concurrency in pools:
            for count_workers in (1, 2):
                with tempfile.TemporaryDirectory() as tmp:
                    toml = project(Path(tmp), urls, smtp.port, subscribers)
                    results += fleet(
                        toml, fresh_database(pg), broker, pool, concurrency, count_workers
                    )
                print(results[-2].line(), results[-1].line(), sep="\n", flush=True)
    smtp.stop()
    print()
    print("| what | mode | count | seconds | per second |")
    print("|---|---|---|---|---|")
    for row in results:
        print(row.line())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument(
        "--pool",
        action="append",
        default=None,
        help="worker pool as NAME:CONCURRENCY (default: prefork:2 and threads:16)",
    )
    args = parser.parse_args()
    pools = [
        (p.split(":")[0], int(p.split(":")[1])) for p in args.pool or ["prefork:2", "threads:16"]
    ]
    main(args.feeds, args.subscribers, pools)
