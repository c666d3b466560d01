"""Sections: the extractive default summarizer, articles -> a lead and sectioned items.

The stages, each in its own module:

1. ``relevance``: drop articles that are not about the newsletter's subject (cheaply, before
   any sentence work);
2. ``sectioning``: split the survivors into sentences and place each in the section it fits
   best, or nowhere, with cues learned from the day's articles;
3. ``selection``: fill the lead and each section's budget with the most salient, mutually
   non-redundant passages, merging what several outlets report into one cited item.

Passages are complete sentences, cleaned (``cleaning``: datelines and bylines cut; boilerplate,
fragments, a blog's first person and marketing copy left out). A sentence that leans on the
one before it ("He said ...", "The company added ...", "The LNG will be shipped ..." after
the sentence naming the deal) only appears together with that sentence, and never when it
opens its article. Within a section, items from one article keep the article's order.
Articles are taken in a stable order (date, then id), so the input order does not change
the issue.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from newsletter.config import SectionSettings, SummarySettings
from newsletter.digest.budget import Budget
from newsletter.digest.cleaning import (
    definite_subject,
    first_person,
    house_notice,
    is_boilerplate,
    is_fragment,
    is_promotional,
    leans_back,
    names_a_person,
    recurring,
    sentence_key,
    strip_dateline,
)
from newsletter.digest.lexicon import Terms, stems
from newsletter.digest.relevance import Gate, build_gate
from newsletter.digest.sectioning import Tokens, adapt_scored, assign, section_terms
from newsletter.digest.selection import (
    Candidate,
    items,
    pick_lead,
    pick_section,
    prepare,
    reading_order,
)
from newsletter.digest.sentences import sentences_of
from newsletter.model import Article, Digest, Item, Section, Sentence

__all__ = ["Digest", "ExtractiveSummarizer", "Item", "Section", "stems", "summarize"]

MIN_WORDS = 6
MIN_ARTICLES_FOR_LEAD = 4  # on a smaller day the sections keep every story; no lead
MAX_PAIR_WORDS = 60
_ENDINGS = ".!?\"'\u201d\u2019)"
# A closing quote ends a sentence only after its own stop ("... he said, “it is over.”");
# "... as they are 'frequently associated with misleading practices'" (a standfirst) is not.
_CLOSING_QUOTES = "\"'\u201d\u2019"
_CAPITALIZED = re.compile(r"\b[A-Z][\w'\u2019-]+")
_DIGIT = re.compile(r"\d")
_WORD_TOKEN = re.compile(r"[^\W\d_][\w'\u2019-]*")
_POSSESSIVE = re.compile(r"['\u2019]s?$")
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
# A quotation whose speaker is one bare name ("“April is a placeholder,” Marsh said."): the
# reader was not told who Marsh is; that is the sentence before.
_BARE_NAME_SPEAKER = re.compile(
    r"[,\u201d\"]\s*[A-Z][a-z]+\s+(?:said|says|added|told \w+|noted|argued|insisted|warned)"
    r"\.?[\u201d\"]?$|[,\u201d\"]\s*(?:said|says|added) [A-Z][a-z]+\.[\u201d\"]?$"
)

# An event named only as "the decision", nothing after it saying which ("Brent crude rose
# 1.8% after the decision."): the decision is the sentence before.
_BARE_EVENT = re.compile(
    r"\b(?:after|following|since|despite|before|over) the (?:decision|move|announcement|vote|"
    r"meeting|remarks|statement|ruling|talks|agreement|deal)(?=[.,;:!]|$| (?:and|but)\b)",
    re.IGNORECASE,
)
# An attribution, at the end, to a bare role ("..., the operator's own scenarios show.",
# "..., the company said."): which operator is the sentence before's to say, unless this one
# names someone ("A fire shut the Baytown refinery in Texas, the operator said.").
_ROLE_SOURCE = re.compile(
    r",\s+(?:the|its) (?:operator|company|firm|group|agency|ministry|regulator|department|"
    r"utility|government|bank|official|officials|spokesman|spokeswoman|spokesperson)"
    r"(?:['\u2019]s(?: own)? \w+)? (?:said|says|show|shows|showed|added|estimates?|estimated)"
    r"\b[^,]*$",
    re.IGNORECASE,
)


class ExtractiveSummarizer:
    """The default summarizer: no network, no model; settings from ``[summary]``."""

    def __init__(
        self, settings: SummarySettings | None = None, warn: Callable[[str], None] | None = None
    ) -> None:
        self.settings = settings or SummarySettings()
        self.warn = warn or logging.getLogger("newsletter.digest").warning
        self._gate: tuple[list[SectionSettings], str, Gate] | None = None

    def prime(
        self, articles: Sequence[Article], sections: Sequence[SectionSettings], language: str
    ) -> None:
        """Judge ``articles`` on topic or not now, ahead of the call that summarizes them
        (the pipeline calls this while the parse workers finish, when this process would
        otherwise wait); the call then finds the answers made."""
        gate = self._gate_for(sections, language)
        for article in articles:
            gate.keep(article)

    def _gate_for(self, sections: Sequence[SectionSettings], language: str) -> Gate:
        if self._gate is None or (self._gate[0], self._gate[1]) != (list(sections), language):
            s = self.settings
            gate = build_gate(sections, s.topic_keywords, s.min_relevance, language)
            self._gate = (list(sections), language, gate)
        return self._gate[2]

    def __call__(
        self, articles: Sequence[Article], sections: Sequence[SectionSettings], language: str
    ) -> Digest:
        s = self.settings
        budget = Budget(s.time_budget_seconds)
        gate = self._gate_for(sections, language)
        taken = list(budget.within(articles))
        relevant = sorted((a for a in taken if gate.keep(a)), key=_stable_order)
        gate.answers.clear()  # answered: a summarizer kept for many days must not hoard them
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
        small_day = len(relevant) < MIN_ARTICLES_FOR_LEAD
        lead = [] if small_day else pick_lead(pool, s.lead_sentences, s.lead_max_words)
        chosen = [
            reading_order(pool, pick_section(pool, i, section.max_items, section.max_words))
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
        return Digest(lead=items(pool, lead), sections=built, off_topic=len(taken) - len(relevant))


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
    raw = [sentences_of(a, language) for a in taken]
    keys = [[sentence_key(s.article, s.text) for s in sentences] for sentences in raw]
    repeated = recurring(keys)
    split = [
        [
            Sentence(strip_dateline(s.text), s.article, s.position)
            for s, key in zip(sentences, article_keys, strict=True)
            if key not in repeated
        ]
        for sentences, article_keys in zip(raw, keys, strict=True)
    ]
    tokens = {id(s): Tokens.of(s.text, language) for sentences in split for s in sentences}
    configured = [section_terms(s, language) for s in sections]
    titles = frozenset(w for s in sections for w in stems(s.title, language))
    known = widely_named(sentences[0].article for sentences in raw if sentences)
    names = frozenset(w for s in sections for k in s.keywords for w in k.split() if w[:1].isupper())
    profiles, fits, configured_fits = adapt_scored(configured, list(tokens.values()), learn)
    fit_of = dict(zip(tokens, fits, strict=True))
    home_of = dict(zip(tokens, configured_fits, strict=True))
    candidates = []
    for sentences in split:
        scores = [fit_of[id(s)] for s in sentences]
        for i, sentence in enumerate(sentences):
            if _placed_nowhere(scores, i) or not readable(sentence, names):
                continue
            passage: tuple[Sentence, ...] = (sentence,)
            fit = scores[i]
            before = sentences[i - 1] if i > 0 else None
            if leans(sentence, titles, known):
                if (
                    before is None
                    or before.position != sentence.position - 1
                    or not readable(before, names)
                    or leans(before, titles, known)
                    or not names_a_person(before.text, sentence.text)
                ):
                    continue
                passage = (before, sentence)
                fit = tuple(a + b for a, b in zip(scores[i - 1], scores[i], strict=True))
            text = " ".join(p.text for p in passage)
            section = assign(fit)
            if section is None or len(text.split()) > MAX_PAIR_WORDS:
                continue
            own = tokens[id(sentence)] if len(passage) == 1 else None
            words = own.words if own else tuple(w for p in passage for w in tokens[id(p)].words)
            # A passage with none of its section's own words (keywords, title, description)
            # is about it only through a learned cue that is a name ("Peskov"), not through
            # common words learned from today's sentences ("transition", "period").
            if not configured[section].hits(words, frozenset(words)) and not _named_cue(
                text, profiles[section], configured[section], language
            ):
                continue
            if topic and passage[0].position > 0 and not _on_subject(words, topic, profiles):
                near = [
                    tokens[id(sentences[j])].distinct
                    for j in (i - len(passage), i + 1)
                    if 0 <= j < len(sentences)
                    and _on_subject(tokens[id(sentences[j])].words, topic, profiles)
                ]
                if not any((set(words) - topic) & other for other in near):
                    continue
            kept = own or Tokens(words, frozenset(words))
            # Where its configured words alone place it, if elsewhere (selection.pick_section).
            alone = [sum(c) for c in zip(*(home_of[id(p)] for p in passage), strict=True)]
            home = assign(alone)
            if home == section or (
                home is not None and not configured[home].hits(words, frozenset(words))
            ):
                home = None
            candidates.append(Candidate(text, passage, kept, section, fit[section], home))
    return candidates


def _placed_nowhere(scores: Sequence[tuple[float, ...]], i: int) -> bool:
    """Sentence ``i`` fits no section alone nor together with the one before it: it can
    become no passage, so the readability tests need not run on it."""
    if assign(scores[i]) is not None:
        return False
    pair = tuple(a + b for a, b in zip(scores[i - 1], scores[i], strict=True)) if i else ()
    return assign(pair) is None


def _named_cue(text: str, today: Terms, configured: Terms, language: str) -> bool:
    """Does the text hold a capitalized word that is one of the section's learned cues?"""
    names = stems(" ".join(_CAPITALIZED.findall(text)), language)
    return any(w in today.words and w not in configured.words for w in names)


def leans(sentence: Sentence, titles: frozenset[str], known: frozenset[str] = frozenset()) -> bool:
    """Does the sentence need the one before it: it dangles ("He said ..."), or, past its
    article's opening, its subject is only "The <noun>" ("The LNG will be shipped ...") and
    that noun is not what a section's title names ("The plan ..." under "The US plan")?"""
    if dangling(sentence, known):
        return True
    noun = definite_subject(sentence.text) if sentence.position > 0 else None
    return noun is not None and not titles.issuperset(stems(noun))


def _on_subject(words: Sequence[str], topic: frozenset[str], profiles: Sequence[Terms]) -> bool:
    """Does the passage use any section term, keyword phrase or cue besides topic words?"""
    rest = frozenset(words) - topic
    return any(p.hits(words, rest) for p in profiles)


def readable(sentence: Sentence, names: frozenset[str] = frozenset()) -> bool:
    """A complete sentence: long enough, properly ended, not a question, not boilerplate,
    a fragment, a blog's first person or marketing copy, and naming something
    (``names_something``)."""
    text = sentence.text
    return (
        len(text.split()) >= MIN_WORDS
        and text[-1:] in _ENDINGS
        and (text[-1:] not in _CLOSING_QUOTES or text[-2:-1] in ".!?")
        and "?" not in text[-3:]
        and not is_fragment(text)
        and not is_boilerplate(text)
        and not first_person(text)
        and not is_promotional(text)
        and not house_notice(text, sentence.article.outlet)
        and names_something(sentence, names)
    )


