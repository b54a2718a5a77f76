"""The sensors' cursor: each new item selected exactly once, across restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b3_assets.refine.watermark import Watermark

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
