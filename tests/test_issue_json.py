"""issue.json read back: ``issue_from_json`` is the inverse of ``issue_json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from newsletter.config import load_config
from newsletter.model import issue_from_json, issue_json
from newsletter.pipeline import run


def test_issue_json_round_trips(project: Path) -> None:
    config = load_config(project / "newsletter.toml")
    result = run(config, now=datetime(2025, 11, 22, 7, tzinfo=UTC), warn=lambda _: None)
    assert result.path is not None
    data = json.loads((result.path / "issue.json").read_text(encoding="utf-8"))
    issue = issue_from_json(data)
    assert issue_json(issue) == data
    assert issue.number == 1 and issue.slot.tzinfo is not None
    assert [s.id for s in issue.sections] == ["us-plan", "ukraine-response", "russia-demands"]
    assert all(item.sources for s in issue.sections for item in s.items)


def test_issue_json_from_before_slot_and_lead_still_reads() -> None:
    data = {
        "newsletter": "N",
        "number": 3,
        "date": "2025-11-20",
        "subject": "S",
        "sections": [{"id": "a", "title": "A", "items": []}],
        "articles": [],
        "later_key": {"ignored": True},
    }
    issue = issue_from_json(data)
    assert issue.lead == () and issue.slot == datetime(2025, 11, 20, tzinfo=UTC)


def test_an_oversized_issue_read_back_is_trimmed_from_the_end(project: Path) -> None:
    from newsletter.email.render import load_templates, render_issue

    config = load_config(project / "newsletter.toml")
    result = run(config, now=datetime(2025, 11, 22, 7, tzinfo=UTC), warn=lambda _: None)
    assert result.path is not None
    issue = issue_from_json(json.loads((result.path / "issue.json").read_text(encoding="utf-8")))
    section = max(issue.sections, key=lambda s: len(s.items))
    assert len(section.items) >= 2
    full = render_issue(issue, config, load_templates(config.templates_dir))
    size = len(full.html.encode())
    trimmed = render_issue(
        issue, config, load_templates(config.templates_dir), max_bytes=size - 200
    )
    assert trimmed.omitted, "the smaller budget made render drop an item"
    first = section.items[0].text
    assert first.split()[0] in trimmed.html and first[:60] in trimmed.html.replace("&#39;", "'")
