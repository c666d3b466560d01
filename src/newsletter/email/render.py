"""Rendering: an Issue -> MJML (Jinja2) -> responsive HTML (mjml-python), and plain text.

Templates are looked up in the project's templates folder first, then in the defaults that
ship with the package, so an editor can override one partial alone. They run sandboxed, with
autoescape and StrictUndefined: a misspelt variable is an error, not an empty string.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, replace
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from mjml import mjml2html

from newsletter.config import Config
from newsletter.email.emailcheck import unsafe_elements
from newsletter.email.linemarks import LineMarks, MarkedText, Origin, display_path, strip_marks
from newsletter.email.locate import Element, origins_of
from newsletter.email.mjmlcheck import MjmlProblem, check_mjml
from newsletter.errors import TemplateError
from newsletter.model import Issue, Item, Section, issue_json
from newsletter.skeleton import default_templates_dir

HTML_TEMPLATE = "issue.mjml.j2"
TEXT_TEMPLATE = "issue.txt.j2"
WORDS_PER_MINUTE = 220
# Gmail clips a message whose HTML is over ~102 KB; stay clear of it with a margin.
MAX_HTML_BYTES = 100_000
_MAX_TRIM_ROUNDS = 40
# mjml-python writes some characters inside attribute values (and the <mj-title>, which it
# copies into an aria-label) as Rust escapes: U+00AD becomes the text "\\u{ad}", and so do
# no-break spaces, combining accents, Indic vowel signs. It keeps character references as
# written, so every non-ASCII character there is handed to it as one.
_OPEN_TAG = re.compile(r"<[A-Za-z][\w:.-]*(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")
_MJ_TITLE = re.compile(r"(<mj-title\b[^>]*>)(.*?)(</mj-title>)", re.DOTALL)
_NON_ASCII = re.compile(r"[^\x00-\x7e]")


@dataclass(frozen=True)
class RenderedIssue:
    issue: Issue
    mjml: str
    html: str
    text: str
    preheader: str
    # Items left out of the HTML to keep it under MAX_HTML_BYTES, by section id.
    omitted: dict[str, int] | None = None
    # The MJML with the template line of each part (``newsletter check`` names them).
    marked: MarkedText | None = None

    @property
    def omitted_count(self) -> int:
        return sum((self.omitted or {}).values())


@dataclass(frozen=True)
class Reader:
    """Whom a rendering is for: the footer names ``email`` and links to ``preferences_url``.
    ``email=None`` is the web version: no personal link at all, ``subscribe_url`` instead."""

    email: str | None
    preferences_url: str | None = None
    subscribe_url: str | None = None


@dataclass(frozen=True)
class Templates:
    html: SandboxedEnvironment
    text: SandboxedEnvironment
    search_path: tuple[Path, ...]

    @property
    def marks(self) -> LineMarks:
        return self.html.extensions[LineMarks.identifier]  # type: ignore[return-value]


def load_templates(project_dir: Path) -> Templates:
    search = tuple(p for p in (project_dir, default_templates_dir()) if p.is_dir())
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(p)) for p in search])
    return Templates(
        html=_environment(loader, autoescape=True, marks=True),
        text=_environment(loader, autoescape=False),
        search_path=search,
    )


def _environment(
    loader: jinja2.BaseLoader, *, autoescape: bool, marks: bool = False
) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=[LineMarks] if marks else [],
    )
    env.filters["safe_url"] = safe_url
    env.filters["wrap"] = _wrap
    return env


def safe_url(url: object) -> str | None:
    """The URL if it is an absolute http(s) link, else None: no javascript:, data:, etc."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[": an unclosed IPv6 bracket
        return None
    if (
        parts.scheme.lower() in ("http", "https")
        and parts.netloc
        and not any(c in "\"'<>" or c.isspace() or not c.isprintable() for c in url)
    ):
        return url
    return None


