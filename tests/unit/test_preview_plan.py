"""Quadrimesters and the preview refine's plan (b3_contract.previews): which change lists a run
rewrites and which pairs they compare."""

from datetime import date

import pytest

from b3_contract.lake_keys import (
    Unit,
    preview_key_unit,
    preview_object_key,
    raw_key_unit,
    raw_object_key,
)
from b3_contract.previews import (
    Comparison,
    current_quadrimester,
    next_quadrimester,
    plan_previews,
    quadrimester_label,
    quadrimester_start,
)

FIRST = {"2025-05": date(2025, 5, 2), "2025-09": date(2025, 9, 1), "2026-01": date(2026, 1, 2)}


def first_session(label: str) -> date | None:
    return FIRST.get(label)


def unit(text: str) -> Unit:
    return Unit.parse(text)


@pytest.mark.parametrize(
    ("day", "current", "following"),
    [
        (date(2025, 1, 2), "2025-01", "2025-05"),
        (date(2025, 4, 30), "2025-01", "2025-05"),
        (date(2025, 5, 2), "2025-05", "2025-09"),
        (date(2025, 8, 29), "2025-05", "2025-09"),
        (date(2025, 9, 1), "2025-09", "2026-01"),
        (date(2025, 12, 30), "2025-09", "2026-01"),
    ],
)
def test_a_session_lies_in_one_quadrimester_and_forecasts_the_next(day, current, following) -> None:
    assert current_quadrimester(day) == current
    assert next_quadrimester(day) == following
    assert quadrimester_start(following) > day >= quadrimester_start(current)


@pytest.mark.parametrize("label", ["2025-02", "2025-9", "2025-13", "abcd-01", "2025-09-01"])
def test_a_label_that_is_not_a_quadrimester_is_refused(label) -> None:
    with pytest.raises(ValueError, match="is not a quadrimester"):
        quadrimester_start(label)


def test_a_day_that_does_not_start_a_quadrimester_has_no_label() -> None:
    assert quadrimester_label(date(2023, 9, 1)) == "2023-09"
    with pytest.raises(ValueError, match="not the first day of a quadrimester"):
        quadrimester_label(date(2023, 9, 4))


def test_preview_keys_are_not_raw_keys() -> None:
    u = unit("IBOV/2025-08-20")
    key = preview_object_key(u)
    assert key == "previa/raw/IBOV/2025-08-20/dados_originais.parquet"
    assert preview_key_unit(key) == u and raw_key_unit(key) is None
    assert preview_key_unit(raw_object_key(u)) is None
    assert preview_key_unit("previa/raw/IBOV/2025-02-30/dados_originais.parquet") is None
    assert preview_key_unit("previa/raw/IBOV/2025-08-20/other.parquet") is None


def test_a_preview_is_compared_with_the_latest_daily_session_up_to_it() -> None:
    plan = plan_previews(
        [unit("IBOV/2025-08-20")],
        fresh=[unit("IBOV/2025-08-20")],
        stored={},
        daily={"IBOV": [date(2025, 8, 15), date(2025, 8, 21)]},
        first_session=first_session,
    )
    assert plan.units == (unit("IBOV/2025-08-20"),)
    assert plan.changes == (unit("IBOV/2025-08-20"),)
    assert plan.comparisons == (
        Comparison(unit("IBOV/2025-08-20"), "previa", "2025-09", date(2025, 8, 15)),
    )
    assert plan.daily_read == (unit("IBOV/2025-08-15"),)
    assert plan.previews_read == ()


def test_no_daily_session_before_means_no_comparison() -> None:
    plan = plan_previews(
        [unit("IBOV/2025-08-20")],
        [unit("IBOV/2025-08-20")],
        {},
        {"IBOV": [date(2025, 8, 21)]},
        first_session,
    )
    assert plan.comparisons == () and plan.daily_read == ()


