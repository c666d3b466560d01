"""Checks and previews for editors: build an issue in memory, never touching the outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from newsletter.config import Config
from newsletter.errors import NewsletterError
from newsletter.pipeline import compose_issue, gather_articles
from newsletter.render import RenderedIssue, load_templates, render_issue


def render_in_memory(config: Config, today: date) -> RenderedIssue:
    articles = gather_articles(config, warn=lambda _: None)
    slot = datetime.combine(today, time(0, 0), tzinfo=UTC)
    issue = compose_issue(config, articles, number=1, slot=slot)
    return render_issue(issue, config, load_templates(config.templates_dir))


def check_project(config: Config, today: date) -> list[str]:
    """Every problem found, one line each; empty when the project is sound."""
    problems: list[str] = []
    try:
        render_in_memory(config, today)
    except NewsletterError as e:
        problems.append(str(e))
    return problems
