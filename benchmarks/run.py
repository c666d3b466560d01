"""Benchmark: the whole run at scale, stage by stage, against its floors and targets.

    python benchmarks/run.py [--feeds 200] [--entries 50] [--latency 0.1] [--runs 1]
    python benchmarks/run.py --scale            # 1,000, 10,000 and 50,000 entries
    python benchmarks/run.py --feeds 16 --entries 3 --latency 0 --json  # the smoke test
    python benchmarks/run.py --peer reader      # lemon24/reader's ingestion, same server, same run

Generates N feeds of M entries (a synthetic day built from the dev set's sentences: about 5%
on the sections' topics, the rest unrelated news, and about one entry in eight a copy of a
story another feed carries), serves them from a separate process on 127.0.0.1 with the given
latency per request and an ETag per feed, builds a temp project (the repository's
``newsletter.toml`` and templates plus the feeds, outbox and state in the temp folder) and, in
a fresh process per measurement, runs the real ``pipeline.run`` twice: the first run and the
next day's (every feed answers 304). Stage times come from the pipeline itself (a
``Stopwatch`` passed to ``pipeline.run``); peak RSS is sampled for the measuring process and
for it plus its children (the parse workers) together. The floors are measured in the same
invocation on the same bytes: bare ``feedparser.parse`` over every body, one after another
(parse floor), and latency x ceil(feeds / concurrency) (fetch floor).

``--peer reader`` also installs reader 3.x into its own virtual environment (in the user's
cache folder, made on first use; ``--peer-venv`` to choose) and, in each run, right after our
measurement, times its ``update_feeds(workers=16)`` over the same feeds on the same server in a
fresh process (import and setup included), then its all-304 re-run.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "benchmarks")]

NOW = datetime(2025, 11, 25, 7, tzinfo=UTC)
DUPLICATE_SHARE = 0.12  # entries that are another feed's story, lightly re-edited
ON_TOPIC = 0.05
STAGES = ("fetch", "parse", "store", "dedup", "summarize", "render", "write", "record")
SCALE = (1_000, 10_000, 50_000)  # entries, in feeds of 50

PEER_WORKERS = 16  # reader's update_feeds(workers=...), as in PEERS.md

# name -> limit; the figures are computed in ``verdicts`` (issue 16's targets; issue 8's looser
# ones are implied by them). "whole run" is the run's own imports + config + pipeline.run: what
# a fresh `newsletter run` pays, as reader's figure includes its import and setup.
TARGETS = {
    "whole run, 10k entries / 200 feeds / 100 ms": "<= 10 s",
    "whole run / larger floor": "<= 2x",
    "whole run / reader's ingestion (same run)": "<= 1x",
    "peak RSS, main + parse workers": "<= 150 MB",
    "all-304 re-run / latency floor": "<= 1.1x",
    "fetch / latency floor": "<= 1.5x",
    "parse / feedparser floor": "<= 1.3x",
    "50k run / 10k run": "<= 5x",
    "50k / 10k, CPU seconds (main + parse)": "<= 5x",
}


# --- the corpus ---------------------------------------------------------------------------


def _vocabulary() -> tuple[list[str], list[str]]:
    """On-topic sentences, and the words of the off-topic ones minus every section keyword."""
    from bench_summarize import corpus as stories
    from eval_summaries import load_devset

    from newsletter.config import load_config

    config = load_config(REPO / "newsletter.toml")
    keywords = [*config.summary.topic_keywords, *(k for s in config.sections for k in s.keywords)]
    banned = {w.lower() for k in keywords for w in k.split()}
    dev = load_devset()
    words = {
        w.strip(".,;:\"'()")
        for sentence, labels in dev.labels.items()
        if "off-topic" in labels
        for w in sentence.split()
    }
    off = sorted(w for w in words if w and w.lower().rstrip("s'") not in banned)
    on = [a.text for a in stories(400, 1.0, seed=3)]
    return on, off


def corpus(feeds: int, entries: int, seed: int = 1, on_topic: float = ON_TOPIC) -> list[bytes]:
    """One RSS document per feed; deterministic for a given size. About ON_TOPIC of the
    stories recombine the dev set's on-topic sentences (so outlets overlap, as on a real news
    day); the rest are unrelated news (random sentences over the off-topic articles' words,
    one in ten naming Ukraine or Russia in passing); DUPLICATE_SHARE of the entries are
    another feed's story under a new title, lightly re-edited."""
    from bench_summarize import PASSING

    rng = random.Random(seed)
    on, off = _vocabulary()
    pool: list[tuple[str, str]] = []
    for _ in range(feeds * entries):
        if rng.random() < on_topic:
            text = rng.choice(on)
        else:
            sentences = [
                " ".join(rng.choices(off, k=rng.randint(12, 28))).capitalize() + "."
                for _ in range(rng.randint(4, 7))
            ]
            if rng.random() < 0.1:
                sentences.insert(2, rng.choice(PASSING))
            text = "\n".join(sentences)
        pool.append((" ".join(text.split()[:9]).rstrip(".,"), text))
    documents = []
    for f in range(feeds):
        items = []
        for e in range(entries):
            title, text = pool[f * entries + e]
            if f and rng.random() < DUPLICATE_SHARE:  # another outlet's copy of a story
                title, text = pool[rng.randrange(0, f * entries)]
                title = f"{title} (update)"
                text = text.replace(". ", ", officials said. ", 1)
            published = NOW - timedelta(hours=1 + (e * 7 + f) % 40, minutes=e % 60)
            body = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n"))
            items.append(
                f"<item><title>{html.escape(title)}</title>"
                f"<link>https://outlet{f}.example/news/{e}?utm_source=rss</link>"
                f"<guid>https://outlet{f}.example/news/{e}</guid>"
                f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
                f"<description>{html.escape(body)}</description></item>"
            )
        documents.append(
            (
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>Outlet {f}</title><link>https://outlet{f}.example/</link>"
                f"{''.join(items)}</channel></rss>"
            ).encode()
        )
    return documents


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


