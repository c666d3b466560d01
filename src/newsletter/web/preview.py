"""``newsletter preview``: today's issue, built in memory, served on 127.0.0.1 for editors.

Nothing is written: no outbox folder, no slot claimed, no state touched. The page shows the
HTML email in a 600 px (desktop) or 375 px (phone) frame, or the plain-text part, and polls
``/version``; the issue is rebuilt whenever a template, a seed or the config changes (their
sizes and modification times are compared on each poll), and the page reloads itself. A
broken template or config is shown in the page, with its file and line; the server goes on.
"""

from __future__ import annotations

import functools
import html
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from newsletter.config import Config, load_config
from newsletter.errors import NewsletterError
from newsletter.preview import render_in_memory
from newsletter.skeleton import default_templates_dir
from newsletter.sources.fetch import Fetcher
from newsletter.sources.ingest import default_fetcher

Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class Build:
    version: int
    html: str = ""
    text: str = ""
    error: str | None = None
    warnings: tuple[str, ...] = ()
    subject: str = ""
    preheader: str = ""


@dataclass
class PreviewState:
    """The latest build, rebuilt when any watched file changes. Safe across threads."""

    config_path: Path
    today: Callable[[], date] = date.today
    # How feeds are fetched for each rebuild; None shows the seeds only.
    fetcher_for: Callable[[Config], Fetcher] | None = default_fetcher
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fingerprint: Fingerprint | None = None
    _config: Config | None = None
    _build: Build = field(default_factory=lambda: Build(version=0))

    def current(self) -> Build:
        with self._lock:
            fingerprint = _fingerprint(self._watched())
            if fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                self._build = self._rebuild(self._build.version + 1)
            return self._build

    def _watched(self) -> list[Path]:
        paths = [self.config_path, default_templates_dir()]
        if self._config is not None:
            paths += [self._config.templates_dir, self._config.seeds_dir]
        return paths

    def _rebuild(self, version: int) -> Build:
        warnings: list[str] = []
        try:
            self._config = load_config(self.config_path)
            fetcher = self.fetcher_for(self._config) if self.fetcher_for else None
            rendered = render_in_memory(
                self._config, self.today(), warn=warnings.append, fetcher=fetcher
            )
        except NewsletterError as e:
            return Build(version, error=str(e), warnings=tuple(warnings))
        if rendered.omitted_count:
            warnings.append(
                f"{rendered.omitted_count} items were left out of the HTML to keep it under "
                "Gmail's clipping size"
            )
        return Build(
            version,
            rendered.html,
            rendered.text,
            warnings=tuple(warnings),
            subject=rendered.issue.subject,
            preheader=rendered.preheader,
        )


def _fingerprint(paths: Iterable[Path]) -> Fingerprint:
    """Every file under ``paths`` with its size and modification time."""
    found: list[tuple[str, int, int]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue
            found.append((str(file), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def make_server(state: PreviewState, port: int = 8000) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:``port`` (0 picks a free port); call serve_forever() on it."""

    class Handler(_Handler):
        preview = state

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    preview: PreviewState
    server_version = "newsletter-preview"

    def do_GET(self) -> None:
        if not _local_host(self.headers.get("Host")):
            # DNS rebinding: a page elsewhere whose name now points at 127.0.0.1 would read
            # the unpublished preview. Only the loopback names we listen on are answered.
            self._send(421, "text/plain", "misdirected request: use http://127.0.0.1:PORT/")
            return
        path = self.path.split("?", 1)[0]
        build = self.preview.current()
        if path == "/":
            self._send(200, "text/html", _page())
        elif path == "/issue.html":
            self._send(200, "text/html", build.html if not build.error else _error_page(build))
        elif path == "/issue.txt":
            self._send(200, "text/plain", build.text if not build.error else build.error)
        elif path == "/version":
            body = {
                "version": build.version,
                "error": build.error,
                "warnings": build.warnings,
                "subject": build.subject,
                "preheader": build.preheader,
            }
            self._send(200, "application/json", json.dumps(body))
        else:
            self._send(404, "text/plain", "not found")

    def _send(self, status: int, kind: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per poll would bury what matters


_LOCAL_HOST = re.compile(r"^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$", re.IGNORECASE)


def _local_host(host: str | None) -> bool:
    return host is not None and bool(_LOCAL_HOST.match(host.strip()))


@functools.cache
def _page() -> str:
    return (resources.files("newsletter.web") / "preview_page.html").read_text(encoding="utf-8")


def _error_page(build: Build) -> str:
    return (
        '<!doctype html><html><body style="font:16px/1.5 sans-serif;padding:24px;">'
        '<h1 style="color:#a40e26;font-size:20px;">The issue cannot be built</h1>'
        '<pre class="error" style="white-space:pre-wrap;overflow-wrap:anywhere;">'
        f"{html.escape(build.error or '')}</pre>"
        "<p>Fix the file named above and save it: this page reloads by itself.</p>"
        "</body></html>"
    )