def test_the_rebalance_session_compares_the_last_preview_with_what_b3_started() -> None:
    """A run of the first session of Sep (no preview that day) rewrites the change list of the
    last preview before it (and the one before that) and gives the last one 'realizada'."""
    stored = {"IBOV": [date(2025, 8, 20), date(2025, 8, 27), date(2025, 8, 29)]}
    daily = {"IBOV": [date(2025, 8, 20), date(2025, 8, 27), date(2025, 8, 29), date(2025, 9, 1)]}
    plan = plan_previews([unit("IBOV/2025-09-01")], [], stored, daily, first_session)
    assert plan.changes == tuple(
        map(unit, ["IBOV/2025-08-27", "IBOV/2025-08-29", "IBOV/2025-09-01"])
    )
    assert set(plan.comparisons) == {
        Comparison(unit("IBOV/2025-08-27"), "previa", "2025-09", date(2025, 8, 27)),
        Comparison(unit("IBOV/2025-08-29"), "previa", "2025-09", date(2025, 8, 29)),
        Comparison(unit("IBOV/2025-08-29"), "realizada", "2025-09", date(2025, 9, 1)),
    }
    assert plan.previews_read == tuple(map(unit, ["IBOV/2025-08-27", "IBOV/2025-08-29"]))
    assert unit("IBOV/2025-09-01") in plan.daily_read


def test_a_later_preview_takes_the_realized_comparison_from_the_earlier_last_one() -> None:
    """A quadrimester download imported after the rebalance lands on the last session before it:
    it becomes the last preview, and the one that was last loses 'realizada'."""
    stored = {"IBOV": [date(2025, 8, 27)]}
    daily = {"IBOV": [date(2025, 8, 27), date(2025, 9, 1)]}
    run = unit("IBOV/2025-08-29")
    plan = plan_previews([run], [run], stored, daily, first_session)
    assert plan.changes == (unit("IBOV/2025-08-27"), run)
    realized = [c for c in plan.comparisons if c.comparison == "realizada"]
    assert realized == [Comparison(run, "realizada", "2025-09", date(2025, 9, 1))]


def test_without_the_rebalance_captured_there_is_no_realized_comparison() -> None:
    run = unit("IBOV/2025-08-29")
    plan = plan_previews([run], [run], {}, {"IBOV": [date(2025, 8, 29)]}, first_session)
    assert [c.comparison for c in plan.comparisons] == ["previa"]


def test_a_run_unit_without_a_preview_now_is_not_compared() -> None:
    """A session whose preview went (its object holds none) is rewritten empty, and the others
    of its quadrimester are planned without it."""
    stored = {"IBOV": [date(2025, 8, 27), date(2025, 8, 29)]}
    daily = {"IBOV": [date(2025, 8, 27), date(2025, 8, 29), date(2025, 9, 1)]}
    run = unit("IBOV/2025-08-29")
    plan = plan_previews([run], [], stored, daily, first_session)
    assert run in plan.changes
    assert all(c.unit != run for c in plan.comparisons)
    assert Comparison(unit("IBOV/2025-08-27"), "realizada", "2025-09", date(2025, 9, 1)) in (
        plan.comparisons
    )


def test_indices_are_planned_apart() -> None:
    runs = [unit("IBOV/2025-08-29"), unit("SMLL/2025-08-29")]
    plan = plan_previews(
        runs, [runs[0]], {"SMLL": [date(2025, 8, 20)]}, {"IBOV": [], "SMLL": []}, first_session
    )
    assert set(plan.changes) == {*runs, unit("SMLL/2025-08-20")}
    assert plan.comparisons == ()


def test_fresh_previews_must_belong_to_the_run() -> None:
    with pytest.raises(ValueError, match="fresh previews must be units of the run"):
        plan_previews([unit("IBOV/2025-08-29")], [unit("IBOV/2025-08-28")], {}, {}, first_session)
    with pytest.raises(ValueError, match="no preview units"):
        plan_previews([], [], {}, {}, first_session)
