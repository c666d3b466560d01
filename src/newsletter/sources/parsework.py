"""The work of one parse worker: a fetched feed -> its articles, their near-duplicate
signatures, and how long it took. Its own small module so that a worker process imports
only what parsing needs (feedparser, nh3, numpy), not the database or config layers."""

from __future__ import annotations

import logging
import time

from newsletter.sources.dedup import article_text, signatures, text_key
from newsletter.sources.feeds import ParsedFeed, ParseJob, parse_feed

log = logging.getLogger("newsletter.ingest")

Parsed = tuple[ParsedFeed, float, dict[str, bytes | None]]


def parse_timed(job: ParseJob, signed: bool = False) -> Parsed:
    """Parse one feed (and, if ``signed``, sign its articles for dedup); with the CPU time it
    took (this process's: a worker runs one job at a time)."""
    start = time.process_time()
    parsed = parse_safely(job)
    texts = [article_text(a) for a in parsed.articles] if signed else []
    signed_texts = {text_key(t): s for t, s in zip(texts, signatures(texts), strict=True)}
    return parsed, time.process_time() - start, signed_texts


def parse_safely(job: ParseJob) -> ParsedFeed:
    try:
        return parse_feed(job)
    except Exception as e:  # a parser bug on hostile input must cost one feed, not the run
        log.exception("parsing %s", job.key)
        return ParsedFeed(job.key, error=f"the parser failed: {type(e).__name__}: {e}"[:300])
