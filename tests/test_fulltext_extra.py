"""Full text is an extra: without trafilatura a feed's `full_text = true` costs one line per run,
the teasers are kept and the issue is still made; `check` names the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from conftest import cli_env
from feedserver import Route, serving
from test_feeds_ingest import PAGE, configure

# trafilatura made unimportable, as in an install without the `fulltext` extra.
WITHOUT_TRAFILATURA = (
    "import sys; sys.modules['trafilatura'] = None; "
    "from newsletter.cli import main; main(prog_name='newsletter')"
)
HINT = (
    "feed 'Teasers' has full_text = true but trafilatura is not installed; "
    "pip install 'newsletter-digest[fulltext]'"
)


def rss_today(title: str, teaser: str, link: str) -> bytes:
    when = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    return (
        "<rss version='2.0'><channel><title>x</title><item>"
        f"<title>{title}</title><link>{link}</link><description>{teaser}</description>"
        f"<pubDate>{when}</pubDate></item></channel></rss>"
    ).encode()


def newsletter_without_trafilatura(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_TRAFILATURA, *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_full_text_without_the_extra_keeps_teasers_and_says_so_once(project: Path) -> None:
    teaser = (
        "Ukraine's President Zelenskiy said in Kyiv that the US plan needs changes. "
        "The Kremlin said Russia's demands on the provinces stand, and Moscow rejected NATO. "
        "Washington's envoy said the framework of security guarantees is a draft."
    )
    with serving() as server:
        server.routes["/teasers.xml"] = Route(rss_today("Talks", teaser, server.url("/article/1")))
        server.routes["/article/1"] = Route(PAGE.encode(), content_type="text/html")
        configure(
            project,
            f'[[feeds]]\nname = "Teasers"\nurl = "{server.url("/teasers.xml")}"\nfull_text = true',
        )
        ran = newsletter_without_trafilatura("run", cwd=project)
        checked = newsletter_without_trafilatura("check", cwd=project)
        pages = server.requests_to("/article/1")

    assert ran.returncode == 0, ran.stderr
    (said,) = [line for line in ran.stderr.splitlines() if "trafilatura" in line]
    assert said.endswith(f" error: {HINT}")
    assert pages == []  # no page is fetched for nothing
    (folder,) = [p for p in (project / "outbox").iterdir() if not p.name.startswith(".")]
    articles = json.loads((folder / "issue.json").read_text())["articles"]
    assert "Talks" in [a["title"] for a in articles]

    assert checked.returncode == 1
    assert f"error: {HINT}" in checked.stderr.splitlines()
