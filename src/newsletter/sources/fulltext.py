"""Full text: for feeds that carry only teasers, fetch each new article's page (same fetcher,
same limits) and extract its main text with trafilatura. Any failure keeps the teaser.

trafilatura comes with the ``fulltext`` extra (about 62 MB with lxml and its cleaner): without
it a feed's ``full_text = true`` is reported once per run (``missing_extra``) and its teasers are
kept; ``newsletter check`` reports it as a problem.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import cache
from typing import Any

from newsletter.config import FeedSettings
from newsletter.model import Article
from newsletter.sources.fetch import Fetcher, FetchRequest
from newsletter.untrusted import xml_safe

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'newsletter-digest[fulltext]'"


@cache
def _trafilatura() -> Any | None:
    """The trafilatura module, or None when the ``fulltext`` extra is not installed."""
    try:
        import trafilatura
    except ImportError:  # absent, or a dependency of it (lxml_html_clean) is
        return None
    return trafilatura


def missing_extra(feeds: Iterable[FeedSettings]) -> list[str]:
    """One line per enabled feed asking for full text that cannot have it; empty with the extra."""
    wanted = [f for f in feeds if f.enabled and f.full_text]
    if not wanted or _trafilatura() is not None:
        return []
    return [
        f"feed {f.name!r} has full_text = true but trafilatura is not installed; {INSTALL_HINT}"
        for f in wanted
    ]


def with_full_text(
    articles: Sequence[Article],
    fetcher: Fetcher,
    max_bytes: int | None = None,
    deadline: float | None = None,
) -> tuple[list[Article], list[str]]:
    """The same articles, each with its page's main text where that is longer than the teaser;
    and why each page a guard or limit stopped was not fetched. Article URLs come from the
    feed, so they are untrusted: the fetcher's private-network guard applies to them."""
    targets = [a for a in articles if a.url]
    requests = [
        FetchRequest(str(a.url), trusted=False, max_bytes=max_bytes, deadline=deadline)
        for a in targets
    ]
    results = fetcher.fetch_all(requests)
    full = {}
    refused = []
    for article, result in zip(targets, results, strict=True):
        if not result.ok or result.body is None:
            log.debug("full text of %s: %s; the teaser is kept", article.url, result.error)
            if result.guarded and result.error:
                error = result.error
                refused.append(
                    error if error.startswith(str(article.url)) else f"{article.url}: {error}"
                )
            continue
        text = extract(result.body, article.url)
        if text and len(text) > len(article.text):
            full[article.id] = replace(article, text=text)
    return [full.get(a.id, a) for a in articles], refused


def extract(page: bytes, url: str | None) -> str | None:
    """The page's main text as plain text (no images, links or comments), or None."""
    trafilatura = _trafilatura()
    if trafilatura is None:
        return None
    try:
        text = trafilatura.extract(
            page,
            url=url,
            include_comments=False,
            include_images=False,
            include_links=False,
            include_tables=False,
            deduplicate=True,
        )
    except Exception as e:  # trafilatura wraps lxml: any failure means "keep the teaser"
        log.debug("full text of %s: extraction failed: %s", url, e)
        return None
    return xml_safe(text).strip() if text else None  # a stranger's page, like a feed
