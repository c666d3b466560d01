"""The schema's revisions (Alembic): an older database upgrades in place and keeps its history,
a fresh one equals the tables, and the read-only commands create and migrate nothing."""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import legacy_schema
from conftest import run_cli
from newsletter.errors import StateError
from newsletter.store import schema, state, tables

NAME = "Peace Plan Briefing"  # the project's [newsletter] name
LAST_WEEK = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
OLD_ARTICLES = ["feed:old-1", "feed:old-2"]


def use_state(project: Path, url: str | None) -> sa.Engine:
    """Point the project at the database under test; an engine on it (no migration)."""
    if url is None:
        (project / ".newsletter").mkdir()
        return sa.create_engine(f"sqlite:///{project / '.newsletter' / 'state.db'}")
    toml = project / "newsletter.toml"
    text = toml.read_text()
    assert '[state]\npath = ".newsletter"' in text
    toml.write_text(text.replace('[state]\npath = ".newsletter"', f'[state]\nurl = "{url}"'))
    return sa.create_engine(url)


def version_5_database(engine: sa.Engine) -> None:
    """What an older newsletter left: issue #1 done, its articles published, a run, a feed."""
    legacy_schema.migrate(engine)
    with engine.begin() as conn:
        # The id comes from the database (1, in a new table), as the older newsletter's did:
        # an explicit id would leave PostgreSQL's sequence behind, which no real database has.
        conn.execute(
            legacy_schema.issues.insert().values(
                newsletter=NAME,
                slot="2026-11-20T00:00:00+00:00",
                edition=1,
                number=1,
                status="done",
                owner="old:1:x",
                claimed_at=LAST_WEEK,
                finished_at=LAST_WEEK,
                path="/outbox/2026-11-20-peace-plan-briefing",
                subject="Issue 1",
            )
        )
        conn.execute(
            legacy_schema.issue_articles.insert(),
            [{"issue_id": 1, "article_id": a} for a in OLD_ARTICLES],
        )
        conn.execute(
            legacy_schema.feeds.insert().values(
                url="http://a.example/feed.xml",
                name="Wire A",
                consecutive_failures=0,
                entries_seen=2,
                retired=False,
                last_success=LAST_WEEK,
            )
        )
        conn.execute(
            legacy_schema.runs.insert().values(
                newsletter=NAME,
                slot="2026-11-20T00:00:00+00:00",
                trigger="manual",
                owner="old:1:x",
                started_at=LAST_WEEK,
                finished_at=LAST_WEEK,
                result="written",
                issue_number=1,
            )
        )


def test_a_version_5_database_upgrades_in_place_and_keeps_its_history(
    project: Path, state_url: str | None
) -> None:
    engine = use_state(project, state_url)
    version_5_database(engine)

    # The read-only commands say what to do and change nothing.
    shown = run_cli("status", cwd=project)
    assert shown.returncode == 1
    (line,) = shown.stderr.strip().splitlines()
    assert "is at schema version 5 (before revisions), this version needs revision" in line
    assert line.endswith("run newsletter db upgrade"), line
    assert "alembic_version" not in sa.inspect(engine).get_table_names()

    upgraded = run_cli("db", "upgrade", cwd=project)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from schema version 5 (before revisions) to revision {schema.HEAD}" in (
        upgraded.stdout
    )

    # History kept: the next issue is number 2; the old issue's articles, run and feed stay.
    built = run_cli("run", cwd=project)
    assert built.returncode == 0, built.stderr
    (folder,) = (project / "outbox").glob("*/issue.json")
    assert json.loads(folder.read_text())["number"] == 2
    with engine.connect() as conn:
        assert schema.revision_of(conn).current
        numbers = conn.execute(sa.text("SELECT number FROM issues ORDER BY number")).scalars()
        assert list(numbers) == [1, 2]
        published = conn.execute(
            sa.text("SELECT article_id FROM issue_articles WHERE issue_id = 1 ORDER BY 1")
        ).scalars()
        assert list(published) == OLD_ARTICLES
        runs = conn.execute(sa.text("SELECT issue_number FROM runs ORDER BY id")).scalars()
        assert list(runs) == [1, 2]
        (feed,) = conn.execute(sa.text("SELECT name FROM feeds")).scalars()
        assert feed == "Wire A"
    engine.dispose()


def test_an_older_newsletter_stops_on_an_upgraded_database(
    tmp_path: Path, state_url: str | None
) -> None:
    state.open_engine(tmp_path, state_url).dispose()
    engine = sa.create_engine(state.state_url(tmp_path, state_url))
    with pytest.raises(sa.exc.DBAPIError, match="version"):
        legacy_schema.migrate(engine)  # what an older binary does on start
    with engine.connect() as conn:
        assert schema.revision_of(conn).current  # and it changed nothing
    engine.dispose()


def test_a_fresh_database_from_the_revisions_equals_the_tables(
    tmp_path: Path, state_url: str | None
) -> None:
    assert schema.script_head() == schema.HEAD  # HEAD names the newest revision file
    engine = state.open_engine(tmp_path, state_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, tables.metadata) == []
        (note,) = conn.execute(sa.select(tables.schema_version.c.managed_by)).scalars()
    assert "alembic_version" in note
    engine.dispose()


