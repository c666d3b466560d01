"""State problems said plainly: a corrupt, read-only or unreachable state database is one
line naming the database and the fix, exit 1, for run, status, feeds and send; never
re-initialised."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import FOUNDING_SEED, REPO, example_config_text
from newsletter.cli import main

SECRET = "s" * 32
COMMANDS = ("run", "status", "feeds", "send")


def invoke(project: Path, *args: str) -> Result:
    config = str(project / "newsletter.toml")
    return CliRunner().invoke(
        main, [*args, "--config", config], env={"NEWSLETTER_UNSUBSCRIBE_SECRET": SECRET}
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project with one issue in its outbox and its state.db, built once for the module."""
    root = tmp_path_factory.mktemp("state") / "project"
    root.mkdir()
    text = example_config_text()
    text = text.replace("[brand]\n", '[brand]\nunsubscribe_url = "https://example.org/u"\n', 1)
    text += '\n[delivery]\nsubscribers = "subscribers.csv"\n[smtp]\nhost = "127.0.0.1"\n'
    (root / "newsletter.toml").write_text(text, encoding="utf-8")
    (root / "subscribers.csv").write_text("email,name,sections\na@example.org,A,\n")
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "seeds").mkdir()
    shutil.copy(FOUNDING_SEED, root / "seeds" / FOUNDING_SEED.name)
    result = invoke(root, "run")
    assert result.exit_code == 0, result.output
    yield root


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(built, copy)
    return copy


def one_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_corrupt_state_database_is_named_and_kept(project: Path, command: str) -> None:
    db = project / ".newsletter" / "state.db"
    for leftover in db.parent.glob("state.db-*"):
        leftover.unlink()
    garbage = bytes(range(256)) * 40
    db.write_bytes(garbage)
    line = one_line(invoke(project, command))
    assert line.startswith("error: ") or " error: " in line
    assert str(db) in line and "not a database" in line and "backup" in line
    assert "sqlalche.me" not in line and "DatabaseError" not in line
    assert db.read_bytes() == garbage  # never re-initialised


@pytest.mark.parametrize("command", ("run", "send"))
def test_a_read_only_state_database_is_named(project: Path, command: str) -> None:
    toml = project / "newsletter.toml"
    db = project / ".newsletter" / "state.db"
    url = f"sqlite:///file:{db}?mode=ro&uri=true"  # what a read-only folder gives a writer
    toml.write_text(
        toml.read_text().replace("[state]\n", f'[state]\nurl = "{url}"\n', 1), encoding="utf-8"
    )
    before = db.read_bytes()
    line = one_line(invoke(project, command))
    assert url in line and "readonly" in line and "let this user write" in line
    assert db.read_bytes() == before


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", COMMANDS)
def test_postgresql_down_is_one_line_without_the_password(project: Path, command: str) -> None:
    toml = project / "newsletter.toml"
    url = f"postgresql+psycopg://bob:hunter2@127.0.0.1:{_closed_port()}/news"
    toml.write_text(
        toml.read_text().replace("[state]\n", f'[state]\nurl = "{url}"\n', 1), encoding="utf-8"
    )
    line = one_line(invoke(project, command))
    assert "bob:***@127.0.0.1" in line and "hunter2" not in line
    assert "Connection refused" in line and "start the database server" in line
