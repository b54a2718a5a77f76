"""b3_contract/sessions_data.py, written from the code location's calendar (exchange_calendars'
BVMF, b3_assets.source.trading_calendar): the Glue job's copy of B3's sessions, so that Glue
installs no exchange_calendars at start.

    python -m b3_assets.calendar_contract           # rewrite it, to the calendar's last session
    python -m b3_assets.calendar_contract --check   # exit 1 if it disagrees with the calendar

The data is the weekdays on which B3 does not trade, from 2000-01-03 to the calendar's last
session (exchange_calendars holds about a year ahead). `--check` compares over the data's own
range, so it fails on an edit of either side, not merely because a day has passed. Run the write
about once a year, or when the job refuses a date past the data, then `b3 deploy --code-only`.
"""

from __future__ import annotations

import argparse
import ast
import sys
from datetime import date
from pathlib import Path

from b3_assets.source.trading_calendar import FIRST_DATE, calendar_end, holidays

DATA = Path(__file__).resolve().parents[1] / "b3_contract" / "sessions_data.py"

HEADER = '''"""B3's sessions as data: the weekdays B3 does not trade, 2000-01-03 to LAST_DAY.

Written by `python -m b3_assets.calendar_contract` from exchange_calendars' BVMF calendar; do not
edit by hand (tests/unit/test_contract_sessions.py compares it with exchange_calendars). Read
through b3_contract.sessions.
"""
'''


def render(last_day: date) -> str:
    """The module's text for the calendar from FIRST_DATE to `last_day`, a session."""
    closed = "".join(f'    "{day.isoformat()}",\n' for day in holidays(FIRST_DATE, last_day))
    return (
        f"{HEADER}\n"
        f'FIRST_DAY = "{FIRST_DATE.isoformat()}"\n'
        f'LAST_DAY = "{last_day.isoformat()}"\n'
        f"NON_SESSION_WEEKDAYS = (\n{closed})\n"
    )


def written_last_day(text: str) -> date:
    """LAST_DAY of a written module, read without importing it."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["LAST_DAY"]:
            return date.fromisoformat(ast.literal_eval(node.value))
    raise ValueError(f"{DATA.name} has no LAST_DAY")


def main(argv: list[str] | None = None) -> int:
    """Writes the data to the calendar's last session, or with --check says whether the data
    equals the calendar over the data's range; 0 when it does."""
    parser = argparse.ArgumentParser(prog="python -m b3_assets.calendar_contract")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    name = DATA.relative_to(DATA.parents[1]).as_posix()
    if args.check:
        text = DATA.read_text(encoding="utf-8")
        if render(written_last_day(text)) != text:
            print(f"{name}: stale, run python -m b3_assets.calendar_contract")
            return 1
        return 0
    DATA.write_text(render(calendar_end()), encoding="utf-8")
    print(f"{name}: B3's sessions {FIRST_DATE} to {calendar_end()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
