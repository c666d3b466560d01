"""`newsletter bounces` on a maildir of real report formats (tests/data/bounces: a DSN hard
bounce and a delayed DSN written from RFC 3464's appendix examples, an ARF complaint from RFC
5965's), and `newsletter archive DIR` as static files."""

from __future__ import annotations

import mailbox
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import REPO, run_cli
from emailkit import build_issue
from newsletter.config import load_config
from newsletter.delivery import roster
from newsletter.store import state
from test_subscriber_list import NOW, invoke

SAMPLES = REPO / "tests" / "data" / "bounces"


def statuses(project: Path) -> dict[str, str]:
    config = load_config(project / "newsletter.toml")
    with state.connect(config.state_dir, config.state.url) as engine:
        ref = roster.list_id(engine, config.newsletter.name, NOW)
        return {m.email: m.status for m in roster.members(engine, ref)}


def test_hard_bounces_and_complaints_are_never_mailed_again_soft_ones_reported(
    project: Path, tmp_path: Path
) -> None:
    (project / "people.csv").write_text(
        "email,name,sections\nhard@example.net,,\nsoft@example.net,,\n"
        "complainer@example.net,,\nfine@example.net,,\n",
        encoding="utf-8",
    )
    invoke(project, "subscribers", "import", str(project / "people.csv"))
    box = mailbox.Maildir(tmp_path / "bounces", create=True)
    for sample in sorted(SAMPLES.glob("*.eml")):
        box.add(sample.read_bytes())
    box.add(b"From: someone@example.com\r\nSubject: hello\r\n\r\nnot a report\r\n")
    # What a List-Unsubscribe mailto: sends (the sender's address is the list's second entry).
    box.add(b"From: Fine <fine@example.net>\r\nSubject: unsubscribe\r\n\r\n")

    first = run_cli("bounces", "--maildir", str(tmp_path / "bounces"), cwd=project)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert "hard bounce: hard@example.net: marked bounced (DSN 5.1.1" in first.stdout
    assert "complaint: complainer@example.net: marked complained" in first.stdout
    assert "soft bounce: soft@example.net: still mailed (DSN 4.2.2" in first.stdout
    assert "unsubscribed: fine@example.net (mailto: unsubscribe request)" in lines
    assert lines[-1] == (
        "5 message(s): 1 bounced, 1 complained, 1 unsubscribed by mail, 1 soft bounce(s), "
        "0 already recorded"
    )
    assert statuses(project) == {
        "hard@example.net": "bounced",
        "soft@example.net": "active",
        "complainer@example.net": "complained",
        "fine@example.net": "unsubscribed",
    }
    # Read messages are not read again; an import never brings the bounced back.
    again = invoke(project, "bounces", "--maildir", str(tmp_path / "bounces"))
    assert again.output.splitlines()[-1].startswith("0 message(s)")
    invoke(project, "subscribers", "import", str(project / "people.csv"))
    assert statuses(project)["hard@example.net"] == "bounced"
    assert statuses(project)["complainer@example.net"] == "complained"
    listed = invoke(project, "subscribers", "export").output
    assert "hard@example.net" not in listed and "complainer@example.net" not in listed


def test_bounces_needs_a_source_and_says_so(project: Path, tmp_path: Path) -> None:
    none = invoke(project, "bounces", code=2)
    assert "--maildir" in none.output
    (tmp_path / "plain").mkdir()
    wrong = invoke(project, "bounces", "--maildir", str(tmp_path / "plain"), code=1)
    assert "not a maildir" in wrong.output


def test_static_archive_has_index_feed_and_web_versions_without_personal_links(
    project: Path, tmp_path: Path
) -> None:
    build_issue(project)
    target = tmp_path / "site"
    missing = invoke(project, "archive", str(target), code=2)
    assert "--base-url" in missing.output
    made = run_cli("archive", str(target), "--base-url", "https://news.example.org", cwd=project)
    assert made.returncode == 0, made.stderr
    index = (target / "index.html").read_text(encoding="utf-8")
    assert '<link rel="alternate" type="application/atom+xml"' in index
    assert 'href="issues/1/"' in index
    feed = ET.parse(target / "feed.atom").getroot()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    links = [e.get("href") for e in feed.findall("a:entry/a:link", ns)]
    assert links == ["https://news.example.org/issues/1/"]
    web = (target / "issues" / "1" / "index.html").read_text(encoding="utf-8")
    assert "The US plan" in web
    assert "subscribers@example.org" not in web and "token" not in web
    assert "web version" in web
    shutil.rmtree(target)
