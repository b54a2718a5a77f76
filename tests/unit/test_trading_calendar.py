from datetime import date, datetime

import pytest

from b3_assets.defs.partitions import trading_date_partitions
from b3_assets.source.trading_calendar import (
    B3_TIMEZONE,
    current_session,
    holidays,
    is_trading_day,
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
    assert min(keys) == "2025-01-02"
    assert max(keys) == "2026-01-05"  # end_offset=2: the next two sessions are already there


def test_the_served_session_is_already_a_partition() -> None:
    saturday = datetime(2025, 7, 12, 10, tzinfo=B3_TIMEZONE)
    assert current_session(saturday) == date(2025, 7, 14)
    assert "2025-07-14" in trading_date_partitions.get_partition_keys(current_time=saturday)


def test_outside_the_calendar_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside B3's known calendar"):
        is_trading_day(date(2024, 12, 31))


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
