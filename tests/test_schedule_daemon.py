"""`newsletter schedule` as an operator runs it: a real process, a real SQLite state file,
a schedule every two seconds (six-field cron, seconds first), stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta

import pytest

from conftest import run_cli
from daemon_helpers import (
    add_schedule,
    add_seed,
    assert_complete,
    issue_folders,
    query,
    read_until,
    runs,
    start,
    stop,
    wait_for,
)
from newsletter.config import load_config
from newsletter.status import scheduler_holder


@pytest.fixture
def spawn(project):
    """``start`` for this test's project; any process still alive at teardown is killed."""
    started = []

    def call(*args, env=None):
        process = start(project, *args, env=env)
        started.append(process)
        return process

    yield call
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


EVERY_TWO_SECONDS = '[[schedule]]\nname = "fast"\ncron = "*/2 * * * * *"\n'
YEARLY = '[[schedule]]\nname = "{name}"\ncron = "0 0 1 1 *"\n'


def written(project):
    return [r for r in runs(project) if r[2] == "written"]


def test_daemon_makes_an_issue_per_slot_only_when_something_is_new(project, spawn):
    add_schedule(project, EVERY_TWO_SECONDS)
    daemon = spawn("schedule")
    try:
        wait_for(lambda: written(project), what="the first issue")
        empty = lambda: any(r[2] == "nothing-new" for r in runs(project))  # noqa: E731
        wait_for(empty, what="a slot with nothing new")
        add_seed(project)
        wait_for(lambda: len(written(project)) == 2, what="the second issue")
    finally:
        code, err = stop(daemon)
    assert code == 0, err
    assert "nothing new since the last issue" in err
    assert "scheduler stopped" in err

    folders = issue_folders(project)
    assert len(folders) == 2
    for folder in folders:
        assert_complete(folder)
    numbers = [json.loads((f / "issue.json").read_text())["number"] for f in folders]
    assert sorted(numbers) == [1, 2]
    slots = [r[0] for r in written(project)]
    assert len(set(slots)) == 2
    assert all(datetime.fromisoformat(s).second % 2 == 0 for s in slots)
    assert not [r for r in runs(project) if r[2] == "running"]
    assert scheduler_up(project) is None  # released on stop


def test_a_second_scheduler_refuses_and_a_dead_ones_lock_is_taken_over(project, spawn):
    add_schedule(project, YEARLY.format(name="yearly"))
    first = spawn("schedule")
    read_until(first, "next slot")
    holder = scheduler_up(project)
    assert holder is not None and f":{first.pid}:" in holder.owner  # status: up, and who
    refused = run_cli("schedule", cwd=project)
    assert refused.returncode == 3, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "another 'newsletter schedule'" in lines[0]
    assert holder.owner in lines[0]  # naming the first

    first.send_signal(signal.SIGKILL)  # dies without releasing its lock
    first.wait(10)
    second = spawn("schedule")
    read_until(second, "next slot")
    code, err = stop(second, signum=signal.SIGINT)  # Ctrl-C in a terminal
    assert code == 0, err
    assert "stopping signal=SIGINT" in err


def scheduler_up(project):
    """``newsletter status``'s answer to "is the scheduler up": its lock's holder, or None."""
    config = load_config(project / "newsletter.toml")
    return scheduler_holder(config, datetime.now(UTC))


