"""Sections: the extractive default summarizer, articles -> a lead and sectioned items.

The stages, each in its own module:

1. ``relevance``: drop articles that are not about the newsletter's subject (cheaply, before
   any sentence work);
2. ``sectioning``: split the survivors into sentences and place each in the section it fits
   best, or nowhere, with cues learned from the day's articles;
3. ``selection``: fill the lead and each section's budget with the most salient, mutually
   non-redundant passages, merging what several outlets report into one cited item.

Passages are complete sentences. A sentence that leans on the one before it ("He said ...",
"The official added ...") only appears together with that sentence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from newsletter.config import SectionSettings, SummarySettings
from newsletter.digest.budget import Budget
from newsletter.digest.lexicon import Terms, stems
from newsletter.digest.relevance import build_gate
from newsletter.digest.sectioning import Tokens, adapt, assign, score, section_terms
from newsletter.digest.selection import Candidate, items, pick_lead, pick_section, prepare
from newsletter.digest.sentences import sentences_of
from newsletter.model import Article, Digest, Item, Section, Sentence

__all__ = ["Digest", "ExtractiveSummarizer", "Item", "Section", "stems", "summarize"]

MIN_WORDS = 6
MAX_PAIR_WORDS = 60
_ENDINGS = ".!?\"'\u201d\u2019)"
# A sentence that leans on the one before it.
_DANGLING = re.compile(
    r"^(?:(?:he|she|they|it|his|her|their|its|this|these|those|but|and|however|yet|instead|"
    r"also|such)\b|(?:the|this|that) (?:visit|move|decision|announcement|remarks|meeting|step)\b"
    r"|(?:the|this|that) (?:official|spokesman|spokeswoman|spokesperson|minister|statement|"
    r"source|diplomat|aide|officials|move|decision|comments?)\b[^.]*\b(?:said|added|says|"
    r"told|noted|stressed|argued|insisted|warned)\b)",
    re.IGNORECASE,
)
# A quotation whose speaker is only a pronoun ('"...," he said.'), or a reported claim
# about a pronoun ("Critics say it could ...", "Officials warned they would ...").
_PRONOUN_SPEAKER = re.compile(
    r"[,\u201d\"]\s*(?:he|she|they)\s+(?:said|added|told|noted|argued|insisted|warned)\b"
    r"|^(?:\w+\s){1,3}(?:say|says|said|warn|warns|warned|argue|argues|argued|fear|fears|"
    r"feared|believe|believes|believed|note|notes|noted)\s+(?:that\s+)?(?:it|they|this|these|"
    r"he|she)\b",
    re.IGNORECASE,
)


class ExtractiveSummarizer:
    """The default summarizer: no network, no model; settings from ``[summary]``."""

    def __init__(
        self, settings: SummarySettings | None = None, warn: Callable[[str], None] | None = None
    ) -> None:
        self.settings = settings or SummarySettings()
        self.warn = warn or logging.getLogger("newsletter.digest").warning

    def __call__(
        self, articles: Sequence[Article], sections: Sequence[SectionSettings], language: str
    ) -> Digest:
        s = self.settings
        budget = Budget(s.time_budget_seconds)
        gate = build_gate(sections, s.topic_keywords, s.min_relevance, language)
        relevant = [a for a in budget.within(articles) if gate.keep(a)]
        topic = frozenset(w for k in s.topic_keywords for w in stems(k, language))
        candidates = candidates_of(
            relevant, sections, language, learn=s.learn_cues, topic=topic, budget=budget
        )
        if budget.left_out:
            self.warn(
                f"summarizing took longer than [summary] time_budget_seconds = "
                f"{s.time_budget_seconds:g}: {budget.left_out} of {len(articles)} articles left "
                "out; the issue is made from the rest"
            )
        pool = prepare(candidates, len(sections))
        lead = pick_lead(pool, s.lead_sentences, s.lead_max_words)
        chosen = [
            pick_section(pool, i, section.max_items, section.max_words)
            for i, section in enumerate(sections)
        ]
        built = tuple(
            Section(
                id=section.id,
                title=section.title,
                description=section.description,
                items=items(pool, picked),
            )
            for section, picked in zip(sections, chosen, strict=True)
        )
        return Digest(lead=items(pool, lead), sections=built)


def summarize(
    articles: Sequence[Article], sections: Sequence[SectionSettings], language: str = "en"
) -> Digest:
    """The extractive default with default settings."""
    return ExtractiveSummarizer()(articles, sections, language)


def candidates_of(
    articles: Sequence[Article],
    sections: Sequence[SectionSettings],
    language: str,
    *,
    learn: bool = True,
    topic: frozenset[str] = frozenset(),
    budget: Budget | None = None,
) -> list[Candidate]:
    """Every readable passage of ``articles`` that fits a section, placed in it.

    Past an article's first sentence, a passage whose only section words are ``topic``
    words (the country names every story carries) must share a word with a neighbouring
    sentence that is about a section; "A Ukrainian singer won the contest in Kyiv" at the
    end of a round-up stays out."""
    taken = budget.within(articles) if budget is not None else articles
    split = [sentences_of(a, language) for a in taken]
    tokens = {id(s): Tokens.of(s.text, language) for sentences in split for s in sentences}
    profiles = adapt([section_terms(s, language) for s in sections], list(tokens.values()), learn)
    candidates = []
    for sentences in split:
        scores = [score(tokens[id(s)], profiles) for s in sentences]
        subject = [_on_subject(tokens[id(s)].words, topic, profiles) for s in sentences]
        for i, sentence in enumerate(sentences):
            if not readable(sentence):
                continue
            passage: tuple[Sentence, ...] = (sentence,)
            fit = scores[i]
            if i > 0 and dangling(sentence):
                before = sentences[i - 1]
                if not readable(before) or dangling(before):
                    continue
                passage = (before, sentence)
                fit = tuple(a + b for a, b in zip(scores[i - 1], scores[i], strict=True))
            text = " ".join(p.text for p in passage)
            section = assign(fit)
            if section is None or len(text.split()) > MAX_PAIR_WORDS:
                continue
            words = tuple(w for p in passage for w in tokens[id(p)].words)
            if topic and passage[0].position > 0 and not _on_subject(words, topic, profiles):
                near = [
                    tokens[id(sentences[j])].distinct
                    for j in (i - len(passage), i + 1)
                    if 0 <= j < len(sentences) and subject[j]
                ]
                if not any((set(words) - topic) & other for other in near):
                    continue
            candidates.append(
                Candidate(text, passage, Tokens(words, frozenset(words)), section, fit[section])
            )
    return candidates


def _on_subject(words: Sequence[str], topic: frozenset[str], profiles: Sequence[Terms]) -> bool:
    """Does the passage use any section term, keyword phrase or cue besides topic words?"""
    rest = frozenset(words) - topic
    return any(p.hits(words, rest) for p in profiles)


def readable(sentence: Sentence) -> bool:
    """A complete sentence: long enough, properly ended, not a question."""
    text = sentence.text
    return len(text.split()) >= MIN_WORDS and text[-1:] in _ENDINGS and "?" not in text[-3:]


def dangling(sentence: Sentence) -> bool:
    """Does the sentence only make sense after the one before it?"""
    return bool(_DANGLING.match(sentence.text) or _PRONOUN_SPEAKER.search(sentence.text))
