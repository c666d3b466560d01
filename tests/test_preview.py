"""`newsletter preview`: a real server on 127.0.0.1, the issue built in memory, rebuilt when
a template, a seed or the config changes, errors shown in the page, nothing written."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import start_cli
from emailkit import TODAY, new_project, set_in_config
from newsletter.web.preview import PreviewState, make_server


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    project = new_project(tmp_path / "project")
    server = make_server(PreviewState(project / "newsletter.toml", today=lambda: TODAY), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield project, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode("utf-8")


def version(base: str) -> dict[str, object]:
    return json.loads(get(f"{base}/version")[1])  # type: ignore[no-any-return]


def touch_edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    stamp = time.time_ns() + 1_000_000_000  # a distinct mtime even on coarse clocks
    os.utime(path, ns=(stamp, stamp))


def test_preview_serves_the_issue_and_rebuilds_on_every_kind_of_change(
    served: tuple[Path, str],
) -> None:
    project, base = served
    kind, page = get(f"{base}/")
    assert kind.startswith("text/html")
    assert 'data-width="600"' in page and 'data-width="375"' in page and "/issue.txt" in page
    kind, html = get(f"{base}/issue.html")
    assert "The US plan" in html and "Peace Plan Briefing" in html
    kind, text = get(f"{base}/issue.txt")
    assert kind.startswith("text/plain") and "THE US PLAN" in text
    first = version(base)
    assert first["error"] is None
    assert str(first["subject"]).startswith("Peace Plan Briefing: US pushes Ukraine")
    assert "Inside: The US plan" in str(first["preheader"])
    assert version(base)["version"] == first["version"]  # nothing changed, no rebuild

    touch_edit(project / "templates/partials/header.mjml.j2", "min read", "minutes to read")
    assert "minutes to read" in get(f"{base}/issue.html")[1]
    after_template = version(base)["version"]
    assert after_template != first["version"]

    seed = project / "seeds" / "wire.md"
    seed.write_text(
        '+++\ntitle = "Kremlin terms"\noutlet = "Preview Wire"\n+++\n'
        "The Kremlin said Russia demands that Kyiv withdraw from four provinces first.\n",
        encoding="utf-8",
    )
    assert "Preview Wire" in get(f"{base}/issue.html")[1]

    set_in_config(project, "brand", "tagline", "Edited tagline for the preview test.")
    assert "Edited tagline for the preview test." in get(f"{base}/issue.html")[1]
    assert not (project / "outbox").exists() or not any((project / "outbox").iterdir())
    assert not (project / ".newsletter").exists()  # no state: no slot was claimed


def test_a_template_error_shows_in_the_page_and_the_server_lives_on(
    served: tuple[Path, str],
) -> None:
    project, base = served
    partial = project / "templates/partials/section.mjml.j2"
    touch_edit(partial, "{{ section.title }}", "{{ section.title }")
    state = version(base)
    assert re.search(r"partials/section\.mjml\.j2:\d+: template syntax error", str(state["error"]))
    html = get(f"{base}/issue.html")[1]
    assert "The issue cannot be built" in html
    assert re.search(r"partials/section\.mjml\.j2:\d+: template syntax error", html)

    touch_edit(partial, "{{ section.title }", "{{ section.title }}")
    assert version(base)["error"] is None
    assert "The US plan" in get(f"{base}/issue.html")[1]

    set_in_config(project, "brand", "accent_color", "not-a-colour")
    assert "brand.accent_color" in str(version(base)["error"])


def test_the_preview_command_listens_and_stops_cleanly(tmp_path: Path) -> None:
    project = new_project(tmp_path / "project")
    process = start_cli(project, "preview", "--port", "0")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        assert "The US plan" in get(f"{match[0]}issue.html")[1]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
    assert process.returncode == 0


def test_preview_shows_what_the_feeds_hold_now_and_records_nothing(tmp_path: Path) -> None:
    import http.server

    rss = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Wire</title>'
        b"<item><title>Kremlin restates terms</title><link>https://wire.example/k</link>"
        b"<guid>k-1</guid><description>Kremlin spokesman Dmitry Peskov said Moscow demands "
        b"that Kyiv withdraw from four provinces and renounce NATO membership before any "
        b"peace deal on Ukraine.</description></item></channel></rss>"
    )

    class Feed(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(rss)))
            self.end_headers()
            self.wfile.write(rss)

        def log_message(self, *args: object) -> None:
            pass

    feed_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=feed_server.serve_forever, daemon=True).start()
    project = new_project(tmp_path / "project")
    config = project / "newsletter.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + f'\n[[feeds]]\nname = "Loopback Wire"\nurl = "http://127.0.0.1:{feed_server.server_port}/rss"\n',
        encoding="utf-8",
    )
    try:
        with_feeds = PreviewState(config, today=lambda: TODAY).current()
        seeds_only = PreviewState(config, today=lambda: TODAY, fetcher_for=None).current()
    finally:
        feed_server.shutdown()
        feed_server.server_close()
    assert with_feeds.error is None, with_feeds.error
    assert "Loopback Wire" in with_feeds.html and "https://wire.example/k" in with_feeds.html
    assert "Loopback Wire" not in seeds_only.html
    assert not (project / ".newsletter").exists()
    assert not (project / "outbox").exists() or not any((project / "outbox").iterdir())
