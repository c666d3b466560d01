"""End to end: the founding seed becomes a three-section issue in the outbox."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

from conftest import run_cli


def only_issue(project: Path) -> Path:
    folders = [p for p in (project / "outbox").iterdir() if not p.name.startswith(".")]
    assert len(folders) == 1, folders
    return folders[0]


def section_texts(data: dict[str, object], section_id: str) -> str:
    sections = {s["id"]: s for s in data["sections"]}  # type: ignore[attr-defined]
    return " ".join(item["text"] for item in sections[section_id]["items"])


def test_run_writes_a_complete_issue(project: Path) -> None:
    result = run_cli("run", cwd=project)
    assert result.returncode == 0, result.stderr
    folder = only_issue(project)
    assert folder.name.endswith("-peace-plan-briefing")
    assert sorted(p.name for p in folder.iterdir()) == [
        "issue.eml",
        "issue.html",
        "issue.json",
        "issue.txt",
    ]

    data = json.loads((folder / "issue.json").read_text())
    assert [s["id"] for s in data["sections"]] == ["us-plan", "ukraine-response", "russia-demands"]
    assert [s["title"] for s in data["sections"]] == [
        "The US plan",
        "Ukraine's response",
        "Russia's demands",
    ]
    assert data["number"] == 1
    assert data["newsletter"] == "Peace Plan Briefing"
    assert data["articles"][0]["origin"] == "seed"
    assert data["articles"][0]["title"].startswith("US pushes Ukraine to accept peace plan")

    assert "Erdogan" in section_texts(data, "ukraine-response")
    assert "renounce NATO" in section_texts(data, "russia-demands")
    assert "four provinces" in section_texts(data, "russia-demands")
    assert "surrendering certain weapons" in section_texts(data, "us-plan")
    for section in data["sections"]:
        for item in section["items"]:
            assert item["sources"], item


def test_a_sentence_lands_in_at_most_one_section(project: Path) -> None:
    run_cli("run", cwd=project, check=True)
    data = json.loads((only_issue(project) / "issue.json").read_text())
    texts = [i["text"] for s in data["sections"] for i in s["items"]]
    texts += [i["text"] for i in data["lead"]]
    assert len(texts) == len(set(texts))


def test_html_has_titles_and_source_links(project: Path) -> None:
    seed = project / "seeds" / "wire.md"
    seed.write_text(
        '+++\ntitle = "Kremlin repeats its terms"\noutlet = "Example Wire"\n'
        'url = "https://wire.example/kremlin-terms"\npublished = 2025-11-21\n+++\n'
        "The Kremlin said Russia demands that Kyiv withdraw from four provinces before talks.\n",
        encoding="utf-8",
    )
    run_cli("run", cwd=project, check=True)
    html = (only_issue(project) / "issue.html").read_text()
    for title in ("The US plan", "Ukraine&#39;s response", "Russia&#39;s demands"):
        assert title in html
    assert 'href="https://wire.example/kremlin-terms"' in html
    assert 'lang="en"' in html


def test_eml_is_multipart_alternative_text_then_html(project: Path) -> None:
    run_cli("run", cwd=project, check=True)
    raw = (only_issue(project) / "issue.eml").read_bytes()
    message = message_from_bytes(raw, policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    for header in (
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "MIME-Version",
        "List-Unsubscribe",
    ):
        assert message[header], header
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "RUSSIA'S DEMANDS" in text


def test_second_run_same_day_keeps_the_first_issue(project: Path) -> None:
    run_cli("run", cwd=project, check=True)
    folder = only_issue(project)
    before = (folder / "issue.json").read_bytes()
    again = run_cli("run", cwd=project)
    assert again.returncode == 0
    assert "already" in again.stdout
    assert only_issue(project) == folder
    assert (folder / "issue.json").read_bytes() == before

    edition = run_cli("run", "--new-edition", "--allow-empty", cwd=project)
    assert edition.returncode == 0, edition.stderr
    second = project / "outbox" / (folder.name + "-2")
    assert json.loads((second / "issue.json").read_text())["number"] == 2
    assert (folder / "issue.json").read_bytes() == before
