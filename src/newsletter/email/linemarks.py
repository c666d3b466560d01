"""Line marks: which template file and line produced each line of rendered MJML.

mjml-python and the MJML checker only know positions in the rendered MJML, which an editor
never sees. A Jinja2 extension puts an invisible mark (private-use characters) before every
literal line of every template as it is compiled; after rendering, ``strip_marks`` removes
the marks and keeps a table of (offset in the clean text -> template file, line), so any
position in the rendered MJML maps back to the template line that wrote it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

_OPEN, _CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"{_OPEN}(\\d+):(\\d+){_CLOSE}")


class LineMarks(Extension):
    """Prefix each literal template line with a mark naming its file and line."""

    def __init__(self, environment: object) -> None:
        super().__init__(environment)  # type: ignore[arg-type]
        self.files: list[str] = []

    def _file_id(self, filename: str) -> int:
        if filename not in self.files:
            self.files.append(filename)
        return self.files.index(filename)

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        file_id = self._file_id(stream.filename or stream.name or "?")
        for token in stream:
            if token.type == "data":
                yield Token(token.lineno, "data", _marked(token.value, file_id, token.lineno))
            else:
                yield token


def _marked(value: str, file_id: int, line: int) -> str:
    lines = value.split("\n")
    out = [f"{_OPEN}{file_id}:{line}{_CLOSE}{lines[0]}"]
    out.extend(f"{_OPEN}{file_id}:{line + i}{_CLOSE}{text}" for i, text in enumerate(lines[1:], 1))
    return "\n".join(out)


@dataclass(frozen=True)
class Origin:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{display_path(self.file)}:{self.line}"


@dataclass(frozen=True)
class MarkedText:
    """Rendered text without marks, and where each part of it came from."""

    text: str
    offsets: tuple[int, ...]
    origins: tuple[Origin, ...]

    def origin_at(self, line: int, column: int = 0) -> Origin | None:
        """The template line that wrote ``line`` (1-based), ``column`` (0-based)."""
        starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        if not self.offsets or line < 1:
            return None
        start = starts[min(line, len(starts)) - 1]
        end = starts[line] - 1 if line < len(starts) else len(self.text)
        return self.origin_at_offset(min(start + max(column, 0), end))

    def origin_at_offset(self, offset: int) -> Origin | None:
        """The template line that wrote the character at ``offset`` of the clean text."""
        if not self.offsets:
            return None
        index = bisect.bisect_right(self.offsets, offset) - 1
        return self.origins[max(index, 0)]


def strip_marks(marked: str, extension: LineMarks) -> MarkedText:
    parts: list[str] = []
    offsets: list[int] = []
    origins: list[Origin] = []
    length = 0
    last = 0
    for match in _MARK.finditer(marked):
        if int(match[1]) >= len(extension.files):
            continue  # not our mark (say, from a feed's text): leave it as text
        chunk = marked[last : match.start()]
        parts.append(chunk)
        length += len(chunk)
        origin = Origin(extension.files[int(match[1])], int(match[2]))
        if offsets and offsets[-1] == length:
            origins[-1] = origin
        else:
            offsets.append(length)
            origins.append(origin)
        last = match.end()
    parts.append(marked[last:])
    return MarkedText("".join(parts), tuple(offsets), tuple(origins))


def remove_marks(text: str) -> str:
    return _MARK.sub("", text)


def display_path(filename: str) -> str:
    """A template path as an editor would type it: relative to the current folder if inside."""
    path = Path(filename)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return filename
