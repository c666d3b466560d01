"""Checks and previews for editors: build an issue in memory, never touching the outbox or
the state database (no slot is claimed, nothing is recorded as published)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import jinja2

from newsletter.config import Config
from newsletter.email.emailcheck import Finding, brand_contrast, html_findings
from newsletter.email.linemarks import MarkedText, display_path
from newsletter.email.locate import default_size_origins, heaviest_lines, origins_of
from newsletter.email.render import (
    HTML_TEMPLATE,
    RenderedIssue,
    TemplateProblems,
    Templates,
    config_key,
    font_size_places,
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
    too_big: dict[bool, tuple[Finding, RenderedIssue]] = {}
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
        for finding in html_findings(rendered.html):
            if finding.html_bytes is not None:
                too_big[sample] = (finding, rendered)
            else:
                problems.append(_located(finding, rendered, config))
    # The sample issue too big: the templates' doing; only today's: its content's.
    for sample in (True, False):
        if sample in too_big:
            finding, rendered = too_big[sample]
            problems.append(_too_big(finding, rendered, sample))
            break
    return list(dict.fromkeys(problems))


def _located(finding: Finding, rendered: RenderedIssue, config: Config) -> str:
    """A finding about the finished HTML, prefixed with the template file and line that
    wrote the element (and the config key whose value it carries)."""
    marked = rendered.marked
    if marked is None:
        return finding.message
    if finding.small_sizes:
        return _small_text(finding, marked)
    if finding.element is not None:
        places = ", ".join(str(o) for o in origins_of(marked, finding.element))
        key = config_key(config, finding.element.value)
        where = f"{places or HTML_TEMPLATE}"
        return f"{where}: {finding.message}" + (f" (the value of {key})" if key else "")
    return finding.message


def _small_text(finding: Finding, marked: MarkedText) -> str:
    """Text below 14px, named by the template lines that set those sizes; a size no line
    sets is MJML's default for a component given no font-size: those components' lines."""
    origins = font_size_places(marked)
    places = [place for size in finding.small_sizes for place in origins.get(size, [])]
    if places:
        return (
            f"{', '.join(dict.fromkeys(places))}: {finding.message}; set font-size to at least 14px"
        )
    defaults = ", ".join(str(o) for o in default_size_origins(marked)) or HTML_TEMPLATE
    return (
        f"{defaults}: {finding.message}, MJML's default for an element without a "
        'font-size; give it font-size="14px" or more, or set one in <mj-attributes>'
    )


def _too_big(finding: Finding, rendered: RenderedIssue, sample: bool) -> str:
    """The email over Gmail's clip: the templates' doing when a sample issue of two items a
    section is, else today's content's; either way the template lines writing the most."""
    marked = rendered.marked
    lines = heaviest_lines(marked) if marked is not None else []
    lines = lines[:1] + [(o, share) for o, share in lines[1:] if share >= 0.05]
    heaviest = ", ".join(f"{o} ({share:.0%})" for o, share in lines)
    if sample:
        return (
            f"{HTML_TEMPLATE} and its partials: {finding.message} for a sample issue of two "
            "items a section, so the templates alone make it too big; the lines writing the "
            f"most MJML: {heaviest}"
        )
    return (
        f"today's content, not a template line: {finding.message} even after leaving out the "
        "weakest items (the lead is never left out); shorten the lead ([summary] "
        f"lead_sentences, lead_max_words) or the templates; the lines writing the most MJML: "
        f"{heaviest}"
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
