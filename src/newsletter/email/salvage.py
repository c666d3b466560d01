"""A render problem caused by one article costs that article, never the issue.

When ``render_issue`` fails, the same issue is rendered again with harmless text in place of
every text a source gave: if that fails too, the templates are at fault and the first error
stands. Otherwise the articles at fault are
found by halving the set of cited sources (a handful of renders of a few milliseconds each,
at most ``MAX_RENDERS``), their items are left out with one warning each, and the rest is
rendered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from newsletter.config import Config
from newsletter.email.render import RenderedIssue, Templates, render_issue
from newsletter.errors import TemplateError, Warn
from newsletter.model import Issue, Item, Section, Source

MAX_RENDERS = 64


def render_or_drop(issue: Issue, config: Config, templates: Templates, warn: Warn) -> RenderedIssue:
    """``render_issue``, or, when some articles' content breaks it, the issue without them."""
    try:
        return render_issue(issue, config, templates)
    except TemplateError as first:
        search = _Search(issue, config, templates)
        if search.fails_with(_neutral(issue)):
            raise  # with harmless text in the same places it fails too: the templates' fault
        sources = list(dict.fromkeys(s for item in issue.all_items() for s in item.sources))
        bad = search.culprits(sources)
        if not bad or search.renders > MAX_RENDERS:
            raise first from None
        for source in bad:
            warn(
                f"article {source.title!r} ({source.url or source.outlet or 'no link'}) "
                f"left out of the issue: it breaks the email ({first})"
            )
        return render_issue(without(issue, set(bad)), config, templates)


def without(issue: Issue, bad: set[Source]) -> Issue:
    """The issue without the items citing any of ``bad``."""
    return _items_where(issue, lambda item: not bad & set(item.sources))


def _items_where(issue: Issue, keep: Callable[[Item], bool]) -> Issue:
    def items(of: Sequence[Item]) -> tuple[Item, ...]:
        return tuple(i for i in of if keep(i))

    sections = tuple(Section(s.id, s.title, s.description, items(s.items)) for s in issue.sections)
    trimmed = replace(issue, lead=items(issue.lead), sections=sections)
    return replace(trimmed, articles=trimmed.cited_articles())


def _neutral(issue: Issue) -> Issue:
    """The issue with the same shape, every text from a source replaced by a harmless one."""
    numbers: dict[Source, int] = {}

    def source(s: Source) -> Source:
        n = numbers.setdefault(s, len(numbers) + 1)
        url = f"https://example.org/{n}" if s.url else None
        return Source(f"Title {n}", url, f"Outlet {n}" if s.outlet else None, s.published)

    def items(of: Sequence[Item]) -> tuple[Item, ...]:
        return tuple(Item("A sentence.", tuple(source(s) for s in i.sources), i.score) for i in of)

    sections = tuple(Section(s.id, s.title, s.description, items(s.items)) for s in issue.sections)
    return replace(issue, subject="Subject", lead=items(issue.lead), sections=sections, articles=())


class _Search:
    """Renders of parts of one issue, counted."""

    def __init__(self, issue: Issue, config: Config, templates: Templates) -> None:
        self.issue, self.config, self.templates = issue, config, templates
        self.renders = 0

    def fails(self, group: set[Source]) -> bool:
        """Does the issue with only the items citing a source of ``group`` fail to render?"""
        return self.fails_with(_items_where(self.issue, lambda i: bool(group & set(i.sources))))

    def fails_with(self, issue: Issue) -> bool:
        self.renders += 1
        try:
            render_issue(issue, self.config, self.templates)
        except TemplateError:
            return True
        return False

    def culprits(self, sources: list[Source]) -> list[Source]:
        """The sources whose items break the render, found by halves."""
        if not sources or self.renders > MAX_RENDERS or not self.fails(set(sources)):
            return []
        if len(sources) == 1:
            return sources
        middle = len(sources) // 2
        return self.culprits(sources[:middle]) + self.culprits(sources[middle:])
