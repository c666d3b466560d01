"""The digest on the labelled dev set keeps meeting the issue's targets (a regression guard;
the full table with baselines is benchmarks/eval_summaries.py, see docs/benchmarks.md)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from eval_summaries import (  # noqa: E402
    boilerplate,
    digest_of,
    empty_sections,
    load_devset,
    load_labelled_articles,
    metrics,
    misattributed,
    not_alone,
    ours,
)

from newsletter.config import load_config  # noqa: E402


def test_dev_set_targets_hold() -> None:
    dev = load_devset()
    row = metrics(ours(dev, load_config(REPO / "newsletter.toml")), dev)
    assert float(row["section accuracy"]) >= 0.9, row
    assert row["off-topic items"] == "0", row
    assert row["redundant pairs"] == "0", row
    # TextRank, the best baseline, reaches 0.56 with the words our digest uses (403); the
    # target is +0.15. (Issue 12 gave the baselines our digest's word count instead of the
    # configured ceiling, 435, where TextRank reached 0.69.)
    assert float(row["key-fact recall"]) >= 0.71, row


def test_label_free_measures_are_zero_on_the_founding_and_energy_sets() -> None:
    for dev, config in (
        (load_devset(), REPO / "newsletter.toml"),
        (load_labelled_articles(), REPO / "benchmarks" / "data" / "energy" / "newsletter.toml"),
    ):
        digest = digest_of(dev, load_config(config))
        assert misattributed(digest, dev) == 0
        assert boilerplate(digest, dev) == 0
        assert not_alone(digest) == 0
        assert empty_sections(digest, dev) == 0
