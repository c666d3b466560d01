"""Summarizer backends: the extractive default, and an optional LLM rewrite over it.

A summarizer is any callable ``(articles, sections, language) -> Digest`` (``Summarizer``,
also ``pipeline.Summarizer``); ``build_summarizer`` picks one from ``[summary] backend``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from newsletter.config import SectionSettings, SummarySettings
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.model import Article, Digest

Warn = Callable[[str], None]
Summarizer = Callable[[Sequence[Article], Sequence[SectionSettings], str], Digest]


def build_summarizer(
    settings: SummarySettings, warn: Warn, env: Mapping[str, str] | None = None
) -> Summarizer:
    extractive = ExtractiveSummarizer(settings, warn)
    if settings.backend == "llm":
        from newsletter.digest.llm import LLMSummarizer

        return LLMSummarizer(settings, warn, extractive, env=os.environ if env is None else env)
    return extractive
