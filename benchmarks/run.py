"""Benchmark: the real ingestion + pipeline over N feeds x M entries on a loopback server.

    python benchmarks/run.py [--feeds 200] [--entries 50] [--latency 0.1] [--concurrency 16]

Generates the feeds, serves them from a separate process on 127.0.0.1 (so serving does not
share our GIL) with the given latency per request and an ETag per feed, builds a temp project
with the repository's default config and templates plus the feeds, runs the pipeline once
(first run) and again the next day (every feed answers 304), and prints the phase times
(fetch, parse, store from the ``newsletter.ingest`` log), the total and the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from newsletter.config import load_config  # noqa: E402
from newsletter.digest import Digest, Item, Section  # noqa: E402
from newsletter.pipeline import run  # noqa: E402
from newsletter.summarizers import build_summarizer  # noqa: E402

_VOCABULARY = (
    "Ukraine Kyiv Russia Kremlin Washington plan talks peace framework envoy Geneva allies Europe "
    "security guarantees territory troops ceasefire minister president said officials told "
    "reporters on Monday proposal draft sanctions energy grid attack drones missiles front city "
    "region council vote parliament budget aid weapons delivery negotiators meeting summit"
)
WORDS = _VOCABULARY.split()


def rss(feed: int, entries: int, rng: random.Random) -> bytes:
    items = []
    for e in range(entries):
        text = " ".join(rng.choices(WORDS, k=rng.randint(60, 140))).capitalize() + "."
        items.append(
            f"<item><title>Feed {feed} story {e}: {' '.join(rng.choices(WORDS, k=6))}</title>"
            f"<link>https://outlet{feed}.example/news/{e}?utm_source=rss</link>"
            f"<guid>https://outlet{feed}.example/news/{e}</guid>"
            f"<pubDate>Tue, 25 Nov 2025 {e % 24:02d}:00:00 GMT</pubDate>"
            f"<description>&lt;p&gt;{text}&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {feed}</title><link>https://outlet{feed}.example/</link>"
        f"{''.join(items)}</channel></rss>"
    ).encode()


def serve(folder: Path, latency: float) -> None:
    """Child process: serve every file in ``folder`` at /<name>, with an ETag."""
    from feedserver import FeedServer, Route

    server = FeedServer(latency)
    for path in folder.iterdir():
        server.routes[f"/{path.name}"] = Route(path.read_bytes(), etag=f'"{path.stem}"')
    server.start()
    print(server.base, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


class Phases(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        words = record.getMessage().split()
        if len(words) == 3 and words[0] == "phase":
            self.add(words[1], float(words[2]))

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


def project(root: Path, base: str, feeds: int, concurrency: int) -> Path:
    shutil.copy(REPO / "newsletter.toml", root / "newsletter.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "seeds").mkdir()
    lines = [f'[[feeds]]\nname = "Outlet {i}"\nurl = "{base}/f{i}.xml"\n' for i in range(feeds)]
    lines.append(f"[fetch]\nconcurrency = {concurrency}\n")
    with (root / "newsletter.toml").open("a") as f:
        f.write("\n" + "\n".join(lines))
    return root / "newsletter.toml"


def trivial(articles: Any, sections: Any, language: str) -> Digest:
    """Each section: the first few articles' titles. Isolates everything but summarizing."""
    chosen = [
        Section(s.id, s.title, s.description, tuple(
            Item(a.title, a.sources, 1.0) for a in articles[i * 4 : i * 4 + s.max_items]
        ))
        for i, s in enumerate(sections)
    ]  # fmt: skip
    return Digest((), tuple(chosen))


def measure(config_path: Path, now: datetime, real: bool = True) -> dict[str, object]:
    phases = Phases()
    log = logging.getLogger("newsletter")
    log.addHandler(phases)
    log.setLevel(logging.DEBUG)
    warnings: list[str] = []
    start, cpu = time.perf_counter(), cpu_seconds()

    config = load_config(config_path)
    summarize = build_summarizer(config.summary, warnings.append) if real else trivial

    def timed_summarize(*args: Any) -> Any:
        begin = time.perf_counter()
        try:
            return summarize(*args)
        finally:
            phases.add("summarize", time.perf_counter() - begin)

    result = run(config, now=now, warn=warnings.append, summarizer=timed_summarize)
    total = time.perf_counter() - start
    log.removeHandler(phases)
    return {
        **{k: round(v, 2) for k, v in phases.seconds.items()},
        "total": round(total, 2),
        "cpu": round(cpu_seconds() - cpu, 2),
        "status": result.status,
        "warnings": len(warnings),
    }


def feedparser_alone(folder: Path) -> float:
    """The parse floor for comparison: bare feedparser over the same bytes, one core."""
    import feedparser

    bodies = [path.read_bytes() for path in sorted(folder.iterdir())]
    start = time.perf_counter()
    for body in bodies:
        feedparser.parse(body, response_headers={"content-location": "http://x/"})
    return round(time.perf_counter() - start, 2)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(own / 1024, 1), round(children / 1024, 1)  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--summarizer",
        choices=("real", "trivial"),
        default="real",
        help="'trivial' takes titles as items: times everything but the summarizer",
    )
    parser.add_argument("--serve", nargs=2, metavar=("FOLDER", "LATENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), float(args.serve[1]))
        return
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "feeds").mkdir()
        for i in range(args.feeds):
            (root / "feeds" / f"f{i}.xml").write_bytes(rss(i, args.entries, rng))
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(root / "feeds"), str(args.latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            base = child.stdout.readline().strip()
            (root / "project").mkdir()
            config = project(root / "project", base, args.feeds, args.concurrency)
            now = datetime(2025, 11, 25, 7, tzinfo=UTC)
            real = args.summarizer == "real"
            first = measure(config, now, real)
            again = measure(config, now + timedelta(days=1), real)
            floor = feedparser_alone(root / "feeds")
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=10)
    own, children = peak_rss_mb()
    figures = {"first run": first, "all-304 re-run": again}
    if args.json:
        extra = {"feedparser_alone": floor, "peak_rss_mb": own, "peak_child_rss_mb": children}
        print(json.dumps({**figures, **extra}))
        return
    print(
        f"{args.feeds} feeds x {args.entries} entries, {args.latency * 1000:g} ms latency, "
        f"{args.concurrency} concurrent, {args.summarizer} summarizer"
    )
    columns = ("fetch", "parse", "store", "dedup", "summarize", "total", "cpu", "status")
    print("| run | " + " | ".join(f"{c} s" if c != "status" else c for c in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, f in figures.items():
        row = [f.get(k, "-") for k in columns]
        print(f"| {name} | " + " | ".join(str(x) for x in row) + " |")
    print(f"feedparser alone over the same bytes, one core: {floor} s")
    print(f"peak RSS: {own} MB (this process), {children} MB (largest parse worker)")
    print("parse = waiting for parses still running after the last fetch (parsing overlaps it);")
    print("cpu = this process only (parse workers not included)")


if __name__ == "__main__":
    main()
