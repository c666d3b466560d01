"""`newsletter bounces` on a schedule, as docs/web.md shows it: the systemd timer and service
of docs/systemd (checked by systemd-analyze where it is installed, and the service's command
run as written) and the crontab line (run through sh, with its flock), paths pointed at a
test project and maildir."""

from __future__ import annotations

import mailbox
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, cli_env
from test_bounces_archive import statuses
from test_subscriber_list import invoke

UNITS = REPO / "docs" / "systemd"
SAMPLE = REPO / "tests" / "data" / "bounces" / "dsn-hard.eml"
PROGRAM = "/opt/newsletter/.venv/bin/newsletter"


def _project_with_a_bounce(project: Path, maildir: Path) -> None:
    (project / "people.csv").write_text(
        "email,name,sections\nhard@example.net,,\nfine@example.net,,\n", encoding="utf-8"
    )
    invoke(project, "subscribers", "import", str(project / "people.csv"))
    mailbox.Maildir(maildir, create=True).add(SAMPLE.read_bytes())


def _local(text: str, project: Path, maildir: Path) -> str:
    """The documented paths pointed at the test's project and maildir."""
    return (
        text.replace("/srv/briefing/newsletter.toml", str(project / "newsletter.toml"))
        .replace("/srv/briefing", str(project))
        .replace("/var/mail/briefing-bounces", str(maildir))
    )


def test_the_systemd_timer_runs_a_documented_command_that_works(
    project: Path, tmp_path: Path
) -> None:
    service = (UNITS / "newsletter-bounces.service").read_text(encoding="utf-8")
    timer = (UNITS / "newsletter-bounces.timer").read_text(encoding="utf-8")
    assert "Type=oneshot" in service and "OnUnitActiveSec=" in timer
    assert "WantedBy=timers.target" in timer
    assert "newsletter-bounces.timer" in (REPO / "docs" / "web.md").read_text(encoding="utf-8")
    exec_start = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(exec_start.removeprefix("ExecStart="))
    assert argv[:2] == [PROGRAM, "bounces"]

    maildir = tmp_path / "bounces"
    _project_with_a_bounce(project, maildir)
    ran = invoke(project, *shlex.split(_local(shlex.join(argv[1:]), project, maildir)))
    assert "hard bounce: hard@example.net: marked bounced" in ran.output
    assert statuses(project)["hard@example.net"] == "bounced"

    analyze = shutil.which("systemd-analyze")
    if analyze:  # the units as systemd reads them (the program path made to exist)
        units = tmp_path / "units"
        units.mkdir()
        (units / "newsletter-bounces.service").write_text(
            service.replace(PROGRAM, shutil.which("true") or "/bin/true"), encoding="utf-8"
        )
        (units / "newsletter-bounces.timer").write_text(timer, encoding="utf-8")
        checked = subprocess.run(
            [
                analyze,
                "verify",
                "--man=no",
                "newsletter-bounces.service",
                "newsletter-bounces.timer",
            ],
            cwd=units,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stderr


def test_the_documented_crontab_line_works(project: Path, tmp_path: Path) -> None:
    if shutil.which("flock") is None:
        pytest.skip("flock (util-linux) is not installed")
    web = (REPO / "docs" / "web.md").read_text(encoding="utf-8")
    line = next(text for text in web.splitlines() if text.startswith("*/15 * * * * "))
    command = line.split(" ", 5)[5]
    assert PROGRAM in command

    maildir = tmp_path / "bounces"
    _project_with_a_bounce(project, maildir)
    program = shlex.join([sys.executable, "-m", "newsletter"])
    local = _local(command, project, maildir).replace(PROGRAM, program)
    ran = subprocess.run(
        ["sh", "-c", local], env=cli_env(), capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    log = (project / "bounces.log").read_text(encoding="utf-8")
    assert "hard bounce: hard@example.net: marked bounced" in log
    assert statuses(project) == {"hard@example.net": "bounced", "fine@example.net": "active"}
