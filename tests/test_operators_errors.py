"""One error format: `error: <what>; <the fix>`, no class names, no usage block, no
traceback; bad front matter in a seed is its file, line and column."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from newsletter.cli import main


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), prog_name="newsletter")


def test_usage_mistakes_are_one_error_line_with_the_help_to_read() -> None:
    for args, command in (
        (("status", "--bogus"), "newsletter status"),
        (("--bogus",), "newsletter"),
        (("templates", "copy", "--nope"), "newsletter templates copy"),
        (("serve", "--port", "99999"), "newsletter serve"),
    ):
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: ") and line.endswith(f"; see '{command} --help'"), line
        assert "Usage:" not in result.stderr and "Error:" not in result.stderr


def test_bad_front_matter_is_file_line_and_column(project: Path) -> None:
    (project / "seeds" / "bad.md").write_text("---\ntitle: A\noutlet: [unclosed\n---\nText.\n")
    (project / "seeds" / "worse.md").write_text("+++\ntitle = 'A'\nurl = = 'x'\n+++\nText.\n")
    result = invoke("run", "--config", str(project / "newsletter.toml"))
    assert result.exit_code == 0, result.output
    warnings = {
        line.split("/seeds/")[1].split(":")[0]: line
        for line in result.stderr.splitlines()
        if "/seeds/" in line
    }
    assert "invalid YAML front matter at line 3, column 18" in warnings["bad.md"]
    assert "invalid TOML front matter at line 3, column 7" in warnings["worse.md"]
    for line in warnings.values():
        assert "unicode string" not in line and "Error" not in line
        assert line.endswith("; correct it, or remove the front matter")


def test_a_failed_run_names_no_exception_class(project: Path) -> None:
    (project / "outbox").write_text("not a folder")
    result = invoke("run", "--config", str(project / "newsletter.toml"))
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if " error: " in x]
    assert "run failed: " in line and "cannot write the issue" in line
    assert "OutboxError" not in line and "Traceback" not in result.output