def test_status_and_feeds_on_a_fresh_project_create_nothing(project: Path) -> None:
    for command in ("status", "feeds"):
        shown = run_cli(command, cwd=project)
        assert shown.returncode == 1
        (line,) = shown.stderr.strip().splitlines()
        assert line.endswith(
            f"no state database yet at {project / '.newsletter' / 'state.db'}: "
            "run newsletter run or newsletter db upgrade"
        )
    current = run_cli("db", "current", cwd=project)
    assert current.returncode == 1 and "no state database yet" in current.stdout
    assert not (project / ".newsletter").exists()


def test_earlier_hand_written_versions_are_stamped_then_upgraded(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    legacy_schema.migrate(engine, (1, 2))
    engine.dispose()
    where, before, after = state.upgrade_database(tmp_path)
    assert (before.legacy, after.revision) == (2, schema.HEAD) and where == str(db)
    with state.connect(tmp_path) as engine:
        names = set(sa.inspect(engine).get_table_names())
    assert set(tables.metadata.tables) | {"alembic_version"} == names

    gap = tmp_path / "gap"
    gap.mkdir()
    engine = sa.create_engine(f"sqlite:///{gap / 'state.db'}")
    legacy_schema.migrate(engine, (1, 2, 3, 5))
    engine.dispose()
    with pytest.raises(StateError, match=r"version 4 is missing below later ones"):
        state.open_engine(gap)


def test_a_database_from_a_newer_newsletter_is_refused(project: Path) -> None:
    state.open_engine(project / ".newsletter").dispose()
    engine = sa.create_engine(f"sqlite:///{project / '.newsletter' / 'state.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    refused = "at revision 0999, which this version of newsletter does not know"
    shown = run_cli("run", cwd=project)
    assert shown.returncode == 1 and refused in shown.stderr
    assert not list((project / "outbox").glob("*/issue.json"))
    with pytest.raises(StateError, match=refused):
        state.open_engine(project / ".newsletter", upgrade=False)  # status, feeds


def test_processes_starting_together_upgrade_once(tmp_path: Path, state_url: str | None) -> None:
    results: list[object] = []

    def start() -> None:
        try:
            results.append(state.upgrade_database(tmp_path, state_url))
        except Exception as e:  # a race would surface here as a duplicate-table error
            results.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, tuple) for r in results), results
    created = [r for r in results if isinstance(r, tuple) and r[1].empty]
    assert len(created) == 1 and all(r[2].current for r in results if isinstance(r, tuple))


def test_moments_are_stored_in_utc_and_read_back_aware(
    tmp_path: Path, state_url: str | None
) -> None:
    engine = state.open_engine(tmp_path, state_url)
    kyiv = timezone(timedelta(hours=2))
    moment = datetime(2026, 11, 25, 9, 0, tzinfo=kyiv)  # 07:00 UTC
    claim = state.claim_issue(engine, "NL", "slot", owner=state.owner_token(), now=moment)
    assert isinstance(claim, state.Claimed)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(tables.issues.c.claimed_at)).scalar_one()
        later = conn.execute(
            sa.select(sa.func.count()).where(
                tables.issues.c.claimed_at > datetime(2026, 11, 25, 8, 30, tzinfo=kyiv)
            )
        ).scalar_one()
    assert stored == moment and stored.tzinfo == UTC and stored.hour == 7
    assert later == 1  # 07:00 UTC is after 06:30 UTC, whatever zone the query was given in
    engine.dispose()


def test_a_batch_revision_rebuilds_a_referenced_table_with_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite alters a column by copying the table; ``issues`` is referenced by the published
    articles, which must survive the copy (foreign keys are off during an upgrade)."""
    engine = state.open_engine(tmp_path / "state")
    claim = state.claim_issue(engine, "NL", "s", owner=state.owner_token(), now=LAST_WEEK)
    assert isinstance(claim, state.Claimed)
    state.finish_issue(
        engine,
        claim.record,
        path="p",
        subject="s",
        article_ids=OLD_ARTICLES,
        articles_in=2,
        items_out=1,
        now=LAST_WEEK,
    )
    engine.dispose()
    scripts = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    head, after_head = schema.HEAD, f"{int(schema.HEAD) + 1:04d}"  # the next revision
    (scripts / "versions" / f"{after_head}_subject.py").write_text(
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "{after_head}"\ndown_revision = "{head}"\n\n\n'
        "def upgrade():\n"
        '    with op.batch_alter_table("issues", recreate="always") as batch:\n'
        '        batch.alter_column("subject", existing_type=sa.Text(), type_=sa.String(900))\n'
    )
    monkeypatch.setattr(schema, "MIGRATIONS", scripts)
    monkeypatch.setattr(schema, "HEAD", after_head)
    where, before, after = state.upgrade_database(tmp_path / "state")
    assert (before.revision, after.revision) == (head, after_head)
    engine = sa.create_engine(f"sqlite:///{where}")
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT article_id FROM issue_articles ORDER BY 1"))
        assert list(kept.scalars()) == OLD_ARTICLES
        assert conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []
    engine.dispose()
