"""Evaluate the digest against baselines on three labelled newsletters.

    PYTHONPATH=src python benchmarks/eval_summaries.py [--show] [--only NAME]

The newsletters: **founding** (the peace-plan seed in seeds/ and benchmarks/data/devset/,
sentence labels in its labels.toml, newsletter.toml's config); **tech** (real feeds read from
../shared/data/feeds, never copied here: TechCrunch, the Google Ads Developer Blog, Google
Alerts, The Guardian, heise, reddit, HuffPost, ...; config and per-entry labels in
benchmarks/data/tech/; skipped with a message when the folder is absent); **energy**
(articles written for this benchmark in benchmarks/data/energy/, most about one section);
**energy-long** (the energy config on twelve longer articles written like real reporting,
several outlets on one story, key facts in later paragraphs too: benchmarks/data/energy-long/).

For each newsletter it prints one row per system:
ours (the configured extractive summarizer, newsletter.toml's sections and [summary]), lead-3,
and sumy's LexRank and TextRank, the baselines given the same word budget (the
words our digest used, at most the sections' max_words plus the lead's) and every article
in publication order. Sumy needs
the optional extra: pip install -e '.[eval]'.

Metrics: section accuracy (section items filed under a section their label allows; baselines
do not section), off-topic items admitted, key-fact recall (facts reported by any item), and
redundant item pairs (two items reporting the same key fact).

Label-free measures, on our digest only (target: 0 each): misattributed citations (an
(item or lead sentence, cited article) pair where the article's own text holds fewer than
half of the sentence's content words), weak citations (the same, sentence level: no single
sentence of the cited article holds half of them), boilerplate items (a sentence that recurs
in two or more entries of one outlet, a known promo/sign-off pattern, or a fragment cut off
with "..." or a list bullet), promotional items ("you", "!", a pitch), sentences that do not
stand alone (opening with a pronoun, demonstrative, connective or definite reference,
including a bare "The <noun>" subject past the article's opening, or still carrying a
dateline/byline), items of one section shown against their article's order, empty sections on a
day with an article labelled for them, and whether the issue differs between
PYTHONHASHSEED=1 and =4 (each run in a subprocess).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from newsletter.config import Config, load_config
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.digest.lexicon import stems
from newsletter.digest.sentences import split_sentences
from newsletter.model import Article, Digest, Source
from newsletter.sources.feeds import ParseJob, parse_feed
from newsletter.sources.seeds import read_seed

REPO = Path(__file__).resolve().parents[1]
DEVSET = REPO / "benchmarks" / "data" / "devset"
TECH = REPO / "benchmarks" / "data" / "tech"
ENERGY = REPO / "benchmarks" / "data" / "energy"
ENERGY_LONG = REPO / "benchmarks" / "data" / "energy-long"
FEEDS = REPO.parent / "shared" / "data" / "feeds"
FETCHED = datetime(2026, 11, 28, tzinfo=UTC)
OFF_TOPIC = "off-topic"
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Fact:
    section: str
    id: str
    patterns: tuple[re.Pattern[str], ...]

    def reported_by(self, text: str) -> bool:
        return all(p.search(text) for p in self.patterns)


@dataclass(frozen=True)
class DevSet:
    articles: list[Article]
    labels: dict[str, frozenset[str]]  # sentence text -> acceptable labels
    facts: list[Fact]


@dataclass(frozen=True)
class Output:
    """A system's digest, flattened: (text, section id or None for the lead/unsectioned)."""

    items: list[tuple[str, str | None]]


def load_devset(folder: Path = DEVSET) -> DevSet:
    data = tomllib.loads((folder / "labels.toml").read_text(encoding="utf-8"))
    entries = [(REPO / data["seed"]["path"], data["seed"]["labels"])] if "seed" in data else []
    entries += [(folder / "articles" / name, v["labels"]) for name, v in data["articles"].items()]
    articles, labels = [], {}
    for path, wanted in entries:
        article = read_seed(path)
        sentences = split_sentences(article.text)
        if isinstance(wanted, str):
            wanted = [wanted] * len(sentences)
        if len(wanted) != len(sentences):
            sys.exit(f"{path.name}: {len(wanted)} labels for {len(sentences)} sentences")
        for sentence, label in zip(sentences, wanted, strict=True):
            labels[sentence] = frozenset(label.split("|"))
        articles.append(article)
    articles.sort(key=lambda a: a.published or datetime.min.replace(tzinfo=UTC))
    return DevSet(articles, labels, _facts(data))


