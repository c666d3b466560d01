"""Where parse time goes: bare feedparser (with and without its sanitizer and relative-URI
pass), then our ``parse_timed`` over the benchmark corpus, then a cProfile of the latter.

    python benchmarks/profile_parse.py [--feeds 20] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests"), str(REPO / "benchmarks")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    import feedparser
    from run import corpus

    from newsletter.sources.feeds import ParseJob
    from newsletter.sources.parsework import parse_timed

    bodies = corpus(args.feeds, 50)
    now = datetime.now(UTC)
    jobs = [
        ParseJob(f"k{i}", f"n{i}", b, "http://x/f.xml", "application/rss+xml", now, 1000)
        for i, b in enumerate(bodies)
    ]
    headers = {"content-location": "http://x/"}
    variants = {
        "feedparser, defaults (the parse floor)": {},
        "feedparser, sanitize_html=False": {"sanitize_html": False},
        "feedparser, no sanitizer, no relative URIs": {
            "sanitize_html": False,
            "resolve_relative_uris": False,
        },
    }
    print("| what | CPU s |\n|---|---|")
    for name, options in variants.items():
        start = time.process_time()
        for body in bodies:
            feedparser.parse(body, response_headers=headers, **options)
        print(f"| {name} | {time.process_time() - start:.2f} |")
    start = time.process_time()
    for job in jobs:
        parse_timed(job, True)
    print(f"| ours: parse_timed (parse, text, signatures) | {time.process_time() - start:.2f} |")
    profile = cProfile.Profile()
    profile.runcall(lambda: [parse_timed(job, True) for job in jobs])
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
