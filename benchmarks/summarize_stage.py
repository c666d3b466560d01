"""Time the summarize stage of ``benchmarks/run.py``'s 10,000-entry day, part by part.

    PYTHONPATH=src python benchmarks/summarize_stage.py [--runs 5] [--src OTHER/src]

Builds the same day as ``run.py`` (200 feeds x 50 entries, the same corpus) without the
server or the database: each feed's bytes are parsed by ``sources.feeds.parse_feed`` and
the entries deduplicated by ``sources.dedup.dedupe``, as the pipeline does; then, in a fresh
process per run (so caches start cold, as in a real run), times what ``run.py`` reports as
the summarize stage (``pipeline.compose_issue``) in its parts: the relevance gate over every
article, the sentence work on the articles it keeps (``candidates_of``: split, clean, stem,
place), selection (clusters, scores, lead and sections, items with their citations), the
citation check against the merged copies (``citations.checked``) and the list of cited
articles. Prints CPU seconds (``time.process_time``) and wall seconds per part, the median
and range over the runs, the load average, and a hash of the issue's JSON (the same hash
before and after a change that must not change the issue).

``--src`` times another checkout's ``src`` (e.g. main's, unpacked with ``git archive``)
on the same day, for a before/after table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PARTS = ("gate", "sentences", "selection", "checked", "cited", "total")


def build_day(path: Path) -> None:
    """Parse and deduplicate run.py's corpus; pickle (articles, duplicates) to ``path``."""
    sys.path[:0] = [str(REPO / "src"), str(REPO / "benchmarks"), str(REPO / "tests")]
    import run as bench

    from newsletter.config import load_config
    from newsletter.sources.dedup import dedupe
    from newsletter.sources.feeds import ParseJob, parse_feed

    config = load_config(REPO / "newsletter.toml")
    articles = []
    for i, body in enumerate(bench.corpus(200, 50)):
        url = f"http://127.0.0.1/f{i}.xml"
        job = ParseJob(
            url, f"Outlet {i}", body, url, "application/rss+xml", bench.NOW,
            config.fetch.max_entries, config.fetch.max_entry_chars,
        )  # fmt: skip
        articles.extend(parse_feed(job).articles)
    stories = dedupe(articles)
    day = ([s.article for s in stories], [a for s in stories for a in s.merged])
    path.write_bytes(pickle.dumps(day))


def measure(day_path: Path, src: Path) -> dict[str, Any]:
    """One run, in this (fresh) process, of the parts of compose_issue on the day."""
    sys.path.insert(0, str(src))
    from newsletter.config import load_config
    from newsletter.digest import extractive
    from newsletter.digest.citations import checked
    from newsletter.digest.lexicon import stems
    from newsletter.digest.relevance import build_gate
    from newsletter.digest.selection import items, pick_lead, pick_section, prepare
    from newsletter.model import Digest, Issue, Section, issue_json
    from newsletter.pipeline import cited_articles, compose_issue

    articles, duplicates = pickle.loads(day_path.read_bytes())
    config = load_config(REPO / "newsletter.toml")
    s, sections, language = config.summary, config.sections, config.newsletter.language
    cpu: dict[str, float] = {}
    wall: dict[str, float] = {}
    marks = [(time.process_time(), time.perf_counter())]

    def mark(part: str) -> None:
        now = (time.process_time(), time.perf_counter())
        cpu[part], wall[part] = now[0] - marks[-1][0], now[1] - marks[-1][1]
        marks.append(now)

    # The same steps as ExtractiveSummarizer.__call__ (without the time budget), in parts.
    gate = build_gate(sections, s.topic_keywords, s.min_relevance, language)
    relevant = sorted((a for a in articles if gate.keep(a)), key=extractive._stable_order)
    mark("gate")
    topic = frozenset(w for k in s.topic_keywords for w in stems(k, language))
    candidates = extractive.candidates_of(
        relevant, sections, language, learn=s.learn_cues, topic=topic
    )
    mark("sentences")
    pool = prepare(candidates, len(sections))
    small_day = len(relevant) < extractive.MIN_ARTICLES_FOR_LEAD
    lead = [] if small_day else pick_lead(pool, s.lead_sentences, s.lead_max_words)
    chosen = [pick_section(pool, i, x.max_items, x.max_words) for i, x in enumerate(sections)]
    built = tuple(
        Section(x.id, x.title, x.description, items(pool, picked))
        for x, picked in zip(sections, chosen, strict=True)
    )
    digest = Digest(items(pool, lead), built, len(articles) - len(relevant))
    mark("selection")
    digest = checked(digest, [*articles, *duplicates], language)
    mark("checked")
    cited_articles(digest, [*articles, *duplicates])
    mark("cited")
    cpu["total"], wall["total"] = marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]
    # The issue itself, composed the pipeline's way, for its hash.
    slot = datetime(2025, 11, 25, 7, tzinfo=config.newsletter.zone)
    issue: Issue = compose_issue(
        config, articles, number=1, slot=slot, duplicates=duplicates, summarizer=None
    )
    blob = json.dumps(issue_json(issue), sort_keys=True, default=str).encode()
    return {
        "cpu": cpu,
        "wall": wall,
        "articles": len(articles),
        "duplicates": len(duplicates),
        "kept": len(relevant),
        "candidates": len(candidates),
        "issue sha1": hashlib.sha1(blob).hexdigest()[:12],
    }


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the src to time")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        day = Path(tmp) / "day.pickle"
        build_day(day)
        loads = [os.getloadavg()[0]]
        runs = []
        for _ in range(args.runs):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(day), str(args.src.resolve())],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(out.stdout.splitlines()[-1]))
            loads.append(os.getloadavg()[0])
    first = runs[0]
    hashes = ", ".join(sorted({r["issue sha1"] for r in runs}))
    print(
        f"{first['articles']:,} articles after dedup (+{first['duplicates']:,} merged copies), "
        f"{first['kept']:,} kept by the gate, {first['candidates']:,} candidate passages; "
        f"src {args.src}; {args.runs} runs, load average {min(loads):.1f}-{max(loads):.1f} "
        f"on {os.cpu_count()} cores; issue sha1 {hashes}"
    )
    print("\n| part | CPU s, median (range) | wall s, median (range) |\n|---|---|---|")
    for part in PARTS:
        cpu = [r["cpu"][part] for r in runs]
        wall = [r["wall"][part] for r in runs]
        print(f"| {part} | {_cell(cpu)} | {_cell(wall)} |")


if __name__ == "__main__":
    main()
