"""`newsletter schedule` stops within `stop_timeout_seconds` of SIGTERM, whatever its run is
doing: a stage that reaches no checkpoint (here: paused for good) does not hold it."""

from __future__ import annotations

import json
import signal
import time

from conftest import run_cli
from daemon_helpers import add_schedule, assert_complete, issue_folders, read_until, runs, start


def test_sigterm_during_a_stage_that_never_ends_exits_within_the_stop_timeout(project):
    add_schedule(
        project,
        '[[schedule]]\nname = "fast"\ncron = "*/2 * * * * *"\n'
        "[scheduler]\nstop_timeout_seconds = 2\n",
    )
    daemon = start(project, "schedule", env={"NEWSLETTER_TEST_PAUSE_AT": "gathered"})
    try:
        read_until(daemon, "paused at gathered")
        daemon.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        _out, err = daemon.communicate(timeout=20)
        waited = time.monotonic() - sent
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert waited < 2 + 5, f"exited {waited:.1f} s after SIGTERM; stop_timeout_seconds = 2"
    assert daemon.returncode == 0, err
    assert "stop timeout" in err
    assert issue_folders(project) == []

    # The dead run's claim is taken over: the slot is made, with its number.
    (slot, _trigger, _result, _number) = runs(project)[0]
    again = run_cli("run", "--slot", slot, cwd=project)
    assert again.returncode == 0, again.stderr
    (folder,) = issue_folders(project)
    assert_complete(folder)
    assert json.loads((folder / "issue.json").read_text())["number"] == 1
