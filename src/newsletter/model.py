"""The data that passes between the parts: Article and Source from the sources, Item, Section
and Digest from the digest, and the Issue the email renders and issue.json records.

Every part may import this module; it imports no part. An article's text is plain text,
already sanitized.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

Origin = Literal["seed", "feed"]


@dataclass(frozen=True)
class Source:
    """What an item cites: one article, as a reader sees it."""

    title: str
    url: str | None
    outlet: str | None
    published: datetime | None


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str
    url: str | None
    outlet: str | None
    published: datetime | None
    origin: Origin
    # What the source lacked and was filled in: "no-title", "no-link", "no-date".
    flags: tuple[str, ...] = ()
    # The same story as carried by other outlets (near-duplicates merged into this one).
    also: tuple[Source, ...] = ()

    @property
    def source(self) -> Source:
        return Source(title=self.title, url=self.url, outlet=self.outlet, published=self.published)

    @property
    def sources(self) -> tuple[Source, ...]:
        """Every outlet carrying this story: this article first, then the merged ones."""
        return (self.source, *self.also)


@dataclass(frozen=True)
class Sentence:
    """One sentence of one article; ``position`` is its index within the article."""

    text: str
    article: Article
    position: int


@dataclass(frozen=True)
class Item:
    """One or two complete sentences and every source that reports them."""

    text: str
    sources: tuple[Source, ...]
    score: float


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    description: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Digest:
    """A short lead (the day in two or three sentences) and one Section per configured section."""

    lead: tuple[Item, ...]
    sections: tuple[Section, ...]
    off_topic: int = 0  # articles left out as not about the newsletter's subject


# The issue: a numbered, dated digest, and its stable JSON contract (issue.json).
#
# The issue: a numbered, dated digest, and its stable JSON contract (issue.json).
#
# issue.json is read by other tools; its keys only ever grow. The contract:
# {"newsletter", "number", "date", "subject", "sections": [{"id", "title", "items": [{"text",
# "sources": [{"title", "url", "outlet", "published"}]}]}], "articles": [{"id", "title", "url",
# "outlet", "published", "origin"}]}; added since: "slot", "lead" (items, same shape).
# "articles" are the articles the items cite (before issue 8: every article gathered).


@dataclass(frozen=True)
class Issue:
    newsletter: str
    number: int
    date: date
    slot: datetime
    subject: str
    lead: tuple[Item, ...]
    sections: tuple[Section, ...]
    articles: tuple[Article, ...]

    @property
    def item_count(self) -> int:
        return sum(len(s.items) for s in self.sections) + len(self.lead)

    def cited_articles(self) -> tuple[Article, ...]:
        cited = {src for item in self.all_items() for src in item.sources}
        return tuple(a for a in self.articles if a.source in cited)

    def all_items(self) -> tuple[Item, ...]:
        return self.lead + tuple(item for s in self.sections for item in s.items)


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def source_json(source: Source) -> dict[str, Any]:
    return {
        "title": source.title,
        "url": source.url,
        "outlet": source.outlet,
        "published": _when(source.published),
    }


def item_json(item: Item) -> dict[str, Any]:
    return {"text": item.text, "sources": [source_json(s) for s in item.sources]}


def issue_json(issue: Issue) -> dict[str, Any]:
    return {
        "newsletter": issue.newsletter,
        "number": issue.number,
        "date": issue.date.isoformat(),
        "slot": issue.slot.isoformat(),
        "subject": issue.subject,
        "lead": [item_json(i) for i in issue.lead],
        "sections": [
            {"id": s.id, "title": s.title, "items": [item_json(i) for i in s.items]}
            for s in issue.sections
        ],
        "articles": [
            {
                "id": a.id,
                "title": a.title,
                "url": a.url,
                "outlet": a.outlet,
                "published": _when(a.published),
                "origin": a.origin,
            }
            for a in issue.articles
        ],
    }


def _moment(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def source_from_json(data: dict[str, Any]) -> Source:
    return Source(
        title=str(data["title"]),
        url=data.get("url"),
        outlet=data.get("outlet"),
        published=_moment(data.get("published")),
    )


def item_from_json(data: dict[str, Any], score: float = 0.0) -> Item:
    sources = tuple(source_from_json(s) for s in data.get("sources", []))
    return Item(text=str(data["text"]), sources=sources, score=score)


def _items_from_json(items: list[dict[str, Any]]) -> tuple[Item, ...]:
    # Scores are not in the contract. Read back, an item scores by its place, the first
    # highest, so trimming an oversized email (render.py) drops from the end, not the top.
    return tuple(item_from_json(item, float(len(items) - i)) for i, item in enumerate(items))


def issue_from_json(data: dict[str, Any]) -> Issue:
    """The inverse of ``issue_json``: ``issue_json(issue_from_json(d)) == d``.

    What issue.json does not carry comes back empty (article text, section descriptions) or
    derived (item scores: by place, first highest). Keys added later ("slot", "lead") default
    for issue.json files written before them; unknown keys (the contract only grows) are
    ignored. Raises KeyError, TypeError or ValueError on a document that breaks the contract.
    """
    day = date.fromisoformat(data["date"])
    slot = _moment(data.get("slot")) or datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Issue(
        newsletter=str(data["newsletter"]),
        number=int(data["number"]),
        date=day,
        slot=slot,
        subject=str(data["subject"]),
        lead=_items_from_json(data.get("lead", [])),
        sections=tuple(
            Section(
                id=str(s["id"]),
                title=str(s["title"]),
                description="",
                items=_items_from_json(s.get("items", [])),
            )
            for s in data["sections"]
        ),
        articles=tuple(
            Article(
                id=str(a["id"]),
                title=str(a["title"]),
                text="",
                url=a.get("url"),
                outlet=a.get("outlet"),
                published=_moment(a.get("published")),
                origin=a.get("origin", "feed"),
            )
            for a in data.get("articles", [])
        ),
    )
