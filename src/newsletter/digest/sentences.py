"""Sentences: plain text -> sentences, paragraph by paragraph.

Sentences are split with pysbd, which handles "U.S.", "Dr." and "a.m." that a naive regex
breaks on; plain paragraphs take a fast path with the same result.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pysbd

from newsletter.model import Article, Sentence


@lru_cache(maxsize=4)
def _segmenter(language: str) -> pysbd.Segmenter:
    try:
        return pysbd.Segmenter(language=language, clean=False)
    except ValueError:  # a language pysbd does not know: English rules are a fair fallback
        return pysbd.Segmenter(language="en", clean=False)


# Text pysbd is needed for: abbreviations and initials ("U.S.", "Dr.", "Nov."), decimals,
# ellipses, punctuation not followed by a space. Other paragraphs split on sentence-ending
# punctuation followed by a space, with the same result, about a hundred times faster
# (pysbd costs about a millisecond a paragraph, which matters on 10,000-article days).
_NEEDS_PYSBD = re.compile(
    r"\b[A-Za-z]\.|\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Gen|Col|Lt|Capt|Sgt|Gov|Sen|Rep|Rev|No|vs|"
    r"etc|Inc|Ltd|Co|Corp|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|approx|est|dept|fig|"
    r"al|ca|cf|op|pp|vol|ed)\.|\.\.|\d[.,]\d|[.!?;:]\S|\u2026"
)
# pysbd is quadratic on long paragraphs (4,000 characters of "U.S. " take 0.3 s, 8,000 1 s):
# longer ones take the linear split.
_PYSBD_MAX_CHARS = 3000
_PLAIN_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)")
# "U.S." before a lower-case word or inside a token ("U.S.-drafted") cannot end a sentence.
_INNER_INITIALISM = re.compile(r"\b(?:[A-Z]\.){2,}(?=\s+[a-z]|[^\s])")


def split_sentences(text: str, language: str = "en") -> list[str]:
    """Split plain text into sentences, paragraph by paragraph."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        masked = _INNER_INITIALISM.sub(lambda m: m.group().replace(".", "\x00"), paragraph)
        if len(paragraph) > _PYSBD_MAX_CHARS or (
            language.startswith("en") and not _NEEDS_PYSBD.search(masked)
        ):
            parts = [p.replace("\x00", ".") for p in _PLAIN_SPLIT.split(masked)]
        else:
            parts = _segmenter(language).segment(paragraph)
        sentences.extend(s.strip() for s in parts if s.strip())
    return sentences


def sentences_of(article: Article, language: str = "en") -> list[Sentence]:
    return [
        Sentence(text=text, article=article, position=i)
        for i, text in enumerate(split_sentences(article.text, language))
    ]
