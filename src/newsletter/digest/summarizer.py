"""Summarizer backends: the extractive default, and an optional LLM rewrite over it.

A summarizer is any callable ``(articles, sections, language) -> Digest`` (``Summarizer``,
also ``pipeline.Summarizer``); ``build_summarizer`` picks one from ``[summary] backend``.
One that also has ``prime(articles, sections, language)`` is handed the feed articles as
the parse workers return them, ahead of the call (``ExtractiveSummarizer.prime``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from newsletter.config import SectionSettings, SummarySettings
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.errors import Warn

if TYPE_CHECKING:
    from newsletter.digest.llm import PostJson
from newsletter.model import Article, Digest

Summarizer = Callable[[Sequence[Article], Sequence[SectionSettings], str], Digest]


def build_summarizer(
    settings: SummarySettings,
    warn: Warn,
    env: Mapping[str, str] | None = None,
    *,
    post: PostJson | None = None,
) -> Summarizer:
    """The backend ``[summary]`` names; the llm backend sends its requests through ``post``
    (the digest does no I/O: ``pipeline.post_json`` is the real one)."""
    extractive = ExtractiveSummarizer(settings, warn)
    if settings.backend == "llm":
        from newsletter.digest.llm import LLMSummarizer

        if post is None:
            raise ValueError("the llm backend needs an HTTP poster (pipeline.post_json)")
        environ = os.environ if env is None else env
        return LLMSummarizer(settings, warn, extractive, env=environ, post=post)
    return extractive
