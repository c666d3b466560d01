"""Full text: for feeds that carry only teasers, fetch each new article's page (same fetcher,
same limits) and extract its main text with trafilatura. Any failure keeps the teaser."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import trafilatura

from newsletter.model import Article
from newsletter.sources.fetch import Fetcher, FetchRequest

log = logging.getLogger(__name__)


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
    return text.strip() if text else None
