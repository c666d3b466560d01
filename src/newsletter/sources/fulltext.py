"""Full text: for feeds that carry only teasers, fetch each new article's page (same fetcher,
same limits) and extract its main text with trafilatura. Any failure keeps the teaser."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import trafilatura

from newsletter.model import Article
from newsletter.sources.fetch import Fetcher, FetchRequest
from newsletter.untrusted import xml_safe

log = logging.getLogger(__name__)


def with_full_text(articles: Sequence[Article], fetcher: Fetcher) -> list[Article]:
    """The same articles, each with its page's main text where that is longer than the teaser."""
    targets = [a for a in articles if a.url]
    results = fetcher.fetch_all([FetchRequest(str(a.url)) for a in targets])
    full = {}
    for article, result in zip(targets, results, strict=True):
        if not result.ok or result.body is None:
            log.debug("full text of %s: %s; the teaser is kept", article.url, result.error)
            continue
        text = extract(result.body, article.url)
        if text and len(text) > len(article.text):
            full[article.id] = replace(article, text=text)
    return [full.get(a.id, a) for a in articles]


def extract(page: bytes, url: str | None) -> str | None:
    """The page's main text as plain text (no images, links or comments), or None."""
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
