"""Relevance: which of the day's articles are about the newsletter's subject at all.

An article is kept when (a) a large enough share of its sentences (title included) mentions
the topic (``[summary] topic_keywords``, by default every section keyword) and (b) its keyword
hits span at least two sections: a story that only names a country once, or only in one
sense (a Ukrainian football club, a Russian gas price), is not the story the sections are
about. Off-topic articles are dropped before any costly sentence work: first a regex over the
raw text, then a cheap sentence split; only survivors are split properly and stemmed.
Sentences of a kept article still have to earn their place one by one (see ``sectioning``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from newsletter.config import SectionSettings
from newsletter.digest.lexicon import STOPWORDS, Terms, keyword_terms, prefilter, stems
from newsletter.model import Article

MIN_SECTIONS_TOUCHED = 2
_ROUGH_SPLIT = re.compile(r"(?<=[.!?\u201d\"])\s+(?=[A-Z\u201c\"])|\n+")


@dataclass(frozen=True)
class Gate:
    """Decides, per article, whether it is on topic; built once per run from the config."""

    topic: Terms
    sections: tuple[Terms, ...]
    quick: re.Pattern[str]
    min_relevance: float
    language: str

    def relevance(self, article: Article) -> float:
        """Half for the headline (title and first sentence, where news states its subject):
        full when it names the topic, half when it uses two or more section keywords
        ("the US plan"); half for the share of its sentences (title included) naming the
        topic."""
        if not self.quick.search(article.title) and not self.quick.search(article.text):
            return 0.0
        chunks = [article.title, *(c for c in _ROUGH_SPLIT.split(article.text) if c.strip())]
        hits = [bool(self.quick.search(c)) and self._names_topic(c) for c in chunks]
        if any(hits[:2]):
            headline = 1.0
        else:
            words = stems(" ".join(chunks[:2]), self.language)
            headline = 0.5 if len(set(words) & self._section_words) >= 2 else 0.0
        return 0.5 * headline + 0.5 * sum(hits) / len(chunks)

    @property
    def _section_words(self) -> frozenset[str]:
        return frozenset(w for s in self.sections for w in s.words)

    def keep(self, article: Article) -> bool:
        """Relevant enough, and its keywords touch at least two sections."""
        if self.relevance(article) < self.min_relevance:
            return False
        words = stems(f"{article.title}\n{article.text}", self.language)
        distinct = frozenset(words)
        touched = sum(1 for s in self.sections if s.hits(words, distinct))
        return touched >= min(MIN_SECTIONS_TOUCHED, len(self.sections))

    def _names_topic(self, chunk: str) -> bool:
        words = stems(chunk, self.language)
        return self.topic.hits(words, frozenset(words))


def build_gate(
    sections: Sequence[SectionSettings],
    topic_keywords: Sequence[str],
    min_relevance: float,
    language: str,
) -> Gate:
    every = [k for s in sections for k in s.keywords]
    # Without any keyword, the sections' own titles and descriptions say what they are about.
    described = [[*s.keywords] or _words(f"{s.title} {s.description}") for s in sections]
    topic = list(topic_keywords) or every or [w for words in described for w in words]
    return Gate(
        topic=keyword_terms(topic, 1.0, language),
        sections=tuple(
            keyword_terms([*words, *_topic_words_of(s, topic)], 1.0, language)
            for s, words in zip(sections, described, strict=True)
        ),
        quick=prefilter(topic, language),
        min_relevance=min_relevance,
        language=language,
    )


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_][\w'\u2019-]*", text) if w.lower() not in STOPWORDS]


def _topic_words_of(section: SectionSettings, topic: Sequence[str]) -> list[str]:
    """Topic keywords that a section's own title or description names (e.g. "Russia's
    demands" owns "Russia"), so that they count for that section too."""
    own = set(stems(f"{section.title} {section.description}"))
    return [k for k in topic if set(stems(k)) & own]
