"""The operator's command line: runs that tell the truth, quiet cron, global log options."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import run_cli

OFF_TOPIC = (
    "The city council approved a new budget for public parks on Tuesday evening. "
    "Gardeners welcomed the plan, which adds three playgrounds and restores the old "
    "greenhouse near the river. Work starts in spring and should end before the summer "
    "festival, the mayor said at a press conference.\n"
)


def _folders(project: Path) -> list[Path]:
    outbox = project / "outbox"
    return [p for p in outbox.iterdir() if not p.name.startswith(".")] if outbox.exists() else []


def _published(project: Path) -> int:
    db = project / ".newsletter" / "state.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from issue_articles").fetchone()[0])


def test_off_topic_run_makes_no_issue_and_says_why(project: Path) -> None:
    for seed in (project / "seeds").iterdir():
        seed.unlink()
    (project / "seeds" / "parks.txt").write_text(OFF_TOPIC)
    result = run_cli("run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "none on topic" in result.stdout and "topic_keywords" in result.stdout
    assert _folders(project) == []
    assert _published(project) == 0

    forced = run_cli("run", "--allow-empty", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert len(_folders(project)) == 1


def test_no_sources_is_said_not_already_published(project: Path) -> None:
    for seed in (project / "seeds").iterdir():
        seed.unlink()
    result = run_cli("run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "nothing to read yet: add .txt or .md files to" in result.stdout
    assert "already published" not in result.stdout
    assert _folders(project) == []


def test_quiet_run_prints_nothing_and_json_logs_after_the_subcommand(project: Path) -> None:
    quiet = run_cli("run", "-q", cwd=project)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout == "" and quiet.stderr == ""
    assert len(_folders(project)) == 1

    again = run_cli("run", "--new-edition", "--log-format", "json", cwd=project)
    assert again.returncode == 0, again.stderr
    lines = [json.loads(line) for line in again.stderr.splitlines()]
    assert lines and all("event" in line and "level" in line for line in lines)
    assert len(_folders(project)) == 2


def test_preview_port_out_of_range_is_one_line(project: Path) -> None:
    result = run_cli("preview", "--port", "80000", cwd=project)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: --port 80000") and "Traceback" not in result.stderr


def test_an_empty_state_database_is_refused_not_reinitialised(project: Path) -> None:
    db = project / ".newsletter" / "state.db"
    db.parent.mkdir()
    db.touch()
    result = run_cli("run", cwd=project)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert " error: " in line and "state.db" in line and "empty" in line  # the run's log line
    assert "StateError" not in line
    assert db.stat().st_size == 0
    assert _folders(project) == []


def test_a_day_without_new_articles_says_whether_anything_was_published_before(
    project: Path,
) -> None:
    """Before any issue: the sources brought nothing; after one: nothing new since it."""
    seeds = list((project / "seeds").iterdir())
    moved = {seed: seed.read_bytes() for seed in seeds}
    for seed in seeds:
        seed.unlink()
    empty = project / "empty.xml"
    empty.write_text('<rss version="2.0"><channel><title>Quiet</title></channel></rss>')
    with (project / "newsletter.toml").open("a") as f:
        f.write(f'\n[[feeds]]\nname = "Quiet"\nurl = "{empty}"\n')
    first = run_cli("run", cwd=project)
    assert first.returncode == 0, first.stderr
    assert "the sources brought no article" in first.stdout
    assert "already published" not in first.stdout

    for seed, body in moved.items():
        seed.write_bytes(body)
    assert run_cli("run", "--date", "2026-01-05", cwd=project).returncode == 0
    again = run_cli("run", "--date", "2026-01-06", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "nothing new since the last issue" in again.stdout
