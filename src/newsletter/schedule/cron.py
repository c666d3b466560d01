"""Cron expressions -> APScheduler triggers, and the fire times the scheduler reasons about.

Five fields are standard cron (minute hour day month weekday). Six fields put seconds first
(``*/5 * * * * *``): handy for tests and demos, never needed for a newsletter. Weekday numbers
follow cron (0 and 7 are Sunday); APScheduler 3.x counts 0 as Monday, so numbers are translated
to names before they reach it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC_PART = re.compile(r"^(\*|\d+(?:-\d+)?)(?:/(\d+))?$")
# Windows searched, smallest first, for the most recent fire time (seconds to a year).
_LOOKBACK = (
    timedelta(minutes=2),
    timedelta(hours=2),
    timedelta(days=2),
    timedelta(days=9),
    timedelta(days=32),
    timedelta(days=367),
)


def parse_cron(expression: str, zone: ZoneInfo) -> CronTrigger:
    """A trigger for a 5-field (or seconds-first 6-field) cron expression; ValueError if bad."""
    fields = expression.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(
            f"expected 5 cron fields (minute hour day month weekday), or 6 with seconds "
            f"first, got {len(fields)} in {expression!r}"
        )
    second, minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_cron_weekdays(weekday),
            timezone=zone,
        )
    except ValueError as e:
        raise ValueError(f"invalid cron expression {expression!r}: {e}") from None


def _cron_weekdays(field: str) -> str:
    """Translate cron weekday numbers (0/7 Sunday) into names APScheduler reads correctly."""
    parts = []
    for part in field.lower().split(","):
        match = _NUMERIC_PART.match(part)
        if not match or part == "*":
            parts.append(part)
            continue
        span, step = match.group(1), int(match.group(2) or 1)
        if span == "*":
            first, last = 0, 6
        else:
            first_text, _, last_text = span.partition("-")
            first, last = int(first_text), int(last_text or (7 if step > 1 else first_text))
        if not 0 <= first <= last <= 7 or step < 1:
            raise ValueError(f"weekday {part!r} is out of range 0-7 (0 and 7 are Sunday)")
        parts.extend(_DAYS[n] for n in range(first, last + 1, step))
    return ",".join(dict.fromkeys(parts))


def fire_times(trigger: CronTrigger, after: datetime, until: datetime) -> list[datetime]:
    """Every fire time in (after, until], oldest first."""
    times: list[datetime] = []
    previous: datetime | None = None
    moment = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while moment is not None and moment <= until:
        times.append(moment)
        previous = moment
        moment = trigger.get_next_fire_time(previous, previous + timedelta(microseconds=1))
    return times


def latest_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The most recent fire time at or before ``now`` (within a year), if any."""
    for window in _LOOKBACK:
        start = now - window
        first = trigger.get_next_fire_time(None, start)
        if first is None or first > now:
            continue
        # Skip ahead: fire times in the window are few except for seconds-level schedules,
        # whose smallest window is two minutes.
        times = fire_times(trigger, start - timedelta(microseconds=1), now)
        return times[-1] if times else None
    return None


def next_fires(trigger: CronTrigger, now: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``now``."""
    times: list[datetime] = []
    moment = trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
    while moment is not None and len(times) < count:
        times.append(moment)
        moment = trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))
    return times
