"""Evaluate the digest against baselines on the labelled dev set.

    PYTHONPATH=src python benchmarks/eval_summaries.py [--show]

Reads the founding seed (seeds/) and benchmarks/data/devset/articles/, with the sentence
labels and key facts in benchmarks/data/devset/labels.toml, and prints one row per system:
ours (the configured extractive summarizer, newsletter.toml's sections and [summary]), lead-3,
and sumy's LexRank and TextRank, the baselines given the same total word budget (the sum of
the sections' max_words plus the lead's) and every article in publication order. Sumy needs
the optional extra: pip install -e '.[eval]'.

Metrics: section accuracy (section items filed under a section their label allows; baselines
do not section), off-topic items admitted, key-fact recall (facts reported by any item), and
redundant item pairs (two items reporting the same key fact).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

from newsletter.config import Config, load_config
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.digest.sentences import split_sentences
from newsletter.model import Article, Digest
from newsletter.sources.seeds import read_seed

REPO = Path(__file__).resolve().parents[1]
DEVSET = REPO / "benchmarks" / "data" / "devset"
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
    facts = [
        Fact(f["section"], f["id"], tuple(re.compile(p, re.I) for p in f["all"]))
        for f in data["facts"]
    ]
    return DevSet(articles, labels, facts)


def label_of(text: str, dev: DevSet) -> frozenset[str]:
    """The labels of the first labelled sentence an item contains."""
    for sentence, label in dev.labels.items():
        if text.startswith(sentence) or sentence in text:
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
    """sumy's tokenizer interface without NLTK data: pysbd sentences, regex words."""

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
        best: list[str] = []
        low, high = 1, len(document.sentences)
        while low <= high:  # the most top-ranked sentences that fit the budget
            middle = (low + high) // 2
            picked = [str(s) for s in summarizer(document, middle)]
            if sum(len(s.split()) for s in picked) <= budget:
                best, low = picked, middle + 1
            else:
                high = middle - 1
        return Output([(s, None) for s in best])

    return run


def table(rows: dict[str, dict[str, str]]) -> str:
    columns = list(next(iter(rows.values())))
    lines = ["| system | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(r[c] for c in columns) + " |" for name, r in rows.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "newsletter.toml")
    parser.add_argument("--show", action="store_true", help="print our digest too")
    parser.add_argument(
        "--set", type=Path, default=DEVSET, help="a labelled set (default: the dev set)"
    )
    args = parser.parse_args()
    config = load_config(args.config)
    dev = load_devset(args.set)
    budget = sum(s.max_words for s in config.sections) + config.summary.lead_max_words
    mine = ours(dev, config)
    rows = {"ours (extractive)": metrics(mine, dev), "lead-3": metrics(lead3(dev, budget), dev)}
    for name in ("lexrank", "textrank"):
        try:
            rows[f"sumy {name}"] = metrics(sumy_system(name)(dev, budget), dev)
        except ImportError:
            print(f"sumy is not installed: pip install -e '.[eval]' for the {name} row")
    on_topic = sum(
        1
        for a in dev.articles
        if any(OFF_TOPIC not in dev.labels[s] for s in split_sentences(a.text))
    )
    print(
        f"dev set: {len(dev.articles)} articles, {len(dev.labels)} labelled sentences, "
        f"{len(dev.facts)} key facts, {on_topic} on-topic articles; baseline budget {budget} words"
    )
    print(table(rows))
    if args.show:
        for text, section in mine.items:
            print(f"[{section or 'lead'}] {text}")


if __name__ == "__main__":
    main()
