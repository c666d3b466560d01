"""Seeds: local .txt/.md documents -> Articles.

A seed may open with TOML (``+++``) or YAML (``---``) front matter giving ``title``, ``outlet``,
``url`` and ``published``. Without a title, a trailing ``References`` block gives the headline.
A seed that cannot be used is reported with one warning line and skipped.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import SeedError, Warn
from newsletter.model import Article
from newsletter.sources.localfiles import LocalFileError, read_regular_file
from newsletter.untrusted import display_safe, xml_safe

MAX_SEED_BYTES = 1_000_000
SEED_SUFFIXES = (".txt", ".md")
_FRONT_KEYS = {"title", "outlet", "url", "published"}


@dataclass(frozen=True)
class _Parsed:
    meta: dict[str, Any]
    body: str


def read_seeds(folder: Path, warn: Warn) -> list[Article]:
    """Every usable seed in ``folder``, in file-name order; bad ones are warned about."""
    if not folder.is_dir():
        warn(f"{folder}: seeds folder not found; no seeds read")
        return []
    articles = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SEED_SUFFIXES or path.is_dir():
            continue
        try:
            articles.append(read_seed(path, folder))
        except SeedError as e:
            warn(str(e))
    return articles


def read_seed(path: Path, folder: Path | None = None) -> Article:
    """One seed: a regular file inside ``folder`` (default: its own), read only if its size,
    checked first, is within the limit for a seed."""
    try:
        raw = read_regular_file(path, path.parent if folder is None else folder, MAX_SEED_BYTES)
    except LocalFileError as e:
        raise SeedError(e.reason.replace(": refused: ", ": skipped: ", 1)) from None
    if b"\x00" in raw:
        raise SeedError(f"{path}: skipped: binary file, expected UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SeedError(
            f"{path}: skipped: not UTF-8 (bad byte at offset {e.start}); save it as UTF-8"
        ) from None
    parsed = _front_matter(xml_safe(text), path)
    body, headline = _split_references(parsed.body)
    if not body.strip():
        raise SeedError(f"{path}: skipped: empty seed, no text to summarize")
    meta = parsed.meta
    title = str(meta.get("title") or headline or path.stem.replace("-", " ").replace("_", " "))
    return Article(
        id="seed:" + hashlib.sha256(raw).hexdigest()[:16],
        title=display_safe(title),
        text=body.strip(),
        url=_optional_str(meta, "url", path),
        outlet=_optional_str(meta, "outlet", path),
        published=_published(meta.get("published"), path),
        origin="seed",
    )


def _front_matter(text: str, path: Path) -> _Parsed:
    for fence, load in (("+++", tomllib.loads), ("---", yaml.safe_load)):
        if not text.startswith(fence + "\n"):
            continue
        end = text.find("\n" + fence, len(fence))
        if end < 0:
            raise SeedError(f"{path}: skipped: front matter opened with {fence} is never closed")
        try:
            meta = load(text[len(fence) + 1 : end]) or {}
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as e:
            raise SeedError(f"{path}: skipped: {_front_matter_problem(e)}") from None
        if not isinstance(meta, dict):
            raise SeedError(f"{path}: skipped: front matter must be a table of keys")
        unknown = set(meta) - _FRONT_KEYS
        if unknown:
            raise SeedError(
                f"{path}: skipped: unknown front matter key '{sorted(unknown)[0]}'; "
                f"allowed: {', '.join(sorted(_FRONT_KEYS))}"
            )
        return _Parsed(meta=meta, body=text[end + len(fence) + 1 :])
    return _Parsed(meta={}, body=text)


_TOML_AT = re.compile(r"^(?P<problem>.*?) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def _front_matter_problem(error: Exception) -> str:
    """Where in the file the front matter breaks (line and column, counted from the file's
    first line, the opening fence), in a few words, and the fix."""
    fix = "correct it, or remove the front matter"
    mark = getattr(error, "problem_mark", None)
    if isinstance(error, yaml.MarkedYAMLError) and mark is not None:
        problem = error.problem or "invalid YAML"
        return (
            f"invalid YAML front matter at line {mark.line + 2}, column {mark.column + 1} "
            f"({problem}); {fix}"
        )
    found = _TOML_AT.match(" ".join(str(error).split()))
    if found:
        line = int(found["line"]) + 1
        return (
            f"invalid TOML front matter at line {line}, column {found['column']} "
            f"({found['problem'].lower()}); {fix}"
        )
    problem = " ".join(str(error).split()).removesuffix(" (at end of document)")
    if isinstance(error, tomllib.TOMLDecodeError) and len(problem) < 60:
        return f"invalid TOML front matter at its end ({problem.lower()}); {fix}"
    return f"invalid front matter; {fix}"


def _split_references(body: str) -> tuple[str, str | None]:
    """Cut a trailing ``References`` block off; its first line is the headline."""
    lines = body.rstrip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip().rstrip(":").lower() in ("references", "reference", "sources", "source"):
            refs = [line.strip() for line in lines[i + 1 :] if line.strip()]
            return "\n".join(lines[:i]), (refs[0] if refs else None)
    return body, None


def _optional_str(meta: dict[str, Any], key: str, path: Path) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SeedError(f"{path}: skipped: front matter '{key}' must be a string")
    if key == "url" and not value.startswith(("http://", "https://")):
        raise SeedError(f"{path}: skipped: front matter 'url' must start with http:// or https://")
    return value.strip() or None


def _published(value: object, path: Path) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise SeedError(
                f"{path}: skipped: front matter 'published' must be an ISO date "
                f"such as 2025-11-20 or 2025-11-20T09:30:00+00:00, got {value!r}"
            ) from None
    else:
        raise SeedError(f"{path}: skipped: front matter 'published' must be a date")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