def names_something(sentence: Sentence, names: frozenset[str] = frozenset()) -> bool:
    """Does the sentence carry a specific a reader can place: a figure or a date, or a name
    (a capitalized word past the first; a first word the article itself capitalizes
    mid-sentence, "Gazprom raised ...", or that the config's keywords spell capitalized,
    ``names``: "Ukraine said ...")? A sentence with none ("Investors looking to take
    advantage of cash heavy shares, they might look first to the cash flow of a company",
    "Battery storage projects, which make up the largest share of the queue, ...") is advice,
    or leans on a story told before it."""
    return bool(_DIGIT.search(sentence.text)) or names_someone(sentence, names)


def names_someone(sentence: Sentence, names: frozenset[str] = frozenset()) -> bool:
    """Does the sentence hold a name (see ``names_something``)?"""
    text = sentence.text
    words = _WORD_TOKEN.findall(text)
    if not words:
        return False
    if not (words[0][0].isupper() or words[0][0].islower()):
        return True  # a script without capitals (Chinese, Arabic, ...): no way to tell
    if any(w[0].isupper() and w != "I" for w in words[1:]):
        return True
    first = _POSSESSIVE.sub("", words[0])
    if first in names or any(c.isupper() for c in first[1:]):
        return True  # Ukraine (a keyword); NATO, iPhone, McKinsey
    mid_sentence = re.compile(rf"(?<=[a-z,;:] ){re.escape(first)}\b")
    return bool(mid_sentence.search(sentence.article.text))