def load_tech(folder: Path = TECH, feeds: Path = FEEDS) -> DevSet | None:
    """The tech newsletter's entries from the real feeds, labelled per entry; None when the
    shared feeds are not there."""
    if not feeds.is_dir():
        return None
    data = tomllib.loads((folder / "labels.toml").read_text(encoding="utf-8"))
    articles, labels = [], {}
    for path, feed in data["feeds"].items():
        body = (feeds / path).read_bytes()
        kind = "application/json" if path.endswith(".json") else "application/xml"
        job = ParseJob(path, feed["outlet"], body, (feeds / path).as_uri(), kind, FETCHED, 1000)
        for article in parse_feed(job).articles:
            wanted = next(
                (e["label"] for e in feed.get("entries", []) if e["title"] in article.title),
                feed["label"],
            )
            for sentence in split_sentences(article.text):
                labels.setdefault(sentence, frozenset(wanted.split("|")))
            articles.append(article)
    return DevSet(articles, labels, _facts(data))


def load_labelled_articles(folder: Path = ENERGY) -> DevSet:
    """A set of seed-format articles with one label per article (the energy newsletter)."""
    data = tomllib.loads((folder / "labels.toml").read_text(encoding="utf-8"))
    articles, labels = [], {}
    for name, entry in data["articles"].items():
        article = read_seed(folder / "articles" / name)
        for sentence in split_sentences(article.text):
            labels.setdefault(sentence, frozenset(entry["label"].split("|")))
        articles.append(article)
    articles.sort(key=lambda a: (a.published or datetime.min.replace(tzinfo=UTC), a.id))
    return DevSet(articles, labels, _facts(data))


def _facts(data: dict[str, Any]) -> list[Fact]:
    return [
        Fact(f["section"], f["id"], tuple(re.compile(p, re.I) for p in f["all"]))
        for f in data["facts"]
    ]


def label_of(text: str, dev: DevSet) -> frozenset[str]:
    """The labels of the first labelled sentence an item contains (or, for an item whose
    dateline or byline was stripped, the labelled sentence that contains it)."""
    first = split_sentences(text)[0] if text.strip() else text
    if first in dev.labels:
        return dev.labels[first]
    for sentence, label in dev.labels.items():
        if text.startswith(sentence) or sentence in text:
            return label
    for sentence, label in dev.labels.items():
        if first in sentence:
            return label
    return frozenset({"unknown"})


def metrics(output: Output, dev: DevSet) -> dict[str, str]:
    sectioned = [(t, s) for t, s in output.items if s is not None]
    labels = [label_of(t, dev) for t, _ in output.items]
    correct = sum(1 for t, s in sectioned if s in label_of(t, dev))
    reported = [{f.id for f in dev.facts if f.reported_by(t)} for t, _ in output.items]
    found = set().union(*reported) if reported else set()
    redundant = sum(1 for a, b in combinations(reported, 2) if a & b)
    words = sum(len(t.split()) for t, _ in output.items)
    return {
        "items": str(len(output.items)),
        "words": str(words),
        "section accuracy": f"{correct / len(sectioned):.2f}" if sectioned else "n/a",
        "off-topic items": str(sum(1 for label in labels if OFF_TOPIC in label)),
        "key-fact recall": f"{len(found) / len(dev.facts):.2f}",
        "redundant pairs": str(redundant),
    }


def ours(dev: DevSet, config: Config) -> Output:
    digest: Digest = ExtractiveSummarizer(config.summary)(
        dev.articles, config.sections, config.newsletter.language
    )
    items: list[tuple[str, str | None]] = [(i.text, None) for i in digest.lead]
    items += [(i.text, s.id) for s in digest.sections for i in s.items]
    return Output(items)


def within(sentences: Sequence[str], budget: int) -> list[str]:
    chosen, words = [], 0
    for sentence in sentences:
        n = len(sentence.split())
        if words + n > budget:
            break
        chosen.append(sentence)
        words += n
    return chosen


def lead3(dev: DevSet, budget: int) -> Output:
    firsts = [s for a in dev.articles for s in split_sentences(a.text)[:3]]
    return Output([(s, None) for s in within(firsts, budget)])


