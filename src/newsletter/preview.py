"""Checks and previews for editors: build an issue in memory, never touching the outbox or
the state database (no slot is claimed, nothing is recorded as published)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import jinja2

from newsletter.config import Config
from newsletter.email.emailcheck import Finding, brand_contrast, html_findings
from newsletter.email.linemarks import display_path
from newsletter.email.render import (
    HTML_TEMPLATE,
    RenderedIssue,
    TemplateProblems,
    Templates,
    context,
    font_size_origins,
    load_templates,
    render_issue,
)
from newsletter.email.salvage import render_or_drop
from newsletter.errors import NewsletterError, Warn
from newsletter.model import Article, Issue, Item, Section, Source
from newsletter.pipeline import compose_issue, gather_articles
from newsletter.sources.dedup import dedupe
from newsletter.sources.fetch import Fetcher
from newsletter.sources.fulltext import missing_extra
from newsletter.sources.ingest import peek_feeds

SAMPLE_SOURCE = Source(
    title="Sample article used by newsletter check",
    url="https://example.org/sample-article",
    outlet="Example Outlet",
    published=None,
)


def render_in_memory(
    config: Config,
    today: date,
    templates: Templates | None = None,
    warn: Warn = lambda _: None,
    fetcher: Fetcher | None = None,
) -> RenderedIssue:
    """Today's issue from the current sources, rendered but not written anywhere.

    With a ``fetcher``, the feeds are fetched too (nothing is recorded); without one, seeds only
    (``newsletter check`` stays offline)."""
    articles = gather_articles(config, warn=warn)
    if fetcher is not None:
        now = datetime.now(UTC)
        fresh = peek_feeds(config, fetcher, now, warn)
        articles = [story.article for story in dedupe([*articles, *fresh])]
    slot = datetime.combine(today, time(0, 0), tzinfo=UTC)
    issue = compose_issue(config, articles, number=1, slot=slot)
    return render_or_drop(issue, config, templates or load_templates(config.templates_dir), warn)


def sample_issue(config: Config, today: date) -> Issue:
    """An issue with a lead and two items in every section, so every template branch that
    shows items runs even when the project has no sources yet."""
    slot = datetime.combine(today, time(0, 0), tzinfo=UTC)
    text = "This sample sentence stands in for a summarized news item in this section."
    item = Item(text=text, sources=(SAMPLE_SOURCE,), score=1.0)
    sections = tuple(Section(s.id, s.title, s.description, (item, item)) for s in config.sections)
    article = Article(
        "sample", SAMPLE_SOURCE.title, text, SAMPLE_SOURCE.url, "Example Outlet", None, "seed"
    )
    return Issue(
        newsletter=config.newsletter.name,
        number=1,
        date=today,
        slot=slot,
        subject=f"{config.newsletter.name}: sample issue",
        lead=(item,),
        sections=sections,
        articles=(article,),
    )


def check_project(config: Config, today: date, warn: Warn = lambda _: None) -> list[str]:
    """Every problem found, one line each; empty when the project is sound. Seeds that
    cannot be used are passed to ``warn``: they are skipped, not fatal, in a real run too."""
    problems = [f.message for f in brand_contrast(config.brand)]
    problems.extend(missing_extra(config.feeds))  # a run keeps the teasers; check says why
    templates = load_templates(config.templates_dir)
    problems.extend(_compile_all(templates))
    if problems and any("template syntax error" in p for p in problems):
        return problems  # rendering would only repeat the syntax errors
    for sample in (False, True):
        try:
            if sample:
                rendered = render_issue(sample_issue(config, today), config, templates)
            else:
                rendered = render_in_memory(config, today, templates, warn)
        except TemplateProblems as e:
            problems.extend(str(p) for p in e.problems)
            break
        except NewsletterError as e:
            problems.append(str(e))
            break
        problems.extend(_located(f, config, today, templates) for f in html_findings(rendered.html))
    return list(dict.fromkeys(problems))


def _located(finding: Finding, config: Config, today: date, templates: Templates) -> str:
    """A finding about text size, prefixed with the template lines that set those sizes; a
    size no template line sets is an MJML default of an element given no font-size."""
    if not finding.small_sizes:
        return finding.message
    origins = font_size_origins(templates, context(sample_issue(config, today), config))
    places = [place for size in finding.small_sizes for place in origins.get(size, [])]
    if places:
        return (
            f"{', '.join(dict.fromkeys(places))}: {finding.message}; set font-size to at least 14px"
        )
    return (
        f"{HTML_TEMPLATE}: {finding.message}, MJML's default for an element without a "
        'font-size; give it font-size="14px" or more, or set one in <mj-attributes>'
    )


def _compile_all(templates: Templates) -> list[str]:
    """Compile every template an editor could have touched, so a syntax error in a partial
    that today's issue does not include is still found."""
    names = sorted(
        {
            str(path.relative_to(folder))
            for folder in templates.search_path
            for path in folder.rglob("*.j2")
        }
    )
    problems = []
    for name in names:
        env = templates.text if name.endswith(".txt.j2") else templates.html
        try:
            env.get_template(name)
        except jinja2.TemplateError as e:
            problems.append(_describe_compile_error(name, e))
    return problems


def _describe_compile_error(name: str, error: jinja2.TemplateError) -> str:
    if isinstance(error, jinja2.TemplateSyntaxError):
        where = display_path(error.filename or name)
        return f"{where}:{error.lineno}: template syntax error: {error.message}"
    return f"{name}: {error}"
