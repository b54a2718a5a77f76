from datetime import date, datetime, timedelta

import exchange_calendars as xcals
import pandas as pd
import pytest

from b3_assets.defs.partitions import trading_date_partitions
from b3_assets.source.trading_calendar import (
    B3_TIMEZONE,
    FIRST_DATE,
    calendar_end,
    current_session,
    holidays,
    is_trading_day,
    next_trading_day,
    non_trading_kind,
    previous_session,
    trading_days,
)


def test_b3_holidays_of_2025() -> None:
    days = holidays(date(2025, 1, 1), date(2025, 12, 31))
    for holiday in [
        "2025-01-01",
        "2025-03-03",
        "2025-03-04",
        "2025-04-18",
        "2025-04-21",
        "2025-05-01",
        "2025-06-19",
        "2025-11-20",
        "2025-12-24",
        "2025-12-25",
    ]:
        assert date.fromisoformat(holiday) in days
    assert len(trading_days(date(2025, 1, 1), date(2025, 12, 31))) == 250


def test_partitions_exclude_weekends_and_holidays() -> None:
    keys = set(
        trading_date_partitions.get_partition_keys(
            current_time=datetime(2025, 12, 31, 12, tzinfo=B3_TIMEZONE)
        )
    )
    assert {"2025-07-14", "2025-07-11", "2025-03-05", "2025-11-21"} <= keys
    for excluded in [
        "2025-11-20",
        "2025-03-03",
        "2025-03-04",
        "2025-07-12",
        "2025-07-13",
        "2025-01-01",
        "2025-12-25",
    ]:
        assert excluded not in keys
    assert len({k for k in keys if k.startswith("2025")}) == 250  # every 2025 session
    assert min(keys) == "2000-01-03"  # the first BVMF session
    assert max(keys) == "2026-01-05"  # end_offset=2: the next two sessions are already there


def test_the_served_session_is_already_a_partition() -> None:
    saturday = datetime(2025, 7, 12, 10, tzinfo=B3_TIMEZONE)
    assert current_session(saturday) == date(2025, 7, 14)
    assert "2025-07-14" in trading_date_partitions.get_partition_keys(current_time=saturday)


def test_the_calendar_starts_with_the_first_bvmf_session() -> None:
    assert date(2000, 1, 3) == FIRST_DATE
    assert is_trading_day(date(2000, 1, 3))
    assert non_trading_kind(date(2000, 1, 3)) is None
    assert trading_days(date(1999, 1, 1), date(2000, 1, 5)) == [
        date(2000, 1, 3),
        date(2000, 1, 4),
        date(2000, 1, 5),
    ]
    assert calendar_end() > date(2026, 8, 3)  # the newest fixture is inside


@pytest.mark.parametrize("day", [date(1999, 12, 30), date(2000, 1, 2), date(1990, 6, 1)])
def test_before_the_calendar_is_a_clear_error(day: date) -> None:
    for ask in (is_trading_day, non_trading_kind, next_trading_day):
        with pytest.raises(ValueError) as caught:
            ask(day)
        assert str(caught.value).startswith(
            f"{day} is outside B3's calendar (2000-01-03 to {calendar_end()}"
        )


def test_after_the_calendar_is_a_clear_error() -> None:
    after = calendar_end() + timedelta(days=1)
    with pytest.raises(ValueError, match=f"{after} is outside B3's calendar \\(2000-01-03 to "):
        is_trading_day(after)


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (date(2025, 3, 4), "a B3 holiday"),  # Carnival Tuesday
        (date(2024, 12, 31), "a B3 holiday"),  # B3 closes on the last day of the year
        (date(2001, 2, 27), "a B3 holiday"),  # Carnival 2001
        (date(2000, 12, 25), "a B3 holiday"),
        (date(2025, 7, 12), "a weekend"),
        (date(2000, 1, 8), "a weekend"),
        (date(2001, 1, 2), None),
        (date(2023, 6, 26), None),
        (date(2026, 8, 3), None),
    ],
)
def test_each_day_is_classified(day: date, kind: str | None) -> None:
    assert non_trading_kind(day) == kind
    assert is_trading_day(day) is (kind is None)


def test_the_fast_answers_agree_with_exchange_calendars_on_every_day() -> None:
    cal = xcals.get_calendar("BVMF", start=pd.Timestamp(FIRST_DATE))  # built independently
    day = FIRST_DATE
    while day <= calendar_end():
        session = bool(cal.is_session(pd.Timestamp(day)))
        assert is_trading_day(day) is session, day
        expected = cal.date_to_session(pd.Timestamp(day), direction="next").date()
        assert next_trading_day(day) == expected, day
        day += timedelta(days=1)
    assert trading_days(FIRST_DATE, calendar_end()) == [s.date() for s in cal.sessions]


def test_holidays_since_2000_are_weekdays_without_a_session() -> None:
    found = holidays(FIRST_DATE, calendar_end())
    assert len(found) > 250
    assert all(day.weekday() < 5 and not is_trading_day(day) for day in found)
    assert date(2000, 3, 7) in found  # Carnival 2000


def test_previous_session_is_the_last_one_before_today() -> None:
    monday = datetime(2025, 7, 14, 10, tzinfo=B3_TIMEZONE)
    assert previous_session(monday) == date(2025, 7, 11)
    assert previous_session(datetime(2025, 7, 12, 10, tzinfo=B3_TIMEZONE)) == date(2025, 7, 11)
    assert previous_session(datetime(2025, 3, 5, 9, tzinfo=B3_TIMEZONE)) == date(2025, 2, 28)
    assert previous_session(datetime(2000, 1, 4, 9, tzinfo=B3_TIMEZONE)) == date(2000, 1, 3)
    with pytest.raises(ValueError, match="no B3 session is known before 2000-01-03"):
        previous_session(datetime(2000, 1, 3, 9, tzinfo=B3_TIMEZONE))


def test_contiguous_ranges_follow_partitions_not_the_clock() -> None:
    from b3_assets.defs.partitions import contiguous_ranges

    days = [
        date.fromisoformat(d)
        for d in [
            "2025-03-12",
            "2025-02-20",
            "2025-03-05",
            "2025-03-06",
            "2025-03-11",
            "2025-02-24",
        ]
    ]
    assert contiguous_ranges(days) == [
        (date(2025, 2, 20), date(2025, 2, 20)),
        (date(2025, 2, 24), date(2025, 2, 24)),
        (date(2025, 3, 5), date(2025, 3, 6)),
        (date(2025, 3, 11), date(2025, 3, 12)),
    ]
    assert contiguous_ranges([date(2025, 2, 28), date(2025, 3, 5)]) == [
        (date(2025, 2, 28), date(2025, 3, 5))  # Carnival Mon/Tue are no partitions
    ]
    with pytest.raises(ValueError, match="not a trading-date partition"):
        contiguous_ranges([date(2025, 3, 3)])
