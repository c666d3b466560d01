"""Time the summarizer (and composing + rendering the issue) on a synthetic feed day.

    PYTHONPATH=src python benchmarks/bench_summarize.py [--articles 10000] [--on-topic 0.05]

The corpus is built, deterministically, from the dev set's sentences: on-topic articles
recombine the on-topic sentences (with varied names and numbers, so few are verbatim
duplicates), off-topic ones recombine the off-topic sentences and invented filler, and one
off-topic article in ten names Ukraine or Russia in passing. About five sentences per
article: 10,000 articles is about 50,000 sentences.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_summaries import REPO, load_devset

from newsletter.config import load_config
from newsletter.digest.extractive import ExtractiveSummarizer
from newsletter.digest.relevance import build_gate
from newsletter.digest.sentences import split_sentences
from newsletter.email.render import load_templates, render_issue
from newsletter.model import Article
from newsletter.pipeline import compose_issue

FILLER = [
    "harbour",
    "council",
    "budget",
    "festival",
    "museum",
    "bridge",
    "rainfall",
    "orchestra",
    "railway",
    "election",
    "hospital",
    "vaccine",
    "satellite",
    "startup",
    "glacier",
    "tournament",
    "recipe",
    "bakery",
    "airline",
    "ferry",
]
PASSING = [
    "Prices also reflected the war between Russia and Ukraine.",
    "The minister visited Kyiv last year.",
    "Exports to Russia have fallen since 2022.",
]


def corpus(n: int, on_share: float, seed: int = 7) -> list[Article]:
    rng = random.Random(seed)
    dev = load_devset()
    on, off = [], []
    for article in dev.articles:
        for sentence in split_sentences(article.text):
            is_off = "off-topic" in dev.labels.get(sentence, frozenset())
            (off if is_off else on).append(sentence)
    articles = []
    when = datetime(2025, 11, 20, tzinfo=UTC)
    for i in range(n):
        topical = rng.random() < on_share
        pool = on if topical else off
        sentences = [_vary(rng.choice(pool), rng) for _ in range(rng.randint(4, 6))]
        if not topical:
            sentences.append(" ".join(rng.sample(FILLER, 8)).capitalize() + ".")
            if rng.random() < 0.1:
                sentences.insert(2, rng.choice(PASSING))
        title = sentences[0].split(",")[0][:80]
        articles.append(
            Article(
                id=f"bench:{i}",
                title=title,
                text="\n".join(sentences),
                url=f"https://outlet{i % 97}.example/{i}",
                outlet=f"Outlet {i % 97}",
                published=when,
                origin="feed",
            )
        )
    return articles


def _vary(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    if len(words) > 6:
        words.insert(rng.randint(1, len(words) - 2), rng.choice(FILLER))
    return " ".join(words).replace("19%", f"{rng.randint(10, 30)}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--on-topic", type=float, default=0.05)
    args = parser.parse_args()
    config = load_config(REPO / "newsletter.toml")
    articles = corpus(args.articles, args.on_topic)
    sentences = sum(a.text.count("\n") + 1 for a in articles)
    summarizer = ExtractiveSummarizer(config.summary)
    started, cpu = time.perf_counter(), time.process_time()
    digest = summarizer(articles, config.sections, config.newsletter.language)
    summarized, summarized_cpu = time.perf_counter() - started, time.process_time() - cpu
    gate = build_gate(
        config.sections, config.summary.topic_keywords, config.summary.min_relevance, "en"
    )
    cpu = time.process_time()
    relevant = [a for a in articles if gate.keep(a)]
    gated = time.process_time() - cpu
    slot = datetime(2025, 11, 20, tzinfo=config.newsletter.zone)
    started = time.perf_counter()
    issue = compose_issue(config, articles, number=1, slot=slot, summarizer=lambda *_: digest)
    render_issue(issue, config, load_templates(config.templates_dir))
    rendered = time.perf_counter() - started
    items = len(digest.lead) + sum(len(s.items) for s in digest.sections)
    print(
        f"{len(articles):,} articles, ~{sentences:,} sentences: summarize {summarized:.2f} s "
        f"wall, {summarized_cpu:.2f} s CPU (relevance gate {gated:.2f} s CPU, "
        f"{len(relevant):,} articles kept); compose + render {rendered:.2f} s; {items} items"
    )


if __name__ == "__main__":
    main()