class _Tokenizer:
    """sumy's tokenizer interface without NLTK data: our sentences, regex words."""

    language = "english"

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        return tuple(split_sentences(paragraph))

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return tuple(_WORD.findall(sentence))


def sumy_system(name: str) -> Callable[[DevSet, int], Output]:
    def run(dev: DevSet, budget: int) -> Output:
        from sumy.nlp.stemmers import Stemmer
        from sumy.parsers.plaintext import PlaintextParser
        from sumy.summarizers.lex_rank import LexRankSummarizer
        from sumy.summarizers.text_rank import TextRankSummarizer
        from sumy.utils import get_stop_words

        text = "\n\n".join(a.text for a in dev.articles)
        document = PlaintextParser.from_string(text, _Tokenizer()).document
        kind = {"lexrank": LexRankSummarizer, "textrank": TextRankSummarizer}[name]
        summarizer = kind(Stemmer("english"))
        summarizer.stop_words = get_stop_words("english")

        def top_within_budget(ranked: list[Any]) -> list[Any]:
            """sumy hands the sentences best first: the longest best prefix that fits."""
            chosen, words = [], 0
            for info in ranked:
                words += len(str(info.sentence).split())
                if words > budget:
                    break
                chosen.append(info)
            return chosen

        best = [str(s) for s in summarizer(document, top_within_budget)]
        return Output([(s, None) for s in best])

    return run


# Label-free measures (on our digest only).

_BOILERPLATE = re.compile(
    r"appeared first on|\bread more\b|\bsubscribe\b|\bnewsletter\b|\bcookies?\b|click here|"
    r"submitted by|\[link\]|\[\d+ comments\]|sign up|contact us|unsubscribe|"
    r"all rights reserved|continue reading|\bforum\b",
    re.I,
)
_FRAGMENT = re.compile(r"(?:\.\.\.|\u2026|\[\.\.\.\]|\[\u2026\])\W*$|^\s*[-\u2013\u2022*\u00b7]\s")
_NOT_ALONE = re.compile(
    r"^(?:(?:he|she|it|they|him|his|her|its|their|them|this|that|these|those|here|there|"
    r"but|and|or|so|however|meanwhile|also|yet|instead|still|moreover|furthermore|"
    r"additionally|then|thus|therefore|besides|such|both|we|our|us|i|my|today,? we)\b|"
    r"the (?:company|firm|startup|group|two|three|official|officials|move|deal|decision|"
    r"report|statement|latter|former|same|other|new service|service|app|update|"
    r"minister|president|sides?)\b)"
    r"|^[^.,]{0,40}\breported (?:this|it|the news)\b"
    r"|^(?:in other words|in short|in fact|for example|for instance|on the other hand|"
    r"as a result|in addition|that said)\b"
    r"|\bthe two (?:countries|sides|companies|leaders|governments)\b"
    r"|\bboth (?:countries|companies|governments)\b",
    re.I,
)
_DATELINE = re.compile(
    r"^[A-Z][\w .'\u2019-]{1,40}, [A-Z][a-z]{2,8}\.? \d{1,2}(?:, \d{4})? ?\([A-Za-z]+\) ?"
    r"[-\u2013\u2014:]"
    r"|^By [A-Z][\w.'\u2019 -]+$"
)


def _norm(sentence: str) -> str:
    return " ".join(_WORD.findall(sentence.lower()))


def _sentences(digest: Digest) -> list[tuple[str, tuple[Source, ...]]]:
    """Every (item or lead sentence, its sources)."""
    items = [*digest.lead, *(i for s in digest.sections for i in s.items)]
    return [(sentence, i.sources) for i in items for sentence in split_sentences(i.text)]


def misattributed(digest: Digest, dev: DevSet) -> int:
    """(sentence, cited article) pairs where the article holds < half the content words."""
    by_source = {a.source: a for a in dev.articles}
    own: dict[Source, frozenset[str]] = {}
    bad = 0
    for sentence, sources in _sentences(digest):
        words = set(stems(sentence))
        for source in sources:
            article = by_source.get(source)
            if article is None:
                bad += 1
                continue
            if source not in own:
                own[source] = frozenset(stems(f"{article.title}\n{article.text}"))
            if words and len(words & own[source]) * 2 < len(words):
                bad += 1
    return bad