def _wrap(text: str, width: int = 72, indent: str = "", first: str | None = None) -> str:
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def context(
    issue: Issue,
    config: Config,
    unsubscribe_url: str | None = None,
    omitted: dict[str, int] | None = None,
    reader: Reader | None = None,
) -> dict[str, Any]:
    """What every template sees: issue.json's data, plus the brand and display helpers.

    ``omitted`` counts, per section id, the items left out of this email to keep it under
    Gmail's clipping size; each section gets ``omitted`` and the issue ``omitted_items``."""
    data = issue_json(issue)
    words = sum(len(i.text.split()) for i in issue.all_items())
    data["date_display"] = f"{issue.date:%A}, {issue.date.day} {issue.date:%B %Y}"
    data["reading_minutes"] = max(1, math.ceil(words / WORDS_PER_MINUTE))
    data["item_count"] = issue.item_count
    data["references"] = _number_sources(data)
    for section in data["sections"]:
        _share_sources(section)
    omitted = omitted or {}
    for section in data["sections"]:
        section["omitted"] = omitted.get(section["id"], 0)
    data["omitted_items"] = sum(omitted.values())
    return {
        "issue": data,
        "newsletter": config.newsletter.model_dump(),
        "brand": config.brand.model_dump(),
        "preheader": preheader(issue),
        "unsubscribe_url": unsubscribe_url or default_unsubscribe_url(config),
        # The reader's own address (the issue's To: for the outbox copy; None on the web).
        "subscriber_email": (reader or Reader(config.newsletter.recipient)).email,
        "preferences_url": reader.preferences_url if reader else None,
        "subscribe_url": reader.subscribe_url if reader else None,
    }


def default_unsubscribe_url(config: Config) -> str:
    if config.brand.unsubscribe_url:
        return config.brand.unsubscribe_url
    return f"mailto:{parseaddr(config.newsletter.sender)[1]}?subject=unsubscribe"


