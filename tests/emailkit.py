"""Helpers for the email tests: projects built in-process, and a strict HTML inspector."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

from conftest import FOUNDING_SEED, REPO, without_feeds
from newsletter.config import Config, load_config
from newsletter.email.render import RenderedIssue
from newsletter.pipeline import run
from newsletter.preview import render_in_memory

TODAY = date(2025, 11, 21)
ARTIFACTS = REPO / "test-artifacts"


def new_project(root: Path) -> Path:
    """The default config and templates and the founding seed, as the `project` fixture."""
    root.mkdir(parents=True, exist_ok=True)
    without_feeds(Path(shutil.copy(REPO / "newsletter.toml", root / "newsletter.toml")))
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, root / "seeds" / FOUNDING_SEED.name)
    return root


def config_of(project: Path) -> Config:
    return load_config(project / "newsletter.toml")


def rendered(project: Path) -> RenderedIssue:
    return render_in_memory(config_of(project), TODAY)


def build_issue(project: Path) -> Path:
    """Run the real pipeline once; the folder it wrote to the outbox."""
    warnings: list[str] = []
    result = run(
        config_of(project),
        now=datetime(2025, 11, 21, 7, 0, tzinfo=UTC),
        warn=warnings.append,
        allow_empty=True,
    )
    assert result.path is not None, (result, warnings)
    return result.path


def set_in_config(project: Path, table: str, key: str, value: str) -> None:
    """Set ``key = "value"`` in ``[table]`` of the project's newsletter.toml."""
    path = project / "newsletter.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"[{table}]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    body = [line for line in lines[start + 1 : end] if not line.startswith(f"{key} =")]
    lines[start + 1 : end] = [*body, f'{key} = "{value}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    ancestors: tuple[str, ...]


@dataclass
class Inspector(HTMLParser):
    """Every element with its attributes and ancestors, every text node and comment."""

    elements: list[Element] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    # Text inside <style> and <script> elements: code, not something a reader sees.
    code: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs), tuple(self.stack)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs), tuple(self.stack)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("style", "script"):
            self.code.append(data)
        else:
            self.texts.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def inspect(html: str) -> Inspector:
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector
