"""The time maths the scenarios found missing: counting business days back, and when a dated EDD is missed."""

from datetime import UTC, date, datetime

from policies.durations import Duration
from policies.schema import Weekday
from workflows.timecalc import add_duration, edd_deadline, zone

WEEKDAYS = [Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI]
NY = zone("America/New_York")


def test_business_days_back_skip_the_weekend_and_holidays() -> None:
    monday_10_ny = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    back = add_duration(monday_10_ny, Duration(2, "bd"), tz=NY, business_days=WEEKDAYS, backwards=True)
    assert back == datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday 10:00 New York
    back = add_duration(
        monday_10_ny, Duration(2, "bd"), tz=NY, business_days=WEEKDAYS, holidays=[date(2026, 11, 26)], backwards=True
    )
    assert back == datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # Thanksgiving skipped
    assert add_duration(back, Duration(2, "bd"), tz=NY, business_days=WEEKDAYS) == datetime(
        2026, 11, 27, 15, 0, tzinfo=UTC
    )
    assert add_duration(monday_10_ny, Duration(3, "d"), tz=NY, backwards=True) == datetime(
        2026, 11, 27, 15, 0, tzinfo=UTC
    )


def test_a_dated_edd_is_missed_when_that_date_ends_where_the_parcel_goes() -> None:
    the_25th = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # how carriers send a bare date
    assert edd_deadline(the_25th, NY) == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)  # midnight ending the 25th, NY
    assert edd_deadline(the_25th, zone("Europe/Berlin")) == datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    timed = datetime(2026, 11, 25, 18, 30, tzinfo=UTC)
    assert edd_deadline(timed, NY) == timed  # a real moment is its own deadline
