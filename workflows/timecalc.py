"""Pure time maths for journeys: policy durations, business days, quiet hours, in the right time zone.

No clock and no I/O: every function takes `now` or a start time, so workflows stay deterministic and
these can be tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from policies.durations import Duration
from policies.schema import QuietHours, Weekday


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The customer's zone, else the merchant's; an unknown name falls back instead of failing a journey."""
    for candidate in (name, fallback, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def add_duration(
    start: datetime,
    duration: Duration,
    *,
    tz: ZoneInfo,
    business_days: Iterable[Weekday] = (),
    holidays: Iterable[date] = (),
    backwards: bool = False,
) -> datetime:
    """`start` plus a policy duration (minus, `backwards`). Business days keep the local time of day and skip
    weekends/holidays (counting back over them, backwards)."""
    return _shift(start, duration, -1 if backwards else 1, tz, business_days, holidays)


def _shift(
    start: datetime,
    duration: Duration,
    direction: int,
    tz: ZoneInfo,
    business_days: Iterable[Weekday],
    holidays: Iterable[date],
) -> datetime:
    if not duration.business_days:
        return start + direction * duration.as_timedelta()
    workdays = {d.number for d in business_days}
    if not workdays:
        raise ValueError("business days are undefined: the policy lists no business_days")
    closed = set(holidays)
    local = start.astimezone(tz)
    day, remaining = local.date(), duration.amount
    while remaining > 0:
        day += timedelta(days=direction)
        if day.weekday() in workdays and day not in closed:
            remaining -= 1
    result = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=tz)
    return result.astimezone(UTC)


def quiet_until(now: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime | None:
    """When quiet hours end if `now` falls inside them (local to `tz`), else None: send now."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    crosses_midnight = quiet.start > quiet.end
    inside = (t >= quiet.start or t < quiet.end) if crosses_midnight else (quiet.start <= t < quiet.end)
    if not inside:
        return None
    end_day = local.date()
    if crosses_midnight and t >= quiet.start:
        end_day += timedelta(days=1)
    return _local_to_utc(end_day, quiet.end, tz)


def end_of_local_day(moment: datetime, tz: ZoneInfo) -> datetime:
    """The last instant of `moment`'s local date: an EDD given as a date is missed only after that day."""
    local = moment.astimezone(tz)
    return _local_to_utc(local.date() + timedelta(days=1), time(0, 0), tz)


def edd_deadline(edd: datetime, tz: ZoneInfo) -> datetime:
    """When an estimated delivery counts as missed: the EDD itself, or for a date-only EDD (midnight UTC,
    as carriers send a bare date) the end of that calendar date in `tz`, the delivery address's zone.

    The date is read as given, not converted: 2026-11-25T00:00Z means "the 25th" everywhere, and in New
    York the 25th ends at 2026-11-26T05:00Z (converting first would make it the 24th's evening).
    """
    if not is_date_only(edd):
        return edd
    return _local_to_utc(edd.astimezone(UTC).date() + timedelta(days=1), time(0, 0), tz)


def is_date_only(moment: datetime) -> bool:
    """Carriers often send an EDD as a date: midnight exactly, UTC."""
    utc = moment.astimezone(UTC)
    return utc.hour == utc.minute == utc.second == utc.microsecond == 0


def _local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
