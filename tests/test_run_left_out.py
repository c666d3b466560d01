"""Each run says in one line what it left out before the digest: off-topic, too old (by
``[fetch] max_age_days``) and already published articles (issue 12)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from newsletter.config import load_config
from newsletter.pipeline import run

NOW = datetime(2025, 11, 25, 7, 0, tzinfo=UTC)
PLAN = (
    "The US peace plan for Ukraine asks Kyiv to give up territory in the Donbas. "
    "Ukraine's President Zelensky said Kyiv would not accept the US plan as written. "
    "Russia demanded that Ukraine drop its bid to join NATO before any talks."
)
PARKS = (
    "The city council approved a new budget for public parks on Tuesday evening. "
    "Gardeners welcomed the plan, which adds three playgrounds and restores the old "
    "greenhouse near the river. Work starts in spring, the mayor said."
)


def _feed(path: Path, entries: list[tuple[str, str, datetime]]) -> None:
    items = "".join(
        f"<item><title>{title}</title><link>https://news.example/{n}</link>"
        f"<guid>https://news.example/{n}</guid><description>{text}</description>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>"
        for n, (title, text, when) in enumerate(entries)
    )
    body = f"<rss version='2.0'><channel><title>News</title>{items}</channel></rss>"
    path.write_text(body, encoding="utf-8")


def _left_out_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]


def test_a_run_logs_one_line_of_off_topic_too_old_and_published(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text() + '\n[[feeds]]\nname = "News"\nurl = "news.xml"\n')
    feed = project / "news.xml"
    first = NOW - timedelta(hours=2)
    _feed(
        feed, [("Peace plan", PLAN, first), ("Kyiv answers", PLAN.replace("give", "cede"), first)]
    )
    config = load_config(toml)
    caplog.set_level(logging.INFO)
    assert run(config, now=NOW, warn=print).status == "written"
    assert _left_out_lines(caplog) == [
        "articles left out: 0 off-topic, 0 too old (over [fetch] max_age_days = 7), "
        "0 in an earlier issue"
    ]

    caplog.clear()
    later = NOW + timedelta(days=1)
    _feed(
        feed,
        [
            ("Peace plan", PLAN, first),  # published yesterday, as were the seed and the next
            ("Kyiv answers", PLAN.replace("give", "cede"), first),
            ("Talks resume", PLAN.replace("Donbas", "east"), later - timedelta(hours=1)),
            ("Parks", PARKS, later - timedelta(hours=1)),  # off-topic
            ("Old plan", PLAN.replace("NATO", "the alliance"), later - timedelta(days=30)),
        ],
    )
    result = run(config, now=later, warn=print)
    assert result.status == "written"
    assert _left_out_lines(caplog) == [
        "articles left out: 1 off-topic, 1 too old (over [fetch] max_age_days = 7), "
        "3 in an earlier issue"
    ]


def test_runs_hand_every_object_back_to_the_garbage_collector(project: Path) -> None:
    """A run keeps the collector's full passes off the day's articles (gc.freeze) and hands
    them back at its end, failed, written or skipped: a scheduler daemon runs many days in
    one process, and objects left frozen would never be collected."""
    import gc

    toml = project / "newsletter.toml"
    toml.write_text(toml.read_text() + '\n[[feeds]]\nname = "News"\nurl = "news.xml"\n')
    _feed(project / "news.xml", [("Peace plan", PLAN, NOW - timedelta(hours=2))])
    config = load_config(toml)
    before = gc.get_freeze_count()

    def crash(stage: str) -> None:
        if stage == "gathered":  # the articles are in, and frozen
            raise RuntimeError("killed while summarizing")

    with pytest.raises(RuntimeError):
        run(config, now=NOW, warn=print, checkpoint=crash)
    assert gc.get_freeze_count() == before
    assert run(config, now=NOW, warn=print).status == "written"
    assert gc.get_freeze_count() == before
    assert run(config, now=NOW + timedelta(days=1), warn=print).status == "nothing-new"
    assert gc.get_freeze_count() == before
