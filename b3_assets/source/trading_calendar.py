"""B3's trading calendar (exchange_calendars BVMF): which dates can hold a portfolio.

The calendar runs from FIRST_DATE (2000-01-03, the first BVMF session exchange_calendars holds)
to about a year ahead. It is built once; after that every question is answered from a frozenset
or a sorted tuple of sessions, so checking the dates of thousands of imported files is cheap.

This is the one rule of B3's sessions. The Glue job, which installs no exchange_calendars, reads
its copy in b3_contract/sessions_data.py, written from here by `python -m
b3_assets.calendar_contract` and tested equal to exchange_calendars.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import pandas as pd

from b3_contract.previews import current_quadrimester, quadrimester_start

B3_TIMEZONE = ZoneInfo("America/Sao_Paulo")
FIRST_DATE = date(2000, 1, 3)


@cache
def _calendar() -> xcals.ExchangeCalendar:
    return xcals.get_calendar("BVMF", start=pd.Timestamp(FIRST_DATE))


@cache
def _sessions() -> tuple[date, ...]:
    """Every session from FIRST_DATE to the calendar's end, ascending."""
    return tuple(session.date() for session in _calendar().sessions)


@cache
def _session_set() -> frozenset[date]:
    return frozenset(_sessions())


@cache
def calendar_end() -> date:
    return _sessions()[-1]


def _check_inside(day: date) -> None:
    if day < FIRST_DATE or day > calendar_end():
        raise ValueError(
            f"{day} is outside B3's calendar ({FIRST_DATE} to {calendar_end()}, the sessions "
            "of exchange_calendars' BVMF calendar)"
        )


def is_trading_day(day: date) -> bool:
    """True for a B3 session; ValueError names a day outside the calendar."""
    _check_inside(day)
    return day in _session_set()


def non_trading_kind(day: date) -> str | None:
    """None for a session, else why there is none: "a weekend" or "a B3 holiday".

    ValueError names a day outside the calendar.
    """
    if is_trading_day(day):
        return None
    return "a weekend" if day.weekday() >= 5 else "a B3 holiday"


def trading_days(start: date, end: date) -> list[date]:
    """Sessions in [start, end], both inclusive (the part of the range inside the calendar)."""
    sessions = _sessions()
    return list(sessions[bisect_left(sessions, start) : bisect_right(sessions, end)])


def holidays(start: date, end: date) -> list[date]:
    """Weekdays in [start, end] on which B3 does not trade (Carnival, Nov 20, Christmas...).

    Only the part of the range inside the calendar counts: beyond it nothing is known.
    """
    start, end = max(start, FIRST_DATE), min(end, calendar_end())
    sessions = _session_set()
    days = (start + timedelta(n) for n in range((end - start).days + 1))
    return [day for day in days if day.weekday() < 5 and day not in sessions]


def next_trading_day(day: date) -> date:
    """The first session on or after `day`."""
    _check_inside(day)
    sessions = _sessions()
    position = bisect_left(sessions, day)
    if position == len(sessions):
        raise ValueError(f"no B3 session is known on or after {day} (calendar ends {sessions[-1]})")
    return sessions[position]


def current_session(now: datetime | None = None) -> date:
    """The session whose portfolio B3 serves at `now`: today if it trades, else the next one.

    On a Saturday B3 already serves Monday's portfolio; on a trading day, that day's.
    """
    local = (now or datetime.now(B3_TIMEZONE)).astimezone(B3_TIMEZONE)
    return next_trading_day(local.date())


def previous_session(now: datetime | None = None) -> date:
    """The last session that ended before today in São Paulo: what must already be captured."""
    local = (now or datetime.now(B3_TIMEZONE)).astimezone(B3_TIMEZONE)
    today = local.date()
    _check_inside(today)
    sessions = _sessions()
    position = bisect_left(sessions, today)
    if position == 0:
        raise ValueError(f"no B3 session is known before {today} (calendar starts {sessions[0]})")
    return sessions[position - 1]


def first_session(quadrimester: str) -> date | None:
    """B3's first session of a quadrimester ('2025-09'): its rebalance, moved by a holiday on
    the 1st. None past the calendar."""
    try:
        return next_trading_day(quadrimester_start(quadrimester))
    except ValueError:
        return None


def is_rebalance_session(day: date) -> bool:
    """Whether `day` is the first session of its quadrimester (Jan, May or Sep)."""
    return first_session(current_quadrimester(day)) == day
