"""B3's sessions for the Glue job, without exchange_calendars: the data of `sessions_data`.

The Glue job counts B3's sessions (the analytics' `pregoes`, a quadrimester's first session) but
installs nothing at start, so it reads this stdlib copy of the code location's calendar
(b3_assets.source.trading_calendar, exchange_calendars' BVMF), written by `REFRESH_COMMAND` and
checked equal to exchange_calendars by tests/unit/test_contract_sessions.py. The copy ends on a
known day (`LAST_DAY`); a question past it raises `CalendarEndError` naming the refresh, because
treating an unknown day as a holiday would silently miscount `pregoes_desde_anterior`.
Standard library only.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, timedelta
from functools import cache

from b3_contract import sessions_data
from b3_contract.previews import quadrimester_start

REFRESH_COMMAND = "python -m b3_assets.calendar_contract"
FIRST_DAY = date.fromisoformat(sessions_data.FIRST_DAY)
LAST_DAY = date.fromisoformat(sessions_data.LAST_DAY)


class CalendarEndError(ValueError):
    """A day past the shipped calendar: refresh it and redeploy the job code."""


def _past_end(day: date) -> CalendarEndError:
    return CalendarEndError(
        f"{day} is past the B3 calendar shipped in b3_contract (sessions {FIRST_DAY} to "
        f"{LAST_DAY}): refresh it with `{REFRESH_COMMAND}` and deploy the job code again "
        "(`b3 deploy --code-only`)"
    )


def require_known(day: date) -> None:
    """CalendarEndError when `day` is past LAST_DAY: a job refuses such a unit before it
    writes anything, rather than fail half-way at the analytics."""
    if day > LAST_DAY:
        raise _past_end(day)


@cache
def _sessions() -> tuple[date, ...]:
    """Every session from FIRST_DAY to LAST_DAY: the weekdays that are not B3 holidays."""
    closed = frozenset(date.fromisoformat(day) for day in sessions_data.NON_SESSION_WEEKDAYS)
    days = (FIRST_DAY + timedelta(n) for n in range((LAST_DAY - FIRST_DAY).days + 1))
    return tuple(day for day in days if day.weekday() < 5 and day not in closed)


def sessions_between(first: date, last: date) -> list[date]:
    """B3's sessions in [first, last], both inclusive (what trading_days answers locally).

    Days before 2000-01-03 hold no session; `last` past LAST_DAY raises CalendarEndError.
    """
    require_known(last)
    sessions = _sessions()
    return list(sessions[bisect_left(sessions, first) : bisect_right(sessions, last)])


def is_session(day: date) -> bool:
    """Whether B3 trades on `day`; CalendarEndError past LAST_DAY."""
    return sessions_between(day, day) == [day]


def first_session(quadrimester: str) -> date | None:
    """B3's first session of a quadrimester ('2025-09'): its rebalance, moved by a holiday on
    the 1st. None for a label that is no quadrimester or one before the calendar;
    CalendarEndError when the calendar ends before that session."""
    try:
        start = quadrimester_start(quadrimester)
    except ValueError:
        return None
    if start < FIRST_DAY:
        return None
    sessions = _sessions()
    position = bisect_left(sessions, start)
    if position == len(sessions):  # no session from `start` to LAST_DAY: not known yet
        raise _past_end(start)
    return sessions[position]
