"""Invariants of the offline sample B3 portfolio generator."""

import datetime
import re
from decimal import Decimal

import pytest

from b3_assets.testing.sample import sample_portfolio

DATES = [
    datetime.date(2025, 1, 2),
    datetime.date(2025, 3, 31),
    datetime.date(2025, 5, 2),
    datetime.date(2025, 7, 14),
    datetime.date(2025, 9, 1),
    datetime.date(2025, 12, 30),
]
PART_RE = re.compile(r"^\d{1,3}(\.\d{3})*,\d{3}$")
QTY_RE = re.compile(r"^\d{1,3}(\.\d{3})*$")
REDUCTOR_RE = re.compile(r"^\d{1,3}(\.\d{3})*,\d{8}$")
# B3 roots are 4 alphanumerics (B3SA3), so the root allows digits after the first letter.
TICKER_RE = re.compile(r"^[A-Z][A-Z0-9]{3}\d{1,2}$")


def br(value: str) -> Decimal:
    return Decimal(value.replace(".", "").replace(",", "."))


@pytest.fixture(params=[(d, s) for d in DATES for s in (1, 2)], ids=lambda p: f"{p[0]}-seg{p[1]}")
def case(request):
    trading_date, segment = request.param
    return trading_date, segment, sample_portfolio(trading_date, segment=segment)


def test_deterministic(case):
    trading_date, segment, data = case
    assert sample_portfolio(trading_date, segment=segment) == data


def test_shape_and_header(case):
    trading_date, segment, data = case
    assert list(data) == ["page", "header", "results"]
    results = data["results"]
    assert 80 <= len(results) <= 90
    assert data["page"] == {
        "pageNumber": 1,
        "pageSize": 120,
        "totalRecords": len(results),
        "totalPages": 1,
    }
    header = data["header"]
    assert header["date"] == trading_date.strftime("%d/%m/%y")
    assert re.fullmatch(r"\d{2}/\d{2}/\d{2}", header["date"])
    assert header["text"] == "Quantidade Teórica Total"
    assert header["textReductor"] == "Redutor"
    assert header["part"] == "100,000"
    assert header["partAcum"] == ("100,000" if segment == 2 else None)
    assert REDUCTOR_RE.match(header["reductor"])
    assert 15_000_000 <= br(header["reductor"]) <= 16_000_000


def test_sums_and_formats(case):
    _, _, data = case
    results = data["results"]
    tickers = [r["cod"] for r in results]
    assert len(set(tickers)) == len(tickers)
    assert all(TICKER_RE.match(t) for t in tickers)
    for r in results:
        assert PART_RE.match(r["part"]), r["part"]
        assert QTY_RE.match(r["theoricalQty"]), r["theoricalQty"]
        assert br(r["part"]) > 0
        assert br(r["theoricalQty"]) > 0
        assert r["asset"] == r["asset"].upper()
        assert r["type"] == r["type"].rstrip() and r["type"][:2] in ("ON", "PN", "UN")
    assert sum(br(r["part"]) for r in results) == Decimal("100.000")
    assert sum(br(r["theoricalQty"]) for r in results) == br(data["header"]["theoricalQty"])


def test_segment_specific_layout(case):
    _, segment, data = case
    results = data["results"]
    if segment == 1:
        assert all(r["segment"] is None and r["partAcum"] is None for r in results)
        keys = [(r["asset"], r["cod"]) for r in results]
        assert keys == sorted(keys)
        return
    keys = [(r["segment"], r["cod"]) for r in results]
    assert keys == sorted(keys)
    sector_sums: dict[str, Decimal] = {}
    for r in results:
        assert PART_RE.match(r["partAcum"])
        sector_sums[r["segment"]] = sector_sums.get(r["segment"], Decimal(0)) + br(r["part"])
    for r in results:
        assert br(r["partAcum"]) == sector_sums[r["segment"]]
    assert sum(sector_sums.values()) == Decimal("100.000")


def test_segments_share_constituents():
    day = datetime.date(2025, 7, 14)
    seg1, seg2 = sample_portfolio(day, segment=1), sample_portfolio(day, segment=2)
    by_cod = {r["cod"]: (r["part"], r["theoricalQty"], r["type"]) for r in seg2["results"]}
    assert {r["cod"]: (r["part"], r["theoricalQty"], r["type"]) for r in seg1["results"]} == by_cod
    assert seg1["header"]["theoricalQty"] == seg2["header"]["theoricalQty"]


def test_membership_changes_only_at_quadrimester():
    def members(day: datetime.date) -> set[str]:
        return {r["cod"] for r in sample_portfolio(day)["results"]}

    assert members(datetime.date(2025, 5, 1)) == members(datetime.date(2025, 8, 31))
    assert members(datetime.date(2025, 1, 1)) == members(datetime.date(2025, 4, 30))


def test_invalid_arguments():
    day = datetime.date(2025, 7, 14)
    with pytest.raises(ValueError, match="segment"):
        sample_portfolio(day, segment=3)
    with pytest.raises(ValueError, match="segment"):
        sample_portfolio(day, segment=0)
    with pytest.raises(ValueError, match="only for IBOV"):
        sample_portfolio(day, index="IBXX")
