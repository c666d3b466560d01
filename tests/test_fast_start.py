"""`newsletter --help`, a command's --help and shell completion start fast: they load no
pipeline code and none of the heavy libraries (timings: benchmarks/cli_start.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, cli_env

HEAVY = ("pydantic", "sqlalchemy", "jinja2", "feedparser", "httpx", "numpy", "rich", "mjml")
PIPELINE = ("newsletter.config", "newsletter.pipeline", "newsletter.sources", "newsletter.digest")

# Runs the CLI in-process, then prints the top-level packages and our modules it loaded.
PROBE = """
import json, os, sys
from newsletter import cli
try:
    cli.main(sys.argv[1:], prog_name="newsletter")
except SystemExit:
    pass
print(json.dumps(sorted(n for n, m in sys.modules.items() if m is not None)), file=sys.stderr)
"""


def loaded(*args: str, env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=REPO,
        env={**cli_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--help",), {}),
        (("run", "--help"), {}),
        (("schedule", "--help"), {}),
        (
            (),
            {
                "_NEWSLETTER_COMPLETE": "bash_complete",
                "COMP_WORDS": "newsletter r",
                "COMP_CWORD": "1",
            },
        ),
        (
            (),
            {
                "_NEWSLETTER_COMPLETE": "bash_complete",
                "COMP_WORDS": "newsletter run --",
                "COMP_CWORD": "2",
            },
        ),
    ],
    ids=["help", "run-help", "schedule-help", "completion", "option-completion"],
)
def test_help_and_completion_load_no_pipeline_code(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    modules = loaded(*args, env=env)
    assert "newsletter.cli" in modules  # the probe did load the CLI
    heavy = {m for m in modules if m.split(".")[0] in HEAVY}
    ours = {m for m in modules if m.startswith(PIPELINE)}
    assert heavy == set() and ours == set()
    # Only the command asked about is imported (the lazy group): none for `--help` and
    # for completing a command's name, `newsletter.cli.build` for `run`.
    commands = {
        m for m in modules if m.startswith("newsletter.cli.") and m != "newsletter.cli.common"
    }
    asked = {"run": {"newsletter.cli.build"}, "schedule": {"newsletter.cli.unattended"}}
    word = next((w for w in (*args, *env.get("COMP_WORDS", "").split()[1:]) if w in asked), "")
    assert commands == asked.get(word, set())


def test_a_command_does_load_what_it_runs() -> None:
    """The probe sees imports at all: a command reading its config loads pydantic."""
    modules = loaded("check", "--config", "no-such-newsletter.toml")
    assert "newsletter.config" in modules and "pydantic" in modules
