"""Check rendered MJML before mjml-python compiles it.

mjml-python (MRML) reports parse errors without a usable location and silently copies an
unknown ``<mj-foo>`` or an ``mj-text`` placed outside a column into the HTML. This parses the
MJML as XML with line numbers (expat), knows every MJML 4 tag and where it may stand, and
refuses the components our readers' clients cannot show. Each problem has a line and column
in the MJML; ``render`` maps them back to the template that wrote them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.entities import name2codepoint
from xml.parsers import expat

HEAD_TAGS = frozenset(
    {"mj-attributes", "mj-breakpoint", "mj-font", "mj-html-attributes", "mj-preview"}
    | {"mj-style", "mj-title", "mj-raw"}
)
BODY_TAGS = frozenset(
    {"mj-accordion", "mj-accordion-element", "mj-accordion-title", "mj-accordion-text"}
    | {"mj-button", "mj-carousel", "mj-carousel-image", "mj-column", "mj-divider", "mj-group"}
    | {"mj-hero", "mj-image", "mj-navbar", "mj-navbar-link", "mj-raw", "mj-section"}
    | {"mj-social", "mj-social-element", "mj-spacer", "mj-table", "mj-text", "mj-wrapper"}
)
KNOWN_TAGS = HEAD_TAGS | BODY_TAGS | {"mjml", "mj-head", "mj-body", "mj-include"}
# Components whose content is HTML (or CSS/text), not MJML.
ENDING_TAGS = frozenset(
    {"mj-text", "mj-button", "mj-table", "mj-raw", "mj-style", "mj-title", "mj-preview"}
    | {"mj-navbar-link", "mj-social-element", "mj-accordion-title", "mj-accordion-text"}
)
_CONTENT = frozenset(
    {"mj-button", "mj-divider", "mj-image", "mj-social", "mj-spacer", "mj-table", "mj-text"}
    | {"mj-accordion", "mj-carousel", "mj-navbar"}
)
PARENTS: dict[str, frozenset[str]] = {
    "mj-head": frozenset({"mjml"}),
    "mj-body": frozenset({"mjml"}),
    "mj-wrapper": frozenset({"mj-body"}),
    "mj-section": frozenset({"mj-body", "mj-wrapper"}),
    "mj-hero": frozenset({"mj-body", "mj-wrapper"}),
    "mj-group": frozenset({"mj-section"}),
    "mj-column": frozenset({"mj-section", "mj-group"}),
    **{tag: frozenset({"mj-column", "mj-hero"}) for tag in _CONTENT},
    **{tag: frozenset({"mj-head"}) for tag in HEAD_TAGS - {"mj-raw"}},
}
AVOID = {
    "mj-accordion": "it needs a checkbox trick Gmail and Outlook lack",
    "mj-navbar": "its hamburger menu needs a checkbox trick Gmail and Outlook lack",
    "mj-carousel": "it needs a checkbox trick Gmail and Outlook lack",
    "mj-html-attributes": "mjml-python cannot compile it",
}
_XML_ENTITIES = frozenset({"lt", "gt", "amp", "quot", "apos"})
_ENTITY = re.compile(r"&(#?[A-Za-z0-9]+);|&")
_VOID = re.compile(
    r"<(area|base|br|col|embed|hr|img|input|link|meta|source|track|wbr)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*?)\s*/?>",
    re.IGNORECASE,
)


_ATTRIBUTE = r"""\s+[^\s=/>"']+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?"""
_TAG = re.compile(rf"(<[A-Za-z][\w:.-]*)((?:{_ATTRIBUTE})*)(\s*/?>)")
_ONE_ATTRIBUTE = re.compile(r"""(\s+[^\s=/>"']+)(\s*=\s*(?:"[^"]*"|'[^']*'))?""")


@dataclass(frozen=True)
class MjmlProblem:
    line: int  # 1-based, in the rendered MJML
    column: int  # 0-based
    message: str
    # For a tag left open: the tag and where it was opened.
    unclosed: tuple[str, int, int] | None = None


def as_xml(mjml: str) -> str:
    """MJML's HTML habits made XML, keeping every line where it was: HTML entities become
    character references, a bare ``&`` becomes ``&amp;``, void tags such as <br> close."""

    def entity(match: re.Match[str]) -> str:
        name = match[1]
        if name is None:
            return "&amp;"
        if name.startswith("#") or name in _XML_ENTITIES:
            return match[0]
        if name in name2codepoint:
            return f"&#{name2codepoint[name]};"
        return match[0]  # unknown: expat reports it, with its place

    return _TAG.sub(_bare_attributes, _VOID.sub(r"<\1\2/>", _ENTITY.sub(entity, mjml)))


def _bare_attributes(tag: re.Match[str]) -> str:
    """HTML's boolean attributes (<td nowrap>), which mjml-python accepts, as XML's nowrap=""."""
    attributes = _ONE_ATTRIBUTE.sub(lambda a: a[0] if a[2] else a[1] + '=""', tag[2])
    return tag[1] + attributes + tag[3]


def check_mjml(mjml: str) -> list[MjmlProblem]:
    """Every problem found in rendered MJML; empty when mjml-python can compile it faithfully."""
    checker = _Checker()
    parser = expat.ParserCreate()
    parser.StartElementHandler = lambda name, attrs: checker.start(parser, name, attrs)
    parser.EndElementHandler = lambda name: checker.end()
    try:
        parser.Parse(as_xml(mjml), True)
    except expat.ExpatError as e:
        reason = expat.errors.messages[e.code]
        if e.code == expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]:
            reason += " (quote every attribute value and write a lone < as &lt;)"
        unclosed = checker.open[-1] if checker.open and "mismatched" in reason else None
        checker.problems.append(
            MjmlProblem(e.lineno, e.offset, f"the MJML is not well-formed: {reason}", unclosed)
        )
    if checker.root not in (None, "mjml"):
        checker.problems.insert(0, MjmlProblem(1, 0, "the document must start with <mjml>"))
    return checker.problems


