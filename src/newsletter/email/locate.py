"""Where in the templates an element of the finished email comes from.

The email checks read the HTML mjml-python wrote, which no editor sees; the rendered MJML
keeps line marks (linemarks.py). This finds, in the marked MJML, the element a finding is
about (an <img> without alt text, a link without rel="noopener", a <script>), following
the MJML components that become those HTML elements (an ``mj-image`` becomes an ``img``,
an ``mj-button`` an ``a``), and answers with the template file and line that wrote it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser

from newsletter.email.linemarks import MarkedText, Origin

# The MJML components that become an HTML element with the same attribute.
BECOMES: dict[str, frozenset[str]] = {
    "a": frozenset({"mj-button", "mj-image", "mj-social-element", "mj-navbar-link"}),
    "img": frozenset({"mj-image", "mj-carousel-image", "mj-social-element"}),
}
# Components whose text MJML sets in 13px when neither they nor <mj-attributes> say otherwise.
DEFAULT_13PX = frozenset(
    {"mj-text", "mj-button", "mj-table", "mj-social-element", "mj-navbar-link"}
    | {"mj-accordion-title", "mj-accordion-text"}
)


_NOT_ATTRIBUTES = frozenset(
    {"mj-body", "mj-head", "mj-style", "mj-title", "mj-preview", "mj-breakpoint", "mj-font"}
)


@dataclass(frozen=True)
class Element:
    """What a finding is about: an HTML tag, and optionally one attribute (and its value)."""

    tag: str
    attribute: str | None = None
    value: str | None = None
    # (attribute, word): the element's attribute lacks the word ("": is missing or empty),
    # e.g. ("alt", "") or ("rel", "noopener")
    lacks: tuple[str, str] | None = None


@dataclass(frozen=True)
class _Seen:
    tag: str
    attrs: dict[str, str]
    line: int
    column: int


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen: list[_Seen] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line, column = self.getpos()
        self.seen.append(_Seen(tag, {k: v or "" for k, v in attrs}, line, column))

    handle_startendtag = handle_starttag


def _elements(mjml: str) -> list[_Seen]:
    parser = _Elements()
    parser.feed(mjml)
    parser.close()
    return parser.seen


def _matches(seen: _Seen, element: Element) -> bool:
    if seen.tag != element.tag and seen.tag not in BECOMES.get(element.tag, ()):
        return False
    if element.attribute is not None:
        if element.attribute not in seen.attrs:
            return False
        found = "".join(seen.attrs[element.attribute].split())
        if element.value is not None and found != "".join(element.value.split()):
            return False
    if element.lacks is not None:
        name, word = element.lacks
        found = seen.attrs.get(name, "")
        return word not in found.split() if word else not found.strip()
    return True


def origins_of(marked: MarkedText, element: Element) -> list[Origin]:
    """The template lines that wrote an element like ``element``, in order, once each."""
    found: list[Origin] = []
    for seen in _elements(marked.text):
        if _matches(seen, element):
            origin = marked.origin_at(seen.line, seen.column)
            if origin is not None and origin not in found:
                found.append(origin)
    return found


def default_size_origins(marked: MarkedText) -> list[Origin]:
    """The template lines of components that get MJML's 13px default: no font-size of their
    own, none from their mj-class, none in <mj-attributes> for them or mj-all."""
    seen = _elements(marked.text)
    in_attributes = False
    defaults: set[str] = set()
    classes: set[str] = set()
    found: list[Origin] = []
    for element in seen:
        if element.tag == "mj-attributes":
            in_attributes = True
            continue
        if element.tag in _NOT_ATTRIBUTES:
            in_attributes = False
        if in_attributes:
            if "font-size" in element.attrs:
                if element.tag == "mj-class":
                    classes.add(element.attrs.get("name", ""))
                else:
                    defaults.add(element.tag)
            continue
        if (
            element.tag in DEFAULT_13PX
            and "font-size" not in element.attrs
            and not {"mj-all", element.tag} & defaults
            and not set(element.attrs.get("mj-class", "").split()) & classes
        ):
            origin = marked.origin_at(element.line, element.column)
            if origin is not None and origin not in found:
                found.append(origin)
    return found


def heaviest_lines(marked: MarkedText, count: int = 3) -> list[tuple[Origin, float]]:
    """The template lines that wrote the most MJML (what they wrote, items included), with
    their share of it: where to look when the email is too big."""
    sizes: Counter[Origin] = Counter()
    ends = (*marked.offsets[1:], len(marked.text))
    for origin, start, end in zip(marked.origins, marked.offsets, ends, strict=True):
        sizes[origin] += end - start
    total = max(len(marked.text), 1)
    return [(origin, size / total) for origin, size in sizes.most_common(count)]
