"""Articles: the plain, frozen records every source (seeds, feeds) produces.

An article's text is plain text, already sanitized. Sentences are split with pysbd, which
handles "U.S.", "Dr." and "a.m." that a naive regex breaks on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal

import pysbd

Origin = Literal["seed", "feed"]


@dataclass(frozen=True)
class Source:
    """What an item cites: one article, as a reader sees it."""

    title: str
    url: str | None
    outlet: str | None
    published: datetime | None


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str
    url: str | None
    outlet: str | None
    published: datetime | None
    origin: Origin
    also: tuple[Source, ...] = ()

    @property
    def source(self) -> Source:
        return Source(title=self.title, url=self.url, outlet=self.outlet, published=self.published)

    @property
    def sources(self) -> tuple[Source, ...]:
        return (self.source, *self.also)


@dataclass(frozen=True)
class Sentence:
    """One sentence of one article; ``position`` is its index within the article."""

    text: str
    article: Article
    position: int


@lru_cache(maxsize=4)
def _segmenter(language: str) -> pysbd.Segmenter:
    try:
        return pysbd.Segmenter(language=language, clean=False)
    except ValueError:  # a language pysbd does not know: English rules are a fair fallback
        return pysbd.Segmenter(language="en", clean=False)


def split_sentences(text: str, language: str = "en") -> list[str]:
    """Split plain text into sentences, paragraph by paragraph."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n", text):
        paragraph = " ".join(paragraph.split())
        if paragraph:
            sentences.extend(
                s.strip() for s in _segmenter(language).segment(paragraph) if s.strip()
            )
    return sentences


def sentences_of(article: Article, language: str = "en") -> list[Sentence]:
    return [
        Sentence(text=text, article=article, position=i)
        for i, text in enumerate(split_sentences(article.text, language))
    ]
