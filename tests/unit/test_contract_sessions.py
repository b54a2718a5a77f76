"""b3_contract.sessions, the Glue job's copy of B3's calendar (it installs no exchange_calendars):
equal to exchange_calendars' BVMF sessions over the whole copy, so an edit of either side fails
here; a day past the copy is refused with the refresh command, never taken for a holiday."""

from __future__ import annotations

from datetime import date, timedelta

import exchange_calendars as xcals
import pandas as pd
import pytest

from b3_assets import calendar_contract
from b3_assets.source import trading_calendar
from b3_contract import sessions, sessions_data


def test_the_copy_holds_exactly_exchange_calendars_bvmf_sessions_over_its_whole_range() -> None:
    calendar = xcals.get_calendar(
        "BVMF", start=pd.Timestamp(sessions.FIRST_DAY), end=pd.Timestamp(sessions.LAST_DAY)
    )
    expected = [session.date() for session in calendar.sessions]
    assert expected[0] == sessions.FIRST_DAY == date(2000, 1, 3)
    assert expected[-1] == sessions.LAST_DAY  # the copy ends on a session
    assert sessions.sessions_between(sessions.FIRST_DAY, sessions.LAST_DAY) == expected


def test_the_copy_is_what_the_write_command_renders_from_the_code_locations_calendar() -> None:
    """The module's text is the generator's for its own last day: a hand edit (a date added,
    removed or moved) fails here and `python -m b3_assets.calendar_contract --check`."""
    text = calendar_contract.DATA.read_text(encoding="utf-8")
    assert calendar_contract.render(sessions.LAST_DAY) == text
    assert calendar_contract.main(["--check"]) == 0
    assert trading_calendar.calendar_end() >= sessions.LAST_DAY


def test_check_names_a_copy_that_disagrees_with_the_calendar(monkeypatch, tmp_path, capsys) -> None:
    edited = calendar_contract.DATA.read_text(encoding="utf-8").replace('    "2025-03-04",\n', "")
    assert '"2025-03-03"' in edited and '"2025-03-04"' not in edited
    stale = tmp_path / "sessions_data.py"
    stale.write_text(edited, encoding="utf-8")
    monkeypatch.setattr(calendar_contract, "DATA", stale)
    assert calendar_contract.main(["--check"]) == 1
    assert "run python -m b3_assets.calendar_contract" in capsys.readouterr().out
    assert stale.read_text(encoding="utf-8") == edited  # --check writes nothing


@pytest.mark.parametrize(
    "day", [date(2025, 3, 3), date(2025, 3, 4), date(2024, 11, 20), date(2025, 12, 25)]
)
def test_carnival_black_consciousness_day_and_christmas_are_not_sessions(day: date) -> None:
    assert day.weekday() < 5  # weekdays: only the data says B3 is closed
    assert not sessions.is_session(day)
    assert day.isoformat() in sessions_data.NON_SESSION_WEEKDAYS


def test_the_sessions_across_carnival_2025() -> None:
    assert sessions.sessions_between(date(2025, 2, 28), date(2025, 3, 5)) == [
        date(2025, 2, 28),
        date(2025, 3, 5),  # Ash Wednesday trades (from 13:00)
    ]
    assert sessions.is_session(date(2025, 2, 28)) and sessions.is_session(date(2025, 3, 5))
    assert not sessions.is_session(date(2025, 3, 1))  # a Saturday


@pytest.mark.parametrize(
    ("quadrimester", "first"),
    [
        ("2025-01", date(2025, 1, 2)),  # Jan 1 is a holiday
        ("2025-05", date(2025, 5, 2)),  # May 1 is a holiday
        ("2025-09", date(2025, 9, 1)),
        ("2022-05", date(2022, 5, 2)),  # May 1 a Sunday
        ("2000-05", date(2000, 5, 2)),  # the calendar's first quadrimester start
        ("2000-01", None),  # Jan 1 2000 is before the calendar: on both sides
    ],
)
def test_the_first_session_of_a_quadrimester(quadrimester: str, first: date | None) -> None:
    assert sessions.first_session(quadrimester) == first
    assert trading_calendar.first_session(quadrimester) == first  # the code location's answer


def test_the_last_session_of_a_quadrimester() -> None:
    """The session before the next quadrimester's first: what the previews compare up to."""
    april = sessions.sessions_between(date(2025, 1, 1), date(2025, 4, 30))
    assert april[-1] == date(2025, 4, 30)
    december = sessions.sessions_between(date(2024, 9, 1), date(2024, 12, 31))
    assert december[-1] == date(2024, 12, 30)  # B3 does not trade on Dec 31
    assert december[0] == sessions.first_session("2024-09") == date(2024, 9, 2)


def test_no_quadrimester_and_days_before_the_calendar_have_no_session() -> None:
    assert sessions.first_session("2025-03") is None
    assert sessions.first_session("1999-09") is None
    assert sessions.sessions_between(date(1999, 12, 1), date(2000, 1, 4)) == [
        date(2000, 1, 3),
        date(2000, 1, 4),
    ]


def test_a_day_past_the_copy_is_refused_naming_the_refresh_command() -> None:
    past = sessions.LAST_DAY + timedelta(days=1)
    for ask in (
        lambda: sessions.sessions_between(date(2025, 1, 1), past),
        lambda: sessions.is_session(past),
        lambda: sessions.require_known(past),
    ):
        with pytest.raises(sessions.CalendarEndError) as refused:
            ask()
        message = str(refused.value)
        assert f"{past} is past the B3 calendar shipped in b3_contract" in message
        assert "python -m b3_assets.calendar_contract" in message
        assert "b3 deploy --code-only" in message
    assert isinstance(refused.value, ValueError)
    after = f"{sessions.LAST_DAY.year + 1}-01"  # its first session lies past the copy
    with pytest.raises(sessions.CalendarEndError, match="python -m b3_assets.calendar_contract"):
        sessions.first_session(after)
    assert sessions.sessions_between(sessions.LAST_DAY, sessions.LAST_DAY) == [sessions.LAST_DAY]
    sessions.require_known(sessions.LAST_DAY)  # the last day itself is known
