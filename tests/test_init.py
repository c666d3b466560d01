"""A new user's first steps: `init` writes a commented starter project that runs as it is, and
`templates copy` one default template to edit (`init --example`: test_wheel.py, test_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import FOUNDING_SEED, REPO, run_cli


def issue_folders(project: Path) -> list[Path]:
    outbox = project / "outbox"
    return [p for p in outbox.iterdir() if not p.name.startswith(".")] if outbox.is_dir() else []


def test_init_writes_a_starter_that_says_what_to_edit_and_runs_as_is(tmp_path: Path) -> None:
    made = run_cli("init", "mine", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "mine"
    config = (project / "newsletter.toml").read_text()
    assert config != (REPO / "newsletter.toml").read_text()
    assert "Peace Plan" not in config and "Ukraine" not in config
    for first in ("[newsletter]", "[[sections]]", "topic_keywords"):
        assert first in config.split("\n\n")[0]  # named in the opening comment
    assert not (project / "templates").exists()
    assert not any((project / "seeds").iterdir())

    ran = run_cli("run", cwd=project)
    assert ran.returncode == 0, ran.stderr
    assert "nothing to read yet: add .txt or .md files to" in ran.stdout
    assert issue_folders(project) == []
    assert run_cli("check", cwd=project).returncode == 0

    (project / "seeds" / FOUNDING_SEED.name).write_bytes(FOUNDING_SEED.read_bytes())
    ran = run_cli("run", cwd=project)
    assert ran.returncode == 0, ran.stderr
    (folder,) = issue_folders(project)
    assert json.loads((folder / "issue.json").read_text())["newsletter"] == "My Newsletter"


def test_a_copied_template_overrides_its_default_and_is_never_overwritten(tmp_path: Path) -> None:
    assert run_cli("init", "--example", "x", cwd=tmp_path).returncode == 0
    project = tmp_path / "x"
    listed = run_cli("templates", "copy", "--list", cwd=project)
    assert "issue.mjml.j2" in listed.stdout.split() and "partials/item.mjml.j2" in listed.stdout

    copied = run_cli("templates", "copy", "item.mjml.j2", cwd=project)
    assert copied.returncode == 0, copied.stderr
    partial = project / "templates" / "partials" / "item.mjml.j2"
    default = (REPO / "templates" / "partials" / "item.mjml.j2").read_text()
    assert partial.read_text() == default
    assert sorted(p.name for p in (project / "templates").rglob("*") if p.is_file()) == [
        "item.mjml.j2"
    ]
    partial.write_text(default.replace("{{ item.text }}", "EDITED {{ item.text }}"))

    again = run_cli("templates", "copy", "partials/item.mjml.j2", cwd=project)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert "EDITED" in partial.read_text()
    unknown = run_cli("templates", "copy", "footer.html", cwd=project)
    assert unknown.returncode == 2 and "no default template 'footer.html'" in unknown.stderr

    ran = run_cli("run", cwd=project)
    assert ran.returncode == 0, ran.stderr
    (folder,) = issue_folders(project)
    html = (folder / "issue.html").read_text()
    assert "EDITED" in html and "Peace Plan Briefing" in html  # the other templates: defaults
