"""The command line as a new user meets it: init, run from anywhere, check, errors."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FOUNDING_SEED, run_cli, without_feeds


def test_init_then_run_with_config_from_elsewhere(tmp_path: Path) -> None:
    result = run_cli("init", "--example", "brief", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "brief"
    assert (project / "newsletter.toml").is_file()
    assert not (project / "templates").exists()  # the defaults serve until one is copied
    assert [p.name for p in (project / "seeds").iterdir()] == [FOUNDING_SEED.name]
    without_feeds(project / "newsletter.toml")  # its real public feeds: no test uses the network

    again = run_cli("init", "brief", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = run_cli("run", "--config", str(project / "newsletter.toml"), cwd=elsewhere)
    assert ran.returncode == 0, ran.stderr
    (folder,) = [p for p in (project / "outbox").iterdir() if not p.name.startswith(".")]
    assert json.loads((folder / "issue.json").read_text())["sections"][0]["items"]
    assert not (elsewhere / "outbox").exists()


def test_check_passes_on_a_sound_project(project: Path) -> None:
    result = run_cli("check", cwd=project)
    assert result.returncode == 0, result.stderr
    assert not (project / "outbox").exists()


def test_template_syntax_error_names_file_and_line(project: Path) -> None:
    partial = project / "templates" / "partials" / "item.mjml.j2"
    partial.write_text("<p>{{ item.text }\n</p>\n")
    result = run_cli("run", cwd=project)
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "item.mjml.j2:1" in line and "syntax error" in line
    assert not (project / "outbox").exists() or not [
        p for p in (project / "outbox").iterdir() if not p.name.startswith(".")
    ]


def test_misspelt_variable_is_an_error(project: Path) -> None:
    partial = project / "templates" / "partials" / "item.mjml.j2"
    partial.write_text("<p>{{ item.txt }}</p>\n")
    result = run_cli("check", cwd=project)
    assert result.returncode == 1
    assert "item.mjml.j2" in result.stderr and "txt" in result.stderr


def test_version_and_help() -> None:
    result = run_cli("--help", cwd=Path.cwd())
    assert result.returncode == 0
    for command in ("run", "init", "check"):
        assert command in result.stdout
