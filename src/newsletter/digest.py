"""What a summarizer returns: a lead and one Section of attributed Items per section."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.articles import Source


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