def _number_sources(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Give each distinct source a number; items get ``refs`` such as "[1][3]"."""
    references: list[dict[str, Any]] = []
    numbers: dict[tuple[str, str | None], int] = {}
    items = list(data["lead"]) + [i for s in data["sections"] for i in s["items"]]
    for item in items:
        for source in item["sources"]:
            key = (source["title"], source["url"])
            if key not in numbers:
                numbers[key] = len(references) + 1
                references.append({**source, "ref": numbers[key]})
            source["ref"] = numbers[key]
        item["refs"] = "".join(f"[{s['ref']}]" for s in item["sources"])
    return references


def _share_sources(section: dict[str, Any]) -> None:
    """An article cited by every item of a section (two items or more) is named once, under
    the section (``shared_sources``); each item keeps the rest as ``own_sources``."""
    items = section["items"]
    refs = [{s["ref"] for s in item["sources"]} for item in items]
    common = set.intersection(*refs) if len(items) >= 2 else set()
    section["shared_sources"] = (
        [s for s in items[0]["sources"] if s["ref"] in common] if common else []
    )
    for item in items:
        item["own_sources"] = [s for s in item["sources"] if s["ref"] not in common]
        item["own_refs"] = "".join(f"[{s['ref']}]" for s in item["own_sources"])
    section["shared_refs"] = "".join(f"[{s['ref']}]" for s in section["shared_sources"])


def preheader(issue: Issue) -> str:
    """The inbox preview line: what is inside, by section."""
    filled = [s.title for s in issue.sections if s.items]
    if not filled:
        return f"{issue.newsletter}: no news in this issue's sections today."
    first = issue.lead[0].text if issue.lead else issue.all_items()[0].text
    return _shorten(first, 110) + " Inside: " + "; ".join(filled) + "."


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def render_issue(
    issue: Issue,
    config: Config,
    templates: Templates,
    unsubscribe_url: str | None = None,
    *,
    max_bytes: int = MAX_HTML_BYTES,
    reader: Reader | None = None,
) -> RenderedIssue:
    """Render the whole issue; if its HTML is over ``max_bytes`` (Gmail clips past ~102 KB),
    leave out the lowest-scoring items of the longest sections, say so in those sections,
    and render again. The plain-text part always carries the whole issue."""
    full = context(issue, config, unsubscribe_url, reader=reader)
    text = _render(templates.text, TEXT_TEMPLATE, full)
    shown, omitted = issue, dict[str, int]()
    marked, html = compile_marked(templates, full)
    size = len(html.encode("utf-8"))
    ratio = _ratio(shown, size)  # a first guess; then measured from each round
    for _ in range(_MAX_TRIM_ROUNDS):
        if size <= max_bytes:
            break
        trimmed, dropped, weight = _trim(shown, excess=size - max_bytes, bytes_per_char=ratio)
        if not dropped:
            break  # nothing left to trim: `newsletter check` reports the size
        shown = trimmed
        for section_id, count in dropped.items():
            omitted[section_id] = omitted.get(section_id, 0) + count
        marked, html = compile_marked(
            templates, context(shown, config, unsubscribe_url, omitted, reader)
        )
        previous, size = size, len(html.encode("utf-8"))
        ratio = max((previous - size) / weight, 0.1)
    unsafe = unsafe_elements(html)
    if unsafe:
        raise TemplateProblems([_unsafe_line(marked, config, *found) for found in unsafe])
    return RenderedIssue(
        issue=issue,
        mjml=marked.text,
        html=html,
        text=text,
        preheader=full["preheader"],
        omitted=omitted,
        marked=marked,
    )


def _unsafe_line(marked: MarkedText, config: Config, what: str, element: Element) -> TemplateError:
    """One unsafe element, named by the template line that wrote it (and the config key
    whose value it carries, when it is one)."""
    places = ", ".join(str(o) for o in origins_of(marked, element)) or HTML_TEMPLATE
    key = config_key(config, element.value)
    source = f" (the value of {key})" if key else ""
    return TemplateError(
        f"{places}: the email would carry {what}{source}; links must go through | safe_url "
        'and carry rel="noopener", and feed text must stay escaped'
    )


def config_key(config: Config, value: str | None) -> str | None:
    """The ``[brand]`` key whose value ``value`` is, if one is: a finding about it is fixed
    in newsletter.toml, not in a template."""
    if not value:
        return None
    wanted = "".join(value.split())
    for name, setting in config.brand.model_dump().items():
        if isinstance(setting, str) and setting and "".join(setting.split()) == wanted:
            return f"[brand] {name}"
    return None


def compile_html(templates: Templates, values: dict[str, Any]) -> tuple[str, str]:
    """Template -> MJML -> HTML. Any problem names the template file and line that caused it."""
    marked, html = compile_marked(templates, values)
    return marked.text, html


def compile_marked(templates: Templates, values: dict[str, Any]) -> tuple[MarkedText, str]:
    """``compile_html``, the MJML kept with its line marks."""
    marked = strip_marks(_render(templates.html, HTML_TEMPLATE, values), templates.marks)
    problems = [TemplateError(_problem_line(marked, p)) for p in check_mjml(marked.text)]
    if problems:
        raise TemplateProblems(problems)
    try:
        # fonts={}: no Google Fonts <link>/@import, a third-party request on every open.
        return marked, mjml2html(_references_in_attributes(marked.text), fonts={})
    except ValueError as e:
        # MRML says "... at position START:END", a byte span of the MJML it was given.
        position = re.search(r"at position (\d+):\d+", str(e))
        origin = None
        if position:
            start = len(marked.text.encode("utf-8")[: int(position[1])].decode("utf-8", "ignore"))
            origin = marked.origin_at_offset(start)
        reason = re.sub(r" in root template| at position \d+:\d+", "", str(e))
        raise TemplateError(f"{_origin(origin)}: the MJML does not compile: {reason}") from e


_FONT_SIZE = re.compile(r"font-size\s*(?:=\s*[\"']?|:\s*)(\d+(?:\.\d+)?)px")


def font_size_origins(templates: Templates, values: dict[str, Any]) -> dict[int, list[str]]:
    """Where the templates set each font size (px, rounded): ``file:line`` of every
    ``font-size`` attribute or style in the rendered MJML, so a size the email checks find
    too small is named where an editor can change it."""
    return font_size_places(
        strip_marks(_render(templates.html, HTML_TEMPLATE, values), templates.marks)
    )


def font_size_places(marked: MarkedText) -> dict[int, list[str]]:
    """``font_size_origins`` of MJML already rendered with its marks."""
    found: dict[int, list[str]] = {}
    for match in _FONT_SIZE.finditer(marked.text):
        where = _origin(marked.origin_at_offset(match.start()))
        places = found.setdefault(round(float(match[1])), [])
        if where not in places:
            places.append(where)
    return found


def _references_in_attributes(mjml: str) -> str:
    """Non-ASCII characters inside tags and the <mj-title> as &#x...; references."""

    def encode(text: str) -> str:
        return _NON_ASCII.sub(lambda m: f"&#x{ord(m[0]):x};", text)

    if not _NON_ASCII.search(mjml):
        return mjml
    mjml = _OPEN_TAG.sub(lambda m: encode(m[0]), mjml)
    return _MJ_TITLE.sub(lambda m: m[1] + encode(m[2]) + m[3], mjml)


class TemplateProblems(TemplateError):
    """Several template problems at once, one line each; str() is the first."""

    def __init__(self, problems: list[TemplateError]) -> None:
        super().__init__(str(problems[0]))
        self.problems = problems


def _problem_line(marked: MarkedText, problem: MjmlProblem) -> str:
    line = f"{_origin(marked.origin_at(problem.line, problem.column))}: {problem.message}"
    if problem.unclosed:
        tag, at_line, at_column = problem.unclosed
        opened = _origin(marked.origin_at(at_line, at_column))
        line += f" (<{tag}> opened at {opened} is not closed before it)"
    return line


def _origin(origin: Origin | None) -> str:
    return str(origin) if origin else HTML_TEMPLATE


def _weight(item: Item) -> int:
    """An item's share of the HTML, in characters: its text plus its source links."""
    return len(item.text) + 200 * len(item.sources)


def _ratio(issue: Issue, html_bytes: int) -> float:
    return html_bytes / max(sum(_weight(i) for i in issue.all_items()), 1)


def _trim(issue: Issue, *, excess: int, bytes_per_char: float) -> tuple[Issue, dict[str, int], int]:
    """Drop items, lowest score first, from whichever section is longest, until about
    ``excess`` bytes are saved; also return the weight dropped. The lead is never trimmed."""
    sections = {s.id: list(s.items) for s in issue.sections}
    dropped: dict[str, int] = {}
    saved = 0.0
    weight = 0
    lengths = {sid: sum(len(i.text) for i in items) for sid, items in sections.items()}
    while saved < excess:
        filled = [sid for sid, items in sections.items() if items]
        if not filled:
            break
        longest = max(filled, key=lengths.__getitem__)
        items = sections[longest]
        weakest = min(range(len(items)), key=lambda k: items[k].score)
        item = items.pop(weakest)
        lengths[longest] -= len(item.text)
        dropped[longest] = dropped.get(longest, 0) + 1
        weight += _weight(item)
        saved += _weight(item) * bytes_per_char
    trimmed = tuple(
        Section(s.id, s.title, s.description, tuple(sections[s.id])) for s in issue.sections
    )
    return replace(issue, sections=trimmed), dropped, weight


def _render(env: SandboxedEnvironment, name: str, values: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(values)
    except jinja2.TemplateSyntaxError as e:
        where = _where(e.filename or e.name or name, e.lineno)
        raise TemplateError(f"{where}: template syntax error: {e.message}") from e
    except jinja2.TemplateNotFound as e:
        searched = ", ".join(str(p) for p in env_search_path(env))
        where = _template_frame(e.__traceback__) or name
        raise TemplateError(f"{where}: template '{e.name}' not found (searched {searched})") from e
    except jinja2.UndefinedError as e:
        where = _template_frame(e.__traceback__) or name
        raise TemplateError(f"{where}: undefined variable: {e.message}") from e
    except jinja2.TemplateError as e:
        where = _template_frame(e.__traceback__) or name
        raise TemplateError(f"{where}: {e}") from e


def env_search_path(env: SandboxedEnvironment) -> list[str]:
    loader = env.loader
    paths: list[str] = []
    if isinstance(loader, jinja2.ChoiceLoader):
        for sub in loader.loaders:
            if isinstance(sub, jinja2.FileSystemLoader):
                paths.extend(str(p) for p in sub.searchpath)
    return paths


def _where(filename: str, line: int | None) -> str:
    shown = display_path(filename)
    return f"{shown}:{line}" if line else shown


def _template_frame(tb: TracebackType | None) -> str | None:
    """The innermost template file and line in a traceback Jinja2 has rewritten."""
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.endswith(".j2"):
            found = _where(code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