def dangling(sentence: Sentence, known: frozenset[str] = frozenset()) -> bool:
    """Does the sentence only make sense after the one before it? ``known``: surnames the
    day's articles give in full often enough that a bare one stands (``widely_named``)."""
    text = sentence.text
    return bool(
        _DANGLING.match(text)
        or _PRONOUN_SPEAKER.search(text)
        or _BARE_NAME_SPEAKER.search(text)
        or leans_back(text)
        or _BARE_EVENT.search(text)
        or (_ROLE_SOURCE.search(text) and not names_someone(sentence))
        or _bare_surname(sentence, known)
    )


_OPENING_NAME = re.compile(
    r"([A-Z][a-z]+(?:-[A-Z][a-z]+)?)(?:, who\b| (?:said|says|added|told|recalled|explained)\b)"
)
_NOT_A_FIRST_NAME = r"(?!(?:The|A|An|This|That|In|On|At|By|For|And|But)\b)"
_FULL_NAME = re.compile(rf"\b{_NOT_A_FIRST_NAME}[A-Z][a-z]+ ([A-Z][a-z]+(?:-[A-Z][a-z]+)?)\b")


def widely_named(articles: Iterable[Article]) -> frozenset[str]:
    """Surnames that two or more of the day's articles give in full ("Dmitry Peskov"): a
    name the day's news is full of, which a reader meets in the issue under its full name
    too, so a bare "Peskov said ..." stands."""
    counts: Counter[str] = Counter()
    for article in articles:
        counts.update(set(_FULL_NAME.findall(article.text)))
    return frozenset(name for name, n in counts.items() if n >= 2)


def _bare_surname(sentence: Sentence, known: frozenset[str] = frozenset()) -> bool:
    """Does the sentence open with a surname alone ("Pettersen, who has known Trump for a
    decade, ...") that its article gave in full before it ("Suzann Pettersen, the 15-time
    LPGA Tour winner") and the day's news is not full of (``known``)? Who that is was said
    in the sentence before."""
    match = _OPENING_NAME.match(sentence.text)
    if match is None or sentence.position == 0 or match.group(1) in known:
        return False
    name = match.group(1)
    text = sentence.article.text
    at = text.find(sentence.text[:40])
    earlier = text[:at] if at > 0 else ""
    return bool(re.search(rf"\b{_NOT_A_FIRST_NAME}[A-Z][a-z]+ {re.escape(name)}\b", earlier))


def _stable_order(article: Article) -> tuple[str, str]:
    return (article.published.isoformat() if article.published else "", article.id)
