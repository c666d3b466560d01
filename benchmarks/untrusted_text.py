"""Hostile text shapes, before and after the guards of issue 17: prints a table.

    PYTHONPATH=src python benchmarks/untrusted_text.py

Rows: HTML cleaning of deeply nested tags (nh3 alone vs ``plain_text``, which flattens past
MAX_HTML_DEPTH); feedparser on a feed carrying that HTML, with and without its link rewriting;
sentence splitting of "U.S. " repeated (pysbd alone, when it is installed: it was the splitter
before issue 12, and is no longer a dependency; vs ``split_sentences``, sentencex, linear).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from xml.sax.saxutils import escape

import feedparser
import nh3

from newsletter.digest.sentences import split_sentences
from newsletter.sources.feeds import _BLOCK_TAGS, plain_text


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def feed(html: str) -> bytes:
    item = f"<item><title>x</title><description>{escape(html)}</description></item>"
    return f"<rss version='2.0'><channel><title>t</title>{item}</channel></rss>".encode()


def parse(body: bytes, resolve: bool) -> object:
    return feedparser.parse(body, sanitize_html=False, resolve_relative_uris=resolve)


def main() -> None:
    print("| input | before | after |")
    print("|---|---|---|")
    for depth in (4_000, 16_000):
        html = "<ul><li>" * depth + "x"
        before = seconds(lambda: nh3.clean(html, tags=_BLOCK_TAGS, attributes={}))  # noqa: B023
        after = seconds(lambda: plain_text(html))  # noqa: B023
        print(f"| nested `<ul><li>` x {depth:,}: HTML cleaning | {before:.2f} s | {after:.2f} s |")
    for depth in (16_000, 64_000):
        body = feed("<div><span>" * depth + "x" + "</span></div>" * depth)
        before = seconds(lambda: parse(body, True))  # noqa: B023
        after = seconds(lambda: parse(body, False))  # noqa: B023
        size = f"{len(body) / 1e6:.1f} MB"
        print(
            f"| feed of nested `<div><span>` ({size}): feedparser | {before:.2f} s | {after:.2f} s |"  # noqa: E501
        )
    try:
        import pysbd
    except ImportError:
        pysbd = None
    segmenter = pysbd.Segmenter(language="en", clean=False) if pysbd else None
    for chars in (4_000, 16_000):
        text = "U.S. " * (chars // 5)
        before = seconds(lambda: segmenter.segment(text)) if segmenter else float("nan")  # noqa: B023
        after = seconds(lambda: split_sentences(text))  # noqa: B023
        print(
            f"| `U.S. ` x {chars // 5:,} ({chars:,} chars): sentences | {before:.2f} s | {after:.3f} s |"  # noqa: E501
        )


if __name__ == "__main__":
    main()
