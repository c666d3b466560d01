"""Rendering: an Issue -> MJML (Jinja2) -> responsive HTML (mjml-python), and plain text.

Templates are looked up in the project's templates folder first, then in the defaults that
ship with the package, so an editor can override one partial alone. They run sandboxed, with
autoescape and StrictUndefined: a misspelt variable is an error, not an empty string.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from mjml import mjml2html

from newsletter.config import Config
from newsletter.errors import TemplateError
from newsletter.issue import Issue, issue_json
from newsletter.skeleton import default_templates_dir

HTML_TEMPLATE = "issue.mjml.j2"
TEXT_TEMPLATE = "issue.txt.j2"
WORDS_PER_MINUTE = 220


@dataclass(frozen=True)
class RenderedIssue:
    issue: Issue
    mjml: str
    html: str
    text: str
    preheader: str


@dataclass(frozen=True)
class Templates:
    html: SandboxedEnvironment
    text: SandboxedEnvironment
    search_path: tuple[Path, ...]


def load_templates(project_dir: Path) -> Templates:
    search = tuple(p for p in (project_dir, default_templates_dir()) if p.is_dir())
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(p)) for p in search])
    return Templates(
        html=_environment(loader, autoescape=True),
        text=_environment(loader, autoescape=False),
        search_path=search,
    )


def _environment(loader: jinja2.BaseLoader, *, autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["wrap"] = _wrap
    return env


def safe_url(url: object) -> str | None:
    """The URL if it is an absolute http(s) link, else None: no javascript:, data:, etc."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    parts = urlsplit(url)
    if (
        parts.scheme.lower() in ("http", "https")
        and parts.netloc
        and not any(c in url for c in "\"'<> \t\r\n")
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


def context(issue: Issue, config: Config, unsubscribe_url: str | None = None) -> dict[str, Any]:
    """What every template sees: issue.json's data, plus the brand and display helpers."""
    data = issue_json(issue)
    words = sum(len(i.text.split()) for i in issue.all_items())
    data["date_display"] = f"{issue.date:%A}, {issue.date.day} {issue.date:%B %Y}"
    data["reading_minutes"] = max(1, math.ceil(words / WORDS_PER_MINUTE))
    data["item_count"] = issue.item_count
    data["references"] = _number_sources(data)
    return {
        "issue": data,
        "newsletter": config.newsletter.model_dump(),
        "brand": config.brand.model_dump(),
        "preheader": preheader(issue),
        "unsubscribe_url": unsubscribe_url or default_unsubscribe_url(config),
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
    issue: Issue, config: Config, templates: Templates, unsubscribe_url: str | None = None
) -> RenderedIssue:
    values = context(issue, config, unsubscribe_url)
    mjml = _render(templates.html, HTML_TEMPLATE, values)
    try:
        html = mjml2html(mjml)
    except ValueError as e:
        raise TemplateError(f"{HTML_TEMPLATE}: the rendered MJML does not compile: {e}") from e
    text = _render(templates.text, TEXT_TEMPLATE, values)
    return RenderedIssue(
        issue=issue, mjml=mjml, html=html, text=text, preheader=values["preheader"]
    )


def _render(env: SandboxedEnvironment, name: str, values: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(values)
    except jinja2.TemplateSyntaxError as e:
        where = _where(e.filename or e.name or name, e.lineno)
        raise TemplateError(f"{where}: template syntax error: {e.message}") from e
    except jinja2.TemplateNotFound as e:
        searched = ", ".join(str(p) for p in env_search_path(env))
        raise TemplateError(f"template '{e.name}' not found (searched {searched})") from e
    except jinja2.UndefinedError as e:
        where = _template_frame(e.__traceback__) or name
        raise TemplateError(f"{where}: {e.message}") from e
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
    return f"{filename}:{line}" if line else filename


def _template_frame(tb: TracebackType | None) -> str | None:
    """The innermost template file and line in a traceback Jinja2 has rewritten."""
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.endswith(".j2"):
            found = _where(code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
