"""In-process checks of the scheduling pieces: cron, catch-up, the lock, logs, the run log."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

import legacy_schema
from newsletter.config import load_config
from newsletter.errors import ConfigError
from newsletter.logs import JsonFormatter, TextFormatter, fields
from newsletter.pipeline import slot_label
from newsletter.schedule import runlog
from newsletter.schedule.cron import fire_times, latest_fire, next_fires, parse_cron
from newsletter.schedule.daemon import catch_up_slot
from newsletter.schedule.lock import FileLock, Holder, LockHeld, LockLost, file_holder, lock_path
from newsletter.store import state

KYIV = ZoneInfo("Europe/Kyiv")
WEDNESDAY = datetime(2025, 11, 26, 12, 0, tzinfo=KYIV)


@pytest.mark.parametrize(
    ("weekday", "expected"),
    [("1", "Mon"), ("0", "Sun"), ("7", "Sun"), ("MON", "Mon"), ("5", "Fri"), ("6", "Sat")],
)
def test_cron_weekday_numbers_mean_what_cron_means(weekday, expected):
    trigger = parse_cron(f"0 7 * * {weekday}", KYIV)
    (fire,) = next_fires(trigger, WEDNESDAY, 1)
    assert fire.strftime("%a") == expected
    assert (fire.hour, fire.minute) == (7, 0)


def test_cron_ranges_lists_and_steps_of_weekdays():
    weekdays = parse_cron("0 7 * * 1-5", KYIV)
    assert [f.strftime("%a") for f in next_fires(weekdays, WEDNESDAY, 5)] == [
        "Thu",
        "Fri",
        "Mon",
        "Tue",
        "Wed",
    ]
    every_other = parse_cron("0 7 * * */2", KYIV)  # cron: Sun, Tue, Thu, Sat
    assert {f.strftime("%a") for f in next_fires(every_other, WEDNESDAY, 8)} == {
        "Sun",
        "Tue",
        "Thu",
        "Sat",
    }


def test_six_fields_put_seconds_first():
    trigger = parse_cron("*/5 * * * * *", KYIV)
    fires = next_fires(trigger, WEDNESDAY, 3)
    assert [f.second for f in fires] == [5, 10, 15]


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 7 * *", "expected 5 cron fields"),
        ("0 25 * * *", "invalid cron expression '0 25 * * *'"),
        ("0 7 * * 8", "out of range 0-7"),
    ],
)
def test_a_bad_cron_is_one_config_line_naming_the_key(tmp_path, cron, message):
    config = Path(__file__).resolve().parents[1] / "newsletter.toml"
    path = tmp_path / "newsletter.toml"
    path.write_text(config.read_text() + f'\n[[schedule]]\ncron = "{cron}"\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = str(error.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: key 'schedule[1].cron'")
    assert message in text


def test_latest_fire_finds_the_most_recent_slot_at_any_period():
    daily = parse_cron("0 7 * * *", KYIV)
    assert latest_fire(daily, WEDNESDAY) == WEDNESDAY.replace(hour=7)
    assert latest_fire(daily, WEDNESDAY.replace(hour=6)) == datetime(2025, 11, 25, 7, tzinfo=KYIV)
    weekly = parse_cron("30 9 * * MON", KYIV)
    assert latest_fire(weekly, WEDNESDAY) == datetime(2025, 11, 24, 9, 30, tzinfo=KYIV)
    seconds = parse_cron("*/2 * * * * *", KYIV)
    assert latest_fire(seconds, WEDNESDAY.replace(second=3)) == WEDNESDAY.replace(second=2)
    yearly = parse_cron("0 0 1 1 *", KYIV)
    assert latest_fire(yearly, WEDNESDAY) == datetime(2025, 1, 1, tzinfo=KYIV)


def test_catch_up_is_one_slot_the_latest_within_grace_and_not_done():
    hourly = parse_cron("0 * * * *", KYIV)
    now = WEDNESDAY.replace(minute=20)
    missed = fire_times(hourly, now - timedelta(hours=5), now)
    assert len(missed) == 5  # five slots went by while the scheduler was down

    slot, why = catch_up_slot(hourly, now, timedelta(hours=1), lambda _s: False)
    assert slot == WEDNESDAY
    assert "missed" in why
    assert catch_up_slot(hourly, now, timedelta(minutes=10), lambda _s: False)[0] is None
    assert catch_up_slot(hourly, now, timedelta(hours=1), lambda s: s == WEDNESDAY)[0] is None


def test_slot_labels_keep_several_slots_a_day_apart():
    assert slot_label(WEDNESDAY.replace(hour=0)) == "2025-11-26"
    assert slot_label(WEDNESDAY.replace(hour=7)) == "2025-11-26-0700"
    assert slot_label(WEDNESDAY.replace(hour=7, second=30)) == "2025-11-26-070030"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_the_lock_file_refuses_a_second_scheduler_naming_the_first(tmp_path):
    clock = Clock(datetime(2025, 11, 26, 12, 0, tzinfo=UTC))
    path = lock_path(tmp_path, None, "Peace Brief")
    assert path == tmp_path / "scheduler-peace-brief.lock"  # beside state.db
    first = FileLock(path, "host:1:a", clock)
    second = FileLock(path, "host:2:b", clock)
    first.acquire()
    with pytest.raises(LockHeld, match=r"host:1:a.* since 2025-11-26 12:00:00 UTC"):
        second.acquire()
    first.renew()  # still ours
    first.release()
    second.acquire()  # released: the next one starts at once
    with pytest.raises(LockHeld, match="host:2:b"):
        first.acquire()
    second.release()


def test_the_lock_is_free_when_its_holder_is_gone_and_lost_when_its_file_is(tmp_path):
    clock = Clock(datetime(2025, 11, 26, 12, 0, tzinfo=UTC))
    path = lock_path(tmp_path, None, "Peace Brief")
    me = state.owner_token()
    dead = FileLock(path, me, clock)
    dead.acquire()
    assert file_holder(path) == Holder(me, clock.now)  # status: up, and who
    os.close(dead._fd)  # what the kernel does when the holder dies, however it dies
    successor = FileLock(path, "host:2:b", clock)
    successor.acquire()  # no lease to wait for
    path.unlink()  # someone removes the file: another scheduler could start now
    with pytest.raises(LockLost, match="removed or replaced"):
        successor.renew()
    successor.release()


def test_two_newsletters_on_one_state_folder_each_get_a_scheduler(tmp_path):
    clock = Clock(datetime(2025, 11, 26, 12, 0, tzinfo=UTC))
    energy = FileLock(lock_path(tmp_path, None, "Energy Brief"), "h:1:a", clock)
    peace = FileLock(lock_path(tmp_path, None, "Peace Brief"), "h:2:b", clock)
    again = FileLock(lock_path(tmp_path, None, "Peace Brief"), "h:3:c", clock)
    energy.acquire()
    peace.acquire()  # another newsletter: its own lock
    with pytest.raises(LockHeld, match="h:2:b"):
        again.acquire()
    # A state database at a sqlite:/// URL has its lock file beside it.
    elsewhere = lock_path(tmp_path, f"sqlite:///{tmp_path}/db/x.db", "Peace Brief")
    assert elsewhere == tmp_path / "db" / "scheduler-peace-brief.lock"
    energy.release()
    peace.release()


def test_a_running_row_of_a_dead_process_is_marked_crashed(tmp_path, state_url):
    now = datetime(2025, 11, 26, 12, 0, tzinfo=UTC)
    with state.connect(tmp_path, state_url) as engine:
        dead = f"{state.owner_token().split(':')[0]}:999999999:x"
        alive = state.owner_token()
        for owner in (dead, alive):
            runlog.start_run(
                engine, "N", now, trigger="manual", schedule=None, owner=owner, now=now
            )
        assert runlog.reap_crashed(engine, now=now, lease=timedelta(hours=1)) == 1
        results = [r.result for r in reversed(runlog.last_runs(engine, "N"))]
        assert results == ["crashed", "running"]


def test_migrations_apply_by_recorded_version(tmp_path):
    db = tmp_path / "state.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    legacy_schema.migrate(engine, (1,))  # a database made before migration 3 existed
    engine.dispose()
    with state.connect(tmp_path) as engine:
        assert sa.inspect(engine).has_table("runs")
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            assert list(versions) == [state.SCHEMA_VERSION]


def _record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("newsletter.run", level, __file__, 1, message, None, None)
    record.fields = fields(**extra)["fields"]
    return record


def test_log_lines_are_one_line_text_or_json():
    slot = datetime(2025, 11, 26, 7, tzinfo=KYIV)
    line = JsonFormatter().format(_record("issue #3 written", slot=slot, issue=3, path=None))
    document = json.loads(line)
    assert document["event"] == "issue #3 written"
    assert document["level"] == "info"
    assert document["slot"] == "2025-11-26T07:00:00+02:00"
    assert document["issue"] == 3
    assert "path" not in document
    text = TextFormatter().format(_record("seeds/x.md: skipped", logging.WARNING, slot=slot))
    assert "\n" not in text
    assert " warning: seeds/x.md: skipped slot=2025-11-26T07:00:00+02:00" in text


def test_status_reports_feed_health_from_the_feeds_table(project):
    from newsletter import status
    from newsletter.config import load_config
    from newsletter.sources.feedstate import FeedRecord, save_feeds

    toml = project / "newsletter.toml"
    toml.write_text(
        toml.read_text()
        + '\n[[feeds]]\nname = "OK Wire"\nurl = "https://ok.example/rss"\n'
        + '\n[[feeds]]\nname = "Gone Daily"\nurl = "https://gone.example/rss"\n'
    )
    config = load_config(toml)
    now = datetime(2025, 11, 26, 12, 0, tzinfo=UTC)
    state.open_engine(config.state_dir).dispose()  # status creates no database: upgrade first
    never = status.gather(config, now).feeds  # configured, nothing fetched yet
    assert [f["health"] for f in never] == ["never fetched", "never fetched"]
    fetched = datetime(2025, 11, 26, 11, 0, 0, 123456, tzinfo=UTC)
    with state.connect(config.state_dir) as engine:
        save_feeds(
            engine,
            [
                FeedRecord(
                    "https://ok.example/rss",
                    "OK Wire",
                    last_status=200,
                    etag="x",
                    last_fetched=fetched,
                    last_success=fetched,
                ),
                FeedRecord(
                    "https://gone.example/rss",
                    "Gone Daily",
                    last_status=404,
                    last_error="HTTP 404 Not Found",
                    consecutive_failures=9,
                    last_fetched=fetched,
                ),
            ],
        )
    report = status.gather(config, now)
    assert [f["name"] for f in report.feeds] == ["Gone Daily", "OK Wire"]  # broken first
    assert report.feeds[0]["last_error"] == "HTTP 404 Not Found"
    assert report.feeds[0]["health"] == "unhealthy" and report.feeds[0]["unhealthy"] is True
    assert "etag" not in report.feeds[0]
    text = status.to_text(report)
    assert "False" not in text and "True" not in text and ".123456" not in text
    lines = text.splitlines()
    (header,) = [line for line in lines if line.strip().startswith("health")]
    assert header.split() == [
        "health",
        "name",
        "last",
        "success",
        "status",
        "fails",
        "parsed",
        "too",
        "old",
        "stored",
        "last",
        "error",
        "/",
        "url",
    ]
    (gone,) = [line for line in lines if "Gone Daily" in line]
    assert gone.split()[:3] == ["unhealthy", "Gone", "Daily"] and "HTTP 404 Not Found" in gone
    (ok,) = [line for line in lines if "OK Wire" in line]
    assert "2025-11-26 11:00" in ok


def test_a_failed_claim_that_wrote_nothing_gives_its_number_back(tmp_path, state_url):
    now = datetime(2025, 11, 26, 12, 0, tzinfo=UTC)
    with state.connect(tmp_path, state_url) as engine:
        owner = state.owner_token()
        abandoned = state.claim_issue(engine, "N", "slot-a", owner=owner, now=now)
        assert isinstance(abandoned, state.Claimed) and abandoned.record.number == 1
        state.release_issue(engine, abandoned.record, "failed", "stopped", written=False)

        later = state.claim_issue(engine, "N", "slot-b", owner=owner, now=now)
        assert isinstance(later, state.Claimed) and later.record.number == 1  # no gap
        retry = state.claim_issue(engine, "N", "slot-a", owner=owner, now=now)
        assert isinstance(retry, state.Claimed) and retry.taken_over
        assert retry.record.number == 2

        kept = state.claim_issue(engine, "N", "slot-c", owner=owner, now=now)
        assert isinstance(kept, state.Claimed)
        state.release_issue(engine, kept.record, "failed", "finish failed", written=True)
        again = state.claim_issue(engine, "N", "slot-c", owner=owner, now=now)
        assert isinstance(again, state.Claimed) and again.record.number == 3  # its folder's
