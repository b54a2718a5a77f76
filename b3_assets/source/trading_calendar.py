"""B3's trading calendar (exchange_calendars BVMF): which dates can hold a portfolio."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd

B3_TIMEZONE = ZoneInfo("America/Sao_Paulo")
FIRST_DATE = date(2025, 1, 1)


@cache
def _calendar() -> xcals.ExchangeCalendar:
    return xcals.get_calendar("BVMF", start=pd.Timestamp(FIRST_DATE))


def calendar_end() -> date:
    return _calendar().last_session.date()


def is_trading_day(day: date) -> bool:
    if day < FIRST_DATE or day > calendar_end():
        raise ValueError(f"{day} is outside B3's known calendar ({FIRST_DATE} to {calendar_end()})")
    return bool(_calendar().is_session(pd.Timestamp(day)))


def non_trading_kind(day: date) -> str | None:
    """None for a session, else why there is none: "a weekend" or "a B3 holiday".

    ValueError names a day outside the known calendar.
    """
    if is_trading_day(day):
        return None
    return "a weekend" if day.weekday() >= 5 else "a B3 holiday"


def trading_days(start: date, end: date) -> list[date]:
    """Sessions in [start, end], both inclusive."""
    cal = _calendar()
    start, end = max(start, cal.first_session.date()), min(end, cal.last_session.date())
    if start > end:
        return []
    sessions = cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return [session.date() for session in sessions]


def holidays(start: date, end: date) -> list[date]:
    """Weekdays in [start, end] on which B3 does not trade (Carnival, Nov 20, Christmas...)."""
    sessions = set(trading_days(start, end))
    days = (start + timedelta(n) for n in range((end - start).days + 1))
    return [day for day in days if day.weekday() < 5 and day not in sessions]


def next_trading_day(day: date) -> date:
    """The first session on or after `day`."""
    session = _calendar().date_to_session(pd.Timestamp(day), direction="next")
    return session.date()


def current_session(now: datetime | None = None) -> date:
    """The session whose portfolio B3 serves at `now`: today if it trades, else the next one.

    On a Saturday B3 already serves Monday's portfolio; on a trading day, that day's.
    """
    local = (now or datetime.now(B3_TIMEZONE)).astimezone(B3_TIMEZONE)
    return next_trading_day(local.date())


def previous_session(now: datetime | None = None) -> date:
    """The last session that ended before today in São Paulo: what must already be captured."""
    local = (now or datetime.now(B3_TIMEZONE)).astimezone(B3_TIMEZONE)
    session = _calendar().date_to_session(pd.Timestamp(local.date()), direction="previous")
    day = session.date()
    return day if day < local.date() else _calendar().previous_session(session).date()
