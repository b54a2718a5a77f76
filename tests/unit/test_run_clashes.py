"""Which units two Glue runs of the refine job must not write at once: the same unit, a unit of
the same index and month (carteira_historico is one file per index and month), and a unit with
no B3 session between them (one run rewrites the other's carteira_mudancas from its rows)."""

from __future__ import annotations

from datetime import UTC, datetime

from b3_contract.glue_runs import DAILY, PREVIEWS, clashes, describe_clashes, runs_clashing
from b3_contract.lake_keys import Unit

U = Unit.parse
BUCKET = "b3-lake-test"


def test_the_same_unit_and_the_same_month_clash_another_index_or_month_does_not() -> None:
    theirs = [U("IBOV/2025-07-14")]
    assert clashes([U("IBOV/2025-07-14")], theirs) == {U("IBOV/2025-07-14"): "the same unit"}
    assert clashes([U("IBOV/2025-07-01")], theirs) == {
        U("IBOV/2025-07-01"): "month IBOV/2025-07 of carteira_historico"
    }
    assert clashes([U("IBXX/2025-07-14"), U("IBOV/2025-06-16"), U("IBOV/2025-08-14")], theirs) == {}


def test_the_next_session_clashes_across_a_month_and_a_holiday_gap() -> None:
    """2025-07-31 (Thu) and 2025-08-01 (Fri): adjacent sessions of two months. 2025-02-28 (Fri)
    and 2025-03-05 (Wed, after Carnival's Mon and Tue and the weekend): still neighbours."""
    july = [U("IBOV/2025-07-31")]
    assert clashes([U("IBOV/2025-08-01")], july) == {
        U("IBOV/2025-08-01"): "next session IBOV/2025-07-31: carteira_mudancas"
    }
    assert clashes(july, [U("IBOV/2025-08-01")]) == {
        U("IBOV/2025-07-31"): "next session IBOV/2025-08-01: carteira_mudancas"
    }
    assert U("IBOV/2025-03-05") in clashes([U("IBOV/2025-03-05")], [U("IBOV/2025-02-28")])
    # one session (2025-08-01) between them: not neighbours, other months
    assert clashes([U("IBOV/2025-08-04")], july) == {}
    assert clashes([U("IBXX/2025-08-01")], july) == {}


def test_a_day_past_the_shipped_calendar_counts_as_a_neighbour() -> None:
    """Unknown sessions: the rule assumes the worst rather than let two runs race."""
    assert clashes([U("IBOV/2099-01-02")], [U("IBOV/2098-12-01")]) != {}


def job_run(run_id: str, units: str, state: str = "RUNNING", **arguments: str) -> dict:
    return {
        "Id": run_id,
        "JobRunState": state,
        "StartedOn": datetime(2025, 7, 14, tzinfo=UTC),
        "Arguments": {"--units": units, "--bucket": BUCKET, **arguments},
    }


def test_runs_clashing_counts_active_runs_of_the_bucket_and_mode_whenever_they_started() -> None:
    runs = [
        job_run("jr_month", "IBOV/2025-07-11,IBXX/2025-06-02"),
        job_run("jr_done", "IBOV/2025-07-10", state="SUCCEEDED"),
        job_run("jr_elsewhere", "IBOV/2025-07-09", **{"--bucket": "other"}),
        job_run("jr_preview", "IBOV/2025-07-14", **{"--refine": PREVIEWS}),
        job_run("jr_other", "SMLL/2025-07-14"),
    ]
    busy = runs_clashing(runs, [U("IBOV/2025-07-14"), U("IBXX/2025-07-14")], BUCKET, DAILY)
    assert busy == {"jr_month": {U("IBOV/2025-07-14"): "month IBOV/2025-07 of carteira_historico"}}
    assert describe_clashes(busy) == (
        "jr_month (IBOV/2025-07-14: month IBOV/2025-07 of carteira_historico)"
    )
    # a preview run clashes with a preview run of the same unit only
    previews = runs_clashing(runs, [U("IBOV/2025-07-14"), U("IBOV/2025-07-15")], BUCKET, PREVIEWS)
    assert previews == {"jr_preview": {U("IBOV/2025-07-14"): "the same unit"}}
