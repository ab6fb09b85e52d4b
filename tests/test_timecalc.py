"""Time maths the journeys rely on: business days, quiet hours across midnight and zones."""

from datetime import UTC, date, datetime, time

from policies.durations import Duration
from policies.schema import QuietHours, Weekday
from workflows.timecalc import add_duration, end_of_local_day, quiet_until, zone

WEEKDAYS = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]
NY = zone("America/New_York")


def test_business_days_skip_the_weekend_and_keep_local_time() -> None:
    friday_10_ny = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 10:00 in New York
    due = add_duration(friday_10_ny, Duration(2, "bd"), tz=NY, business_days=WEEKDAYS)
    assert due == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 New York


def test_business_days_skip_holidays() -> None:
    wednesday = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    due = add_duration(wednesday, Duration(1, "bd"), tz=NY, business_days=WEEKDAYS, holidays=[date(2026, 11, 26)])
    assert due == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # Thanksgiving skipped


def test_calendar_durations_ignore_business_days() -> None:
    start = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert add_duration(start, Duration(36, "h"), tz=NY) == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_quiet_hours_across_midnight_defer_to_local_morning() -> None:
    night = QuietHours(start=time(21, 0), end=time(8, 0))
    at_2230_ny = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)
    assert quiet_until(at_2230_ny, night, NY) == datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
    at_0300_ny = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert quiet_until(at_0300_ny, night, NY) == datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
    at_noon_ny = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
    assert quiet_until(at_noon_ny, night, NY) is None


def test_quiet_hours_within_a_day() -> None:
    lunch = QuietHours(start=time(12, 0), end=time(13, 0))
    assert quiet_until(datetime(2026, 11, 21, 12, 30, tzinfo=UTC), lunch, zone("UTC")) == datetime(
        2026, 11, 21, 13, 0, tzinfo=UTC
    )
    assert quiet_until(datetime(2026, 11, 21, 13, 0, tzinfo=UTC), lunch, zone("UTC")) is None


def test_end_of_local_day_and_unknown_zone_fallback() -> None:
    assert end_of_local_day(datetime(2026, 11, 21, 17, 0, tzinfo=UTC), NY) == datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    assert zone("Mars/Olympus", "Europe/Berlin").key == "Europe/Berlin"