def project(root: Path, base: str, feeds: int, concurrency: int | None) -> Path:
    root.mkdir()
    shutil.copy(REPO / "newsletter.toml", root / "newsletter.toml")
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "seeds").mkdir()
    lines = [f'[[feeds]]\nname = "Outlet {i}"\nurl = "{base}/f{i}.xml"\n' for i in range(feeds)]
    if concurrency is not None:
        lines.append(f"[fetch]\nconcurrency = {concurrency}\n")
    with (root / "newsletter.toml").open("a") as f:
        f.write("\n" + "\n".join(lines))
    return root / "newsletter.toml"


# --- memory ---------------------------------------------------------------------------------


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def _cmdline(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def _role(pid: int) -> str:
    """What a descendant is, from its command line: forkserver, resource tracker, worker."""
    cmdline = _cmdline(pid)
    if cmdline is None:
        return "other"
    if "forkserver" in cmdline:  # the server, or a worker it forked (same command line)
        return "worker" if _role(_parent(pid)) == "forkserver" else "forkserver"
    if "resource_tracker" in cmdline:
        return "resource tracker"
    return "worker"


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


class MemorySampler:
    """Peak RSS of this process, and of it plus every descendant at the same moment,
    sampled every 20 ms on a thread (RSS, not PSS: pages shared with the children count
    twice, so the total errs high); ``roles`` holds each kind of descendant's own peak."""

    def __init__(self) -> None:
        self.main = self.total = 0.0
        self.roles: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        me = os.getpid()
        main = _rss_mb(me)
        children: dict[str, float] = {}
        for child in _descendants(me):
            if _cmdline(child) == _cmdline(me):
                # Between vfork and exec (subprocess starts the parse worker so) a child
                # shares this process's memory and shows its RSS and command line: no
                # memory of its own. One run in twelve caught a "worker" of 82 MB so.
                continue
            role = _role(child)
            children[role] = children.get(role, 0.0) + _rss_mb(child)
        total = main + sum(children.values())
        self.main, self.total = max(self.main, main), max(self.total, total)
        for role, rss in children.items():
            self.roles[role] = max(self.roles.get(role, 0.0), rss)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()


# --- the peer: lemon24/reader in its own environment -----------------------------------------


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newsletter-benchmarks"


def reader_python(venv: Path | None) -> str:
    """The interpreter of a virtual environment holding reader 3.x, made on first use.
    (reader vendors a feedparser that imports ``sgmllib``, which reader does not declare:
    sgmllib3k provides it.)"""
    venv = venv or _cache_dir() / "reader-3"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import reader, sgmllib"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    print(f"installing reader 3.x into {venv} (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "reader==3.*", "sgmllib3k"]
    subprocess.run(pip, check=True)
    return str(python)


def measure_reader(python: str, base: str, feeds: int, folder: Path) -> dict[str, Any]:
    """reader's first run and all-304 re-run of the same feeds, in a fresh process."""
    folder.mkdir()
    urls = [f"{base}/f{i}.xml" for i in range(feeds)]
    script = REPO / "benchmarks" / "peers" / "reader_peer.py"
    out = subprocess.run(
        [python, str(script), str(folder / "reader.sqlite"), str(PEER_WORKERS), *urls],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


# --- one measurement (in a fresh process) -----------------------------------------------------


class CpuStopwatch:
    """A ``Stopwatch`` that also charges this process's CPU time since the previous report to
    the stage reported ("cpu <stage>"): the stages after the fetch run one after another, so
    each gets its own; fetch and parse overlap and share theirs."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.process_time()

    def add(self, stage: str, seconds: float) -> None:
        now = time.process_time()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        if stage in ("parse", "parse cpu"):  # summaries reported after "parse wait"
            return
        key = f"cpu {stage}"
        self.seconds[key] = self.seconds.get(key, 0.0) + now - self._last
        self.seconds[f"rss after {stage}"] = _rss_mb(os.getpid())
        self._last = now


def measure(config_path: Path) -> dict[str, Any]:
    """The first run and the all-304 re-run of the project at ``config_path``."""
    import logging

    started = time.perf_counter()  # this fresh process has not imported the pipeline yet
    from newsletter.config import load_config
    from newsletter.pipeline import run

    imports = time.perf_counter() - started

    logging.getLogger("newsletter").setLevel(logging.WARNING)
    figures: dict[str, Any] = {}
    for name, now in (("first", NOW), ("again", NOW + timedelta(days=1))):
        warnings: list[str] = []
        with MemorySampler() as memory:
            start, cpu = time.perf_counter(), time.process_time()
            watch = CpuStopwatch()
            config = load_config(config_path)
            result = run(config, now=now, warn=warnings.append, timings=watch)
            total = time.perf_counter() - start
            cpu_total = time.process_time() - cpu
        staged = sum(v for k, v in watch.seconds.items() if k.startswith("cpu "))
        watch.seconds["cpu after the stages"] = cpu_total - staged
        if result.path is not None and os.environ.get("BENCH_KEEP_ISSUE"):
            kept = Path(os.environ["BENCH_KEEP_ISSUE"])
            shutil.copyfile(result.path / "issue.json", kept / f"{name}-issue.json")
        figures[name] = {
            **watch.seconds,
            **({"imports": imports} if name == "first" else {}),
            "total": total,
            "cpu": cpu_total,
            "rss main": memory.main,
            "rss total": memory.total,
            **{f"rss {role}": rss for role, rss in memory.roles.items()},
            "status": result.status,
            "articles": result.articles_in,
            "items": result.items_out,
            "warnings": warnings,
        }
        figures["concurrency"] = config.fetch.concurrency
    return figures


def measure_in_child(config_path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(config_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def parse_floor(bodies: list[bytes]) -> float:
    """Bare feedparser over the same bytes, one after another, in this process."""
    import feedparser

    start = time.perf_counter()
    for body in bodies:
        feedparser.parse(body, response_headers={"content-location": "http://x/"})
    return time.perf_counter() - start


def bench(
    feeds: int,
    entries: int,
    latency: float,
    concurrency: int | None,
    runs: int,
    peer: str | None = None,
    on_topic: float = ON_TOPIC,
) -> dict[str, Any]:
    """Serve a corpus of ``feeds`` x ``entries`` and measure it ``runs`` times (and the peer,
    if one is given, right after each of our runs, on the same server)."""
    bodies = corpus(feeds, entries, on_topic=on_topic)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "feeds").mkdir()
        for i, body in enumerate(bodies):
            (root / "feeds" / f"f{i}.xml").write_bytes(body)
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(root / "feeds"), str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            base = child.stdout.readline().strip()
            measured, peers = [], []
            for n in range(runs):
                config = project(root / f"project{n}", base, feeds, concurrency)
                measured.append(measure_in_child(config))
                if peer is not None:
                    peers.append(measure_reader(peer, base, feeds, root / f"reader{n}"))
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)
    floors = [parse_floor(bodies) for _ in range(runs)]
    used = measured[0]["concurrency"]
    return {
        "feeds": feeds,
        "entries": entries,
        "latency": latency,
        "concurrency": used,
        "bytes": sum(len(b) for b in bodies),
        "runs": measured,
        "peer": peers,
        "parse floor": floors,
        "fetch floor": latency * math.ceil(feeds / used),
    }


# --- verdicts and the tables ------------------------------------------------------------------


def _spread(values: list[float], unit: str = "") -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    if len(values) == 1 or f"{low:.2f}" == f"{high:.2f}":
        return f"{low:.2f}{unit}"
    return f"{low:.2f}-{high:.2f}{unit} (median {statistics.median(values):.2f})"


def verdicts(main: dict[str, Any], scale: dict[int, dict[str, Any]] | None) -> list[list[str]]:
    """One row per target: what, measured (spread over the runs), limit, PASS/FAIL."""
    runs = main["runs"]
    first = [r["first"] for r in runs]
    again = [r["again"] for r in runs]
    rows: list[list[str]] = []

    def check(name: str, values: list[float], limit: float, unit: str) -> None:
        ok = bool(values) and max(values) <= limit
        rows.append([name, _spread(values, unit), TARGETS[name], "PASS" if ok else "FAIL"])

    standard = (main["feeds"], main["entries"], main["latency"]) == (200, 50, 0.1)
    floor = statistics.median(main["parse floor"])
    whole = [whole_run(f) for f in first]
    if standard:
        check("whole run, 10k entries / 200 feeds / 100 ms", whole, 10, " s")
        larger = max(floor, main["fetch floor"])
        check("whole run / larger floor", [w / larger for w in whole], 2, "x")
        peers = main.get("peer") or []
        if peers:
            ratios = [w / p["first"] for w, p in zip(whole, peers, strict=True)]
            check("whole run / reader's ingestion (same run)", ratios, 1, "x")
        check("peak RSS, main + parse workers", [f["rss total"] for f in first], 150, " MB")
        latency = [a["total"] / main["fetch floor"] for a in again]
        check("all-304 re-run / latency floor", latency, 1.1, "x")
    if main["fetch floor"] > 0:
        check(
            "fetch / latency floor",
            [f["fetch"] / main["fetch floor"] for f in first],
            1.5,
            "x",
        )
    if floor > 0 and all("parse" in f for f in first):
        check("parse / feedparser floor", [f["parse"] / floor for f in first], 1.3, "x")
    if scale and 10_000 in scale and 50_000 in scale:
        ten = statistics.median(r["first"]["total"] for r in scale[10_000]["runs"])
        fifty = [r["first"]["total"] / ten for r in scale[50_000]["runs"]]
        check("50k run / 10k run", fifty, 5, "x")
        ten_cpu = statistics.median(_work(r["first"]) for r in scale[10_000]["runs"])
        fifty_cpu = [_work(r["first"]) / ten_cpu for r in scale[50_000]["runs"]]
        check("50k / 10k, CPU seconds (main + parse)", fifty_cpu, 5, "x")
    return rows


def _work(figures: dict[str, Any]) -> float:
    """CPU seconds of a run: the main process's, plus parsing done in the workers (the main
    process's own parsing is in both: it errs high, by the same share at every size)."""
    return float(figures["cpu"]) + float(figures.get("parse cpu", 0.0))


def whole_run(figures: dict[str, Any]) -> float:
    """What a fresh process pays: importing the pipeline, then config + ``pipeline.run``."""
    return float(figures.get("imports", 0.0)) + float(figures["total"])


def side_by_side(main: dict[str, Any]) -> list[str]:
    """Our whole run against the peer's ingestion alone and the floors, run by run."""
    runs, peers = main["runs"], main.get("peer") or []
    lines = [
        "| | first run s | all-304 re-run s | peak RSS MB |",
        "|---|---|---|---|",
        f"| `newsletter run` (fetch to written issue; imports included) "
        f"| {_spread([whole_run(r['first']) for r in runs])} "
        f"| {_spread([r['again']['total'] for r in runs])} "
        f"| {_spread([r['first']['rss total'] for r in runs])} (main + workers) |",
    ]
    if peers:
        version = peers[0].get("version", "3")
        lines.append(
            f"| reader {version} `update_feeds(workers={PEER_WORKERS})` (ingestion only; "
            f"import and setup included) | {_spread([p['first'] for p in peers])} "
            f"| {_spread([p['again'] for p in peers])} | {_spread([p['rss'] for p in peers])} |"
        )
    lines.append(
        f"| floors: bare feedparser on one core / latency x ceil({main['feeds']}/"
        f"{main['concurrency']}) | {_spread(main['parse floor'])} / {main['fetch floor']:.2f} "
        f"| {main['fetch floor']:.2f} | |"
    )
    return lines


def stage_table(main: dict[str, Any]) -> list[str]:
    runs = main["runs"]
    lines = ["| stage | first run | all-304 re-run |", "|---|---|---|"]
    names = [*STAGES, "parse wait", "parse cpu", "total", "imports", "cpu"]
    for stage in names:
        first = [r["first"][stage] for r in runs if stage in r["first"]]
        again = [r["again"][stage] for r in runs if stage in r["again"]]
        lines.append(f"| {stage} s | {_spread(first)} | {_spread(again)} |")
    keys = {k for r in runs for k in (*r["first"], *r["again"])}
    for prefix, unit in (("cpu ", "s"), ("rss after ", "MB")):
        for key in sorted(k for k in keys if k.startswith(prefix)):
            first = [r["first"][key] for r in runs if key in r["first"]]
            again = [r["again"][key] for r in runs if key in r["again"]]
            lines.append(f"| {key} {unit} | {_spread(first)} | {_spread(again)} |")
    roles = ("rss main", "rss worker", "rss forkserver", "rss resource tracker", "rss total")
    for key in roles:
        first = [r["first"].get(key, 0.0) for r in runs]
        again = [r["again"].get(key, 0.0) for r in runs]
        lines.append(f"| peak {key[4:]} MB | {_spread(first)} | {_spread(again)} |")
    for key in ("status", "articles", "items"):
        first_s = sorted({str(r["first"][key]) for r in runs})
        again_s = sorted({str(r["again"][key]) for r in runs})
        lines.append(f"| {key} | {', '.join(first_s)} | {', '.join(again_s)} |")
    return lines


def scale_table(scale: dict[int, dict[str, Any]]) -> list[str]:
    lines = [
        "| entries | feeds | first run s | per 1k entries s | all-304 s | peak RSS main MB"
        " | peak RSS total MB | fetch floor s | parse floor s | cpu main s | parse cpu s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, data in sorted(scale.items()):
        first = [r["first"] for r in data["runs"]]
        lines.append(
            f"| {n:,} | {data['feeds']} | {_spread([f['total'] for f in first])} "
            f"| {_spread([f['total'] / n * 1000 for f in first])} "
            f"| {_spread([r['again']['total'] for r in data['runs']])} "
            f"| {_spread([f['rss main'] for f in first])} "
            f"| {_spread([f['rss total'] for f in first])} "
            f"| {data['fetch floor']:.2f} | {_spread(data['parse floor'])} "
            f"| {_spread([f['cpu'] for f in first])} "
            f"| {_spread([f.get('parse cpu', 0.0) for f in first])} |"
        )
    return lines


def report(main: dict[str, Any], scale: dict[int, dict[str, Any]] | None) -> str:
    lines = [
        f"{main['feeds']} feeds x {main['entries']} entries ({main['bytes'] / 1e6:.1f} MB), "
        f"{main['latency'] * 1000:g} ms latency, {main['concurrency']} concurrent, "
        f"{len(main['runs'])} run(s), {os.cpu_count()} cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
        *side_by_side(main),
        "",
        *stage_table(main),
        "",
        f"fetch floor (latency x ceil(feeds / concurrency)): {main['fetch floor']:.2f} s; "
        f"parse floor (bare feedparser.parse over the same bodies, one core): "
        f"{_spread(main['parse floor'], ' s')}",
    ]
    if scale:
        lines += ["", *scale_table(scale)]
    lines += [
        "",
        "| target | measured | limit | verdict |",
        "|---|---|---|---|",
        *(f"| {' | '.join(row)} |" for row in verdicts(main, scale)),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="default: newsletter.toml's [fetch]"
    )
    parser.add_argument("--runs", type=int, default=1, help="measure this many times")
    parser.add_argument(
        "--scale", action="store_true", help="also 1,000, 10,000 and 50,000 entries"
    )
    parser.add_argument(
        "--peer", choices=["reader"], help="also measure this peer's ingestion in the same run"
    )
    parser.add_argument(
        "--peer-venv", type=Path, help="the peer's virtual environment (default: a cache folder)"
    )
    parser.add_argument(
        "--on-topic",
        type=float,
        default=ON_TOPIC,
        help="share of on-topic stories (a tiny corpus needs more to make an issue)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve", nargs=2, metavar=("FOLDER", "LATENCY"), help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), float(args.serve[1]))
        return
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return
    peer = reader_python(args.peer_venv) if args.peer == "reader" else None
    main_figures = bench(
        args.feeds, args.entries, args.latency, args.concurrency, args.runs, peer, args.on_topic
    )
    scale = None
    if args.scale:
        scale = {}
        for n in SCALE:
            if (n // 50, 50) == (args.feeds, args.entries):
                scale[n] = main_figures
            else:
                scale[n] = bench(n // 50, 50, args.latency, args.concurrency, args.runs)
    if args.json:
        print(json.dumps({"main": main_figures, "scale": scale, "verdicts": verdicts(
            main_figures, scale)}))  # fmt: skip
        return
    print(report(main_figures, scale))


if __name__ == "__main__":
    main()