def test_restart_after_missed_slots_makes_exactly_one_catch_up_issue(project, spawn):
    # An older config's job, then the schedule is changed: the old job must not survive.
    config = project / "newsletter.toml"
    original = config.read_text()
    add_schedule(project, YEARLY.format(name="old"))
    old = spawn("schedule")
    read_until(old, "next slot")
    code, err = stop(old)
    assert code == 0, err

    # The last issue was made five minutes ago; four minute-slots were missed since.
    config.write_text(original)
    add_schedule(
        project,
        '[[schedule]]\nname = "minutely"\ncron = "* * * * *"\n[scheduler]\ngrace_seconds = 600\n',
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    earlier = (now - timedelta(minutes=5)).isoformat()
    assert run_cli("run", "--slot", earlier, cwd=project).returncode == 0
    add_seed(project)

    daemon = spawn("--log-format", "json", "schedule")
    try:
        wait_for(lambda: any(r[1] == "catch-up" for r in runs(project)), what="catch-up")
        wait_for(lambda: runs(project)[-1][2] != "running", what="the catch-up to finish")
    finally:
        code, err = stop(daemon)
    assert code == 0, err

    events = [json.loads(line) for line in err.splitlines()]  # every line is one JSON object
    assert any(e["event"].startswith("catch-up: the last slot") for e in events)
    assert any(e.get("trigger") == "catch-up" and e.get("result") == "written" for e in events)
    assert {"time", "level", "logger", "event"} <= set(events[0])
    catch_ups = [r for r in runs(project) if r[1] == "catch-up"]
    assert len(catch_ups) == 1
    assert catch_ups[0][2] == "written"
    caught = datetime.fromisoformat(catch_ups[0][0])
    assert now <= caught <= datetime.now(UTC)  # the latest missed slot, not an older one
    assert len(issue_folders(project)) == 2  # the manual one and the single catch-up
    planned = [e["schedule"] for e in events if e["event"] == "next slot"]
    assert planned == ["minutely"]  # the old config's job did not survive


def test_sigterm_abandons_a_slow_run_and_the_next_run_completes_its_slot(project, spawn):
    # Half the stop timeout (3 s) lets the run finish; past it, its next checkpoint abandons it.
    add_schedule(project, EVERY_TWO_SECONDS + "[scheduler]\nstop_timeout_seconds = 6\n")
    daemon = spawn("schedule", env={"NEWSLETTER_TEST_PAUSE_AT": "gathered:4"})
    try:
        read_until(daemon, "paused at gathered")
    finally:
        code, err = stop(daemon)
    assert code == 0, err
    assert "abandoned" in err
    assert issue_folders(project) == []
    (slot, trigger, result, _number) = runs(project)[0]
    assert trigger == "catch-up"  # the first slot came due just before the start
    assert result == "abandoned"
    status = query(project, "SELECT status FROM issues")
    assert status == [("failed",)]  # the claim was given back

    again = run_cli("run", "--slot", slot, cwd=project)
    assert again.returncode == 0, again.stderr
    (folder,) = issue_folders(project)
    assert_complete(folder)
    assert json.loads((folder / "issue.json").read_text())["number"] == 1  # no number lost


def test_a_slot_due_while_the_previous_one_is_being_made_is_made_after_it(project, spawn):
    # Each run takes over 3 s; slots come every 2 s. The slot that comes due during the
    # first run must wait for it, not be skipped (APScheduler's max_instances).
    add_schedule(project, EVERY_TWO_SECONDS)
    daemon = spawn("schedule", env={"NEWSLETTER_TEST_PAUSE_AT": "gathered:3"})
    try:
        finished = lambda: [r for r in runs(project) if r[2] != "running"]  # noqa: E731
        wait_for(lambda: len(finished()) >= 2, timeout=30, what="two finished runs")
    finally:
        code, err = stop(daemon)
    assert code == 0, err
    first, second = (datetime.fromisoformat(r[0]) for r in finished()[:2])
    assert second - first == timedelta(seconds=2), (first, second, err)
    assert runs(project)[1][1] == "schedule"
    assert len(issue_folders(project)) == 1  # the second slot had nothing new


def test_status_shows_runs_next_slots_and_json(project):
    add_schedule(project, '[[schedule]]\nname = "morning"\ncron = "0 7 * * MON-FRI"\n')
    assert run_cli("run", cwd=project).returncode == 0
    text = run_cli("status", cwd=project)
    assert text.returncode == 0, text.stderr
    (morning_row,) = [line for line in text.stdout.splitlines() if "morning" in line]
    assert morning_row.split()[:8] == [
        "morning",
        "0",
        "7",
        "*",
        "*",
        "MON-FRI",
        "Europe/Kyiv",
        "no",
    ]
    assert "manual" in text.stdout
    assert "written" in text.stdout
    assert "Scheduler: not running" in text.stdout

    document = json.loads(run_cli("status", "--json", cwd=project).stdout)
    (run,) = document["runs"]
    assert run["result"] == "written"
    manual_slot = datetime.fromisoformat(run["slot"])  # a manual run takes the latest slot
    assert (manual_slot.hour, manual_slot.minute) == (7, 0) and manual_slot.weekday() < 5
    assert datetime.now(UTC) - manual_slot < timedelta(days=4)
    assert run["articles_in"] == 1
    assert run["items_out"] > 0
    assert run["issue_path"].endswith("peace-plan-briefing")
    (morning,) = document["schedules"]
    upcoming = [datetime.fromisoformat(m) for m in morning["next"]]
    assert len(upcoming) == 3
    assert all(m.hour == 7 and m.weekday() < 5 for m in upcoming)
    assert document["scheduler"] is None


def test_a_manual_run_of_the_slot_the_daemon_is_building_makes_no_second_issue(project, spawn):
    add_schedule(project, EVERY_TWO_SECONDS)
    daemon = spawn("schedule", env={"NEWSLETTER_TEST_PAUSE_AT": "rendered:3"})
    try:
        read_until(daemon, "paused at rendered")
        (slot,) = wait_for(lambda: [r[0] for r in runs(project) if r[2] == "running"])
        manual = run_cli("run", "--slot", slot, cwd=project)
        wait_for(lambda: written(project), what="the daemon's issue")
    finally:
        code, err = stop(daemon)
    assert code == 0, err
    assert manual.returncode == 0, manual.stderr
    assert "being built by another run" in manual.stdout or "already" in manual.stdout
    (folder,) = issue_folders(project)
    assert_complete(folder)
    assert query(project, "SELECT count(*) FROM issues WHERE status = 'done'") == [(1,)]
