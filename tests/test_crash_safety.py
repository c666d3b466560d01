"""kill -9 at every stage of a real `newsletter run`, and runs racing for one slot.

The run is paused at a named stage by the test-only NEWSLETTER_TEST_PAUSE_AT (it prints
"paused at <stage>" and waits), so each kill lands at a known point; then the next run must
complete the slot with exactly one complete issue and a consistent state database."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli, start_cli
from daemon_helpers import assert_complete, issue_folders, query, read_until, runs, start
from newsletter.pipeline import STAGES

SLOT = "2025-11-24T07:00:00+02:00"
# One kill per kind of state left behind: a claim only, files in staging, the folder in the
# outbox but unrecorded, everything recorded but the run log. ("gathered", "summarized" and
# "rendered" leave the same state as "claimed"; they pass too, at a few seconds each.)
KILL_POINTS = ("claimed", "staged", "written", "finished")
assert set(KILL_POINTS) <= set(STAGES)


@pytest.mark.parametrize("stage", KILL_POINTS)
def test_kill_9_at_any_stage_then_the_next_run_completes_the_slot(project, stage):
    victim = start(project, "run", "--slot", SLOT, env={"NEWSLETTER_TEST_PAUSE_AT": stage})
    try:
        read_until(victim, f"paused at {stage}")
    finally:
        victim.kill()
        victim.wait(10)

    # Right after the kill: the outbox holds a complete issue or nothing, never a part of one.
    folders = issue_folders(project)
    for folder in folders:
        assert_complete(folder)
    assert len(folders) == (1 if STAGES.index(stage) >= STAGES.index("written") else 0)
    rows = query(project, "SELECT status FROM issues")
    assert rows in ([], [("building",)], [("done",)])

    again = run_cli("run", "--slot", SLOT, cwd=project)
    assert again.returncode == 0, again.stderr
    (folder,) = issue_folders(project)
    assert_complete(folder)
    data = json.loads((folder / "issue.json").read_text())
    assert data["number"] == 1
    assert data["slot"] == SLOT
    assert query(project, "SELECT number, status FROM issues") == [(1, "done")]
    published = query(project, "SELECT count(*) FROM issue_articles")[0][0]
    assert published == len(data["articles"]) == 1
    assert list((project / "outbox" / ".staging").glob("*")) == []
    results = [r[2] for r in runs(project)]
    assert results[0] == "crashed"  # the killed run, marked by the next one
    assert results[1] in ("written", "exists")


def test_concurrent_runs_for_one_slot_make_one_issue(project):
    runners = [start_cli(project, "run", "--slot", SLOT) for _ in range(3)]
    outputs = [r.communicate(timeout=60) for r in runners]
    assert [r.returncode for r in runners] == [0, 0, 0], outputs
    (folder,) = issue_folders(project)
    assert_complete(folder)
    assert query(project, "SELECT number, status FROM issues") == [(1, "done")]
    results = sorted(r[2] for r in runs(project))
    assert results.count("written") == 1
    assert set(results) <= {"written", "exists", "busy"}


def test_a_run_while_another_builds_the_slot_reports_busy_and_writes_nothing(project):
    holder = start(project, "run", "--slot", SLOT, env={"NEWSLETTER_TEST_PAUSE_AT": "rendered"})
    try:
        read_until(holder, "paused at rendered")
        second = run_cli("run", "--slot", SLOT, cwd=project)
    finally:
        holder.kill()
        holder.wait(10)
    assert second.returncode == 0, second.stderr
    assert "being built by another run" in second.stdout
    assert issue_folders(project) == []
