"""The sensors' pure decisions: the watermark cursor and the dates of a Glue run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b3_assets.refine.watermark import Watermark
from b3_contract.glue_runs import glue_run_dates, started_by_dagster

T0 = datetime(2025, 7, 14, 12, tzinfo=UTC)


def select(mark: Watermark, items: list[tuple[int, str]]):
    fresh, new_mark = mark.select(items, lambda i: T0 + timedelta(seconds=i[0]), lambda i: i[1])
    return [ident for _, ident in fresh], new_mark


def test_items_at_the_watermark_instant_are_not_lost_or_repeated():
    fresh, mark = select(Watermark(), [(1, "a"), (2, "b"), (2, "c")])
    assert fresh == ["a", "b", "c"]
    assert mark == Watermark(T0 + timedelta(seconds=2), frozenset({"b", "c"}))
    # another object lands in the same second as b and c
    fresh, mark = select(mark, [(1, "a"), (2, "b"), (2, "c"), (2, "d")])
    assert fresh == ["d"] and mark.ids == {"b", "c", "d"}
    fresh, mark2 = select(mark, [(1, "a"), (2, "b"), (2, "c"), (2, "d")])
    assert fresh == [] and mark2 == mark
    assert Watermark.parse(mark.serialize()) == mark


@given(st.lists(st.tuples(st.integers(0, 20), st.text("abcdef", min_size=1, max_size=3))))
def test_every_item_is_selected_exactly_once_however_the_listings_grow(items):
    """Items appear over time (in order of their moment); each poll sees all so far."""
    seen: list[tuple[int, str]] = []
    mark = Watermark()
    unique = sorted(set(items))
    for moment in range(21):
        listing = [item for item in unique if item[0] <= moment]
        fresh, mark = mark.select(
            listing, lambda i: T0 + timedelta(seconds=i[0]), lambda i: i[1] + str(i[0])
        )
        seen += fresh
        mark = Watermark.parse(mark.serialize())  # as the sensor stores and reloads it
    assert sorted(seen) == unique


def test_an_unreadable_cursor_is_named():
    with pytest.raises(ValueError, match="unreadable sensor cursor"):
        Watermark.parse("{not json")


def test_glue_run_dates_and_origin():
    run = {"Id": "jr_1", "Arguments": {"--dates": "2025-07-15,2025-07-14,2025-07-14"}}
    assert glue_run_dates(run) == [date(2025, 7, 14), date(2025, 7, 15)]
    assert not started_by_dagster(run)
    assert started_by_dagster({"Arguments": {"--dagster-pipes-context": "e30="}})
    with pytest.raises(ValueError, match=r"jr_2 has a bad --dates entry '\.\./x'"):
        glue_run_dates({"Id": "jr_2", "Arguments": {"--dates": "2025-07-14,../x"}})
    with pytest.raises(ValueError, match="no --dates"):
        glue_run_dates({"Id": "jr_3"})


def test_runs_refining_names_active_runs_of_the_same_dates_and_bucket() -> None:
    from b3_contract.glue_runs import runs_refining

    def run(run_id, state, dates, bucket="b"):
        return {"Id": run_id, "JobRunState": state,
                "Arguments": {"--dates": dates, "--bucket": bucket}}  # fmt: skip

    runs = [
        run("jr_1", "RUNNING", "2025-07-11,2025-07-14"),
        run("jr_2", "SUCCEEDED", "2025-07-14"),
        run("jr_3", "STARTING", "2025-07-14", bucket="other"),
        run("jr_4", "WAITING", "2025-07-15"),
        run("jr_5", "RUNNING", "not-a-date"),
        run("jr_6", "STOPPING", "2025-07-15,2025-07-16"),
    ]
    days = [date(2025, 7, 14), date(2025, 7, 16)]
    assert runs_refining(runs, days, "b") == {
        "jr_1": [date(2025, 7, 14)],
        "jr_6": [date(2025, 7, 16)],
    }
    assert runs_refining(runs, [date(2025, 7, 17)], "b") == {}