class _Checker:
    def __init__(self) -> None:
        self.stack: list[str] = []
        self.open: list[tuple[str, int, int]] = []
        self.problems: list[MjmlProblem] = []
        self.root: str | None = None

    def start(self, parser: expat.XMLParserType, name: str, attrs: dict[str, str]) -> None:
        where = (parser.CurrentLineNumber, parser.CurrentColumnNumber)
        if self.root is None:
            self.root = name
        problem = self._problem(name, attrs)
        if problem:
            self.problems.append(MjmlProblem(*where, problem))
        self.stack.append(name)
        self.open.append((name, *where))

    def end(self) -> None:
        self.stack.pop()
        self.open.pop()

    def _problem(self, name: str, attrs: dict[str, str]) -> str | None:
        parent = self.stack[-1] if self.stack else None
        if "mj-attributes" in self.stack:
            return None  # mj-all, mj-class and any component name set defaults there
        inside_html = next((t for t in reversed(self.stack) if t in ENDING_TAGS), None)
        if inside_html is not None:
            if name.startswith("mj"):
                return f"<{name}> cannot stand inside <{inside_html}>, whose content is HTML"
            return None
        if not name.startswith("mj"):
            return f"<{name}> is HTML: put it inside an <mj-text> or <mj-raw>"
        if name not in KNOWN_TAGS:
            return f"unknown MJML tag <{name}>; mjml-python would copy it into the email as is"
        if name in AVOID:
            return f"avoid <{name}>: {AVOID[name]}"
        if name == "mj-style" and attrs.get("inline") == "inline":
            return '<mj-style inline="inline"> is not inlined by mjml-python; drop inline'
        allowed = PARENTS.get(name)
        if allowed is not None and parent not in allowed:
            where = f"<{parent}>" if parent else "the top level"
            expected = " or ".join(f"<{p}>" for p in sorted(allowed))
            return f"<{name}> cannot stand in {where}; put it in {expected}"
        return None