def weak_citations(digest: Digest, dev: DevSet) -> int:
    """The same at sentence level: (sentence, cited article) pairs where no single sentence
    of the article (nor its title) holds half of the sentence's content words: an outlet
    cited for a fact it does not state, though its whole text shares the words."""
    by_source = {a.source: a for a in dev.articles}
    own: dict[Source, list[set[str]]] = {}
    bad = 0
    for sentence, sources in _sentences(digest):
        words = set(stems(sentence))
        for source in sources:
            article = by_source.get(source)
            if article is None or not words:
                continue
            if source not in own:
                own[source] = [
                    set(stems(s)) for s in [article.title, *split_sentences(article.text)]
                ]
            if all(len(words & s) * 2 < len(words) for s in own[source]):
                bad += 1
    return bad


_PROMO = re.compile(
    r"\byou(?:r|rs|rself)?\b|(?-i:\bI\b)|!\s*$|^(?:alright|all right|okay|hey)\b|the time has come|"
    r"^what (?:sets|makes) .{1,80} apart|look no further|game[- ]changer|best-in-class|"
    r"(?:excited|thrilled|proud) to (?:announce|introduce|share)",
    re.I,
)
_QUOTE = re.compile(r"\u201c[^\u201d]*\u201d|\"[^\"]*\"")


def promotional(digest: Digest) -> int:
    """Items that are marketing copy, not reporting: the reader addressed as "you" outside a
    quotation, an exclamation, a pitch ("What sets X apart", "Alright ... fans")."""
    items = [*digest.lead, *(i for s in digest.sections for i in s.items)]
    return sum(1 for i in items if _PROMO.search(_QUOTE.sub(" ", i.text)))


def _position(article: Article, text: str) -> int:
    """The index of the article's sentence that ``text`` starts with (or contains)."""
    first = split_sentences(text)[0]
    for n, sentence in enumerate(split_sentences(article.text)):
        if first in sentence or sentence in first:
            return n
    return -1


def out_of_order(digest: Digest, dev: DevSet) -> int:
    """Pairs of items in one section from one article shown against the article's order
    ("The LNG will be shipped ..." before "QatarEnergy signed a deal ...")."""
    by_source = {a.source: a for a in dev.articles}
    bad = 0
    for section in digest.sections:
        placed = [
            (i.sources[0], _position(by_source[i.sources[0]], i.text))
            for i in section.items
            if i.sources and i.sources[0] in by_source
        ]
        bad += sum(1 for (a, x), (b, y) in combinations(placed, 2) if a == b and x > y)
    return bad


# "The LNG will ...", "The chip maker, which ...": "The" and one or two common nouns as the
# whole subject (a comma or a verb follows).
_BARE_DEFINITE = re.compile(
    r"^The (?:(?!most |more |less |least |first |last )[a-z][a-z-]+ (?![a-z]+ly\b))?"
    r"(?:[a-z][a-z-]+|[A-Z]{2,6})"
    r"(?=,| (?:will|would|is|was|are|were|has|had|have|can|could|may|might|must|should|"
    r"said|says|put|set|cut|made|told|took|gave|found|rose|fell|held|led|\w+ed)\b)"
)


def definite_without_antecedent(digest: Digest, dev: DevSet) -> int:
    """Items opening, past their article's first sentence, with a bare definite subject
    ("The LNG will be shipped ...", "The chip maker, which ..."), shown without the sentence
    before it that names what it refers to; a subject the section's title names ("The plan
    ..." under "The US plan") has its antecedent."""
    by_source = {a.source: a for a in dev.articles}
    items = [("", i) for i in digest.lead]
    items += [(s.title, i) for s in digest.sections for i in s.items]
    bad = 0
    for heading, i in items:
        match = _BARE_DEFINITE.match(i.text)
        article = by_source.get(i.sources[0]) if i.sources else None
        if match is None or article is None or _position(article, i.text) <= 0:
            continue
        if not set(stems(heading)).issuperset(stems(match.group())):
            bad += 1
    return bad


_SURNAME_SPEAKS = re.compile(r"^([A-Z][a-z]+) (?:said|says|added|told)\b|^([A-Z][a-z]+), who\b")


def surname_without_name(digest: Digest, dev: DevSet) -> int:
    """Items opening with a surname alone ("Pettersen, who ...", "Quinn says ...") whose
    article gave the full name earlier, in a sentence the item does not carry, and that no
    item shown before it gives in full (reading the issue in order, as a subscriber)."""
    by_source = {a.source: a for a in dev.articles}
    bad = 0
    shown: list[str] = []
    for i in [*digest.lead, *(i for s in digest.sections for i in s.items)]:
        match = _SURNAME_SPEAKS.match(i.text)
        article = by_source.get(i.sources[0]) if i.sources else None
        shown.append(i.text)
        if match is None or article is None:
            continue
        name = match.group(1) or match.group(2)
        full = re.compile(rf"[A-Z][a-z]+ {name}\b")
        before = article.text[: max(article.text.find(i.text[:40]), 0)]
        told = any(full.search(text.replace("The ", "the ")) for text in shown[:-1])
        if full.search(before.replace("The ", "the ")) and not told:
            bad += 1
    return bad


def boilerplate(digest: Digest, dev: DevSet) -> int:
    """Items that are boilerplate or fragments."""
    per_outlet: dict[str, Counter[str]] = defaultdict(Counter)
    for a in dev.articles:
        per_outlet[a.outlet or a.id].update({_norm(s) for s in split_sentences(a.text)})
    recurring = {s for counts in per_outlet.values() for s, n in counts.items() if n >= 2}
    items = [*digest.lead, *(i for s in digest.sections for i in s.items)]
    return sum(
        1
        for i in items
        if _BOILERPLATE.search(i.text)
        or _FRAGMENT.search(i.text)
        or any(_norm(s) in recurring for s in split_sentences(i.text))
    )


# Inside an item's first sentence: an event the reader was not told of ("Brent crude rose
# 1.8% after the decision."), or a bare role as the source of a sentence that names nobody
# ("A severe storm would still leave the grid short, the operator's own scenarios show.").
_UNTOLD_EVENT = re.compile(
    r"\b(?:after|following|since|before|despite) the (?:decision|move|announcement|vote|"
    r"meeting|ruling|talks|remarks|statement)[.,;]"
)
_ROLE_ATTRIBUTION = re.compile(
    r", (?:the|its) (?:operator|company|firm|agency|ministry|regulator|group|utility|bank)"
    r"(?:'s|\u2019s)?(?: own)?(?: [a-z]+)? (?:said|says|show|shows|showed)\b"
)


def _first_sentence(text: str) -> str:
    return split_sentences(text)[0] if text else text


def _untold(text: str) -> bool:
    first = _first_sentence(text)
    if _UNTOLD_EVENT.search(first):
        return True
    named = any(w[:1].isupper() for w in first.split()[1:])
    return bool(_ROLE_ATTRIBUTION.search(first)) and not named


def not_alone(digest: Digest) -> int:
    """Items and lead sentences that open without their antecedent, or with a dateline, or
    whose first sentence leans on an untold event or an unnamed source (``_untold``)."""
    items = [*digest.lead, *(i for s in digest.sections for i in s.items)]
    return sum(
        1 for i in items if _NOT_ALONE.match(i.text) or _DATELINE.match(i.text) or _untold(i.text)
    )


def empty_sections(digest: Digest, dev: DevSet) -> int:
    """Sections left empty though an article today is labelled for them."""
    wanted = set().union(*dev.labels.values()) if dev.labels else set()
    return sum(1 for s in digest.sections if not s.items and s.id in wanted)


def digest_json(digest: Digest) -> str:
    def item(i: Any) -> dict[str, Any]:
        return {"text": i.text, "sources": [[s.title, s.url, s.outlet] for s in i.sources]}

    return json.dumps(
        {
            "lead": [item(i) for i in digest.lead],
            "sections": [
                {"id": s.id, "items": [item(i) for i in s.items]} for s in digest.sections
            ],
        },
        sort_keys=True,
    )


def same_under_seeds(name: str) -> bool:
    """Run the digest in two subprocesses, PYTHONHASHSEED=1 with the articles in order and
    =4 with them reversed; is the digest byte-identical?"""
    hashes = []
    for seed, order in (("1", "forward"), ("4", "reversed")):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO / "src")}
        out = subprocess.run(
            [sys.executable, __file__, "--digest-of", name, "--order", order],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        hashes.append(hashlib.sha256(out.encode()).hexdigest())
    return hashes[0] == hashes[1]


def label_free(digest: Digest, dev: DevSet, name: str) -> dict[str, str]:
    return {
        "misattributed citations": str(misattributed(digest, dev)),
        "weak citations (sentence level)": str(weak_citations(digest, dev)),
        "boilerplate items": str(boilerplate(digest, dev)),
        "promotional items": str(promotional(digest)),
        "not standalone": str(
            not_alone(digest)
            + definite_without_antecedent(digest, dev)
            + surname_without_name(digest, dev)
        ),
        "out of article order": str(out_of_order(digest, dev)),
        "empty sections with an article": str(empty_sections(digest, dev)),
        "same under two hash seeds": (
            "n/a" if name not in newsletters() else "yes" if same_under_seeds(name) else "NO"
        ),
    }


def table(rows: dict[str, dict[str, str]], first: str = "system") -> str:
    columns = list(next(iter(rows.values())))
    lines = [f"| {first} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(r[c] for c in columns) + " |" for name, r in rows.items()]
    return "\n".join(lines)


def newsletters() -> dict[str, tuple[Path, Callable[[], DevSet | None]]]:
    """name -> (config, loader)."""
    return {
        "founding": (REPO / "newsletter.toml", load_devset),
        "tech": (TECH / "newsletter.toml", load_tech),
        "energy": (ENERGY / "newsletter.toml", load_labelled_articles),
        "energy-long": (ENERGY / "newsletter.toml", lambda: load_labelled_articles(ENERGY_LONG)),
    }


def digest_of(dev: DevSet, config: Config) -> Digest:
    return ExtractiveSummarizer(config.summary)(
        dev.articles, config.sections, config.newsletter.language
    )


def evaluate(name: str, config: Config, dev: DevSet, show: bool) -> None:
    digest = digest_of(dev, config)
    mine = ours(dev, config)
    # The baselines get the words our digest used (never more than the configured budget).
    budget = sum(len(t.split()) for t, _ in mine.items)
    rows = {"ours (extractive)": metrics(mine, dev), "lead-3": metrics(lead3(dev, budget), dev)}
    for system in ("lexrank", "textrank"):
        try:
            rows[f"sumy {system}"] = metrics(sumy_system(system)(dev, budget), dev)
        except ImportError:
            print(f"sumy is not installed: pip install -e '.[eval]' for the {system} row")
    on_topic = sum(
        1
        for a in dev.articles
        if any(OFF_TOPIC not in dev.labels.get(s, {OFF_TOPIC}) for s in split_sentences(a.text))
    )
    print(
        f"\n## {name}: {len(dev.articles)} articles, {len(dev.labels)} labelled sentences, "
        f"{len(dev.facts)} key facts, {on_topic} on-topic articles; baseline budget {budget} words"
    )
    print(table(rows))
    print()
    print(table({"ours (extractive)": label_free(digest, dev, name)}))
    if show:
        for item in digest.lead:
            print(f"[lead] {item.text} <- {[s.outlet for s in item.sources]}")
        for section in digest.sections:
            for item in section.items:
                print(f"[{section.id}] {item.text} <- {[s.outlet for s in item.sources]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", action="store_true", help="print our digests too")
    parser.add_argument("--only", choices=sorted(newsletters()), help="one newsletter only")
    parser.add_argument(
        "--set", type=Path, help="instead, one labelled set in the dev set's format (holdout)"
    )
    parser.add_argument("--config", type=Path, default=REPO / "newsletter.toml")
    parser.add_argument("--digest-of", help=argparse.SUPPRESS)  # the hash-seed subprocess
    parser.add_argument("--order", default="forward", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.digest_of:
        path, load = newsletters()[args.digest_of]
        dev = load()
        assert dev is not None
        if args.order == "reversed":
            dev = DevSet(dev.articles[::-1], dev.labels, dev.facts)
        print(digest_json(digest_of(dev, load_config(path))))
        return
    if args.set:
        evaluate(str(args.set.name), load_config(args.config), load_devset(args.set), args.show)
        return
    for name, (path, load) in newsletters().items():
        if args.only and name != args.only:
            continue
        dev = load()
        if dev is None:
            print(f"\n## {name}: skipped: {FEEDS} is not there (the shared feeds)")
            continue
        evaluate(name, load_config(path), dev, args.show)


if __name__ == "__main__":
    main()
