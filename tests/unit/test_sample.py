"""Invariants of the offline sample B3 portfolio generator, for IBOV and every other index."""

import datetime
import re
from decimal import Decimal

import pytest

from b3_assets.source.index_list import index_members
from b3_assets.source.models import PortfolioPage, split_type
from b3_assets.testing.sample import (
    sample_index_list,
    sample_portfolio,
    sample_stock_index,
    stock_index_bytes,
)

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
    for bad in ("ibov", "IB", "IBOV/../X", "", "ABCDEFGHIJK"):
        with pytest.raises(ValueError, match="not a B3 index code"):
            sample_portfolio(day, index=bad)


# Every index: (lowest, highest) constituent count over the years; B3's classes of the members.
SIZES = {
    "IBOV": (80, 90),
    "IBXX": (95, 102),
    "IBXL": (45, 51),
    "IBRA": (165, 176),
    "SMLL": (112, 121),
    "IDIV": (48, 52),
    "IFIX": (108, 118),
    "BDRX": (140, 153),
    "IGCX": (220, 241),
    "UTIL": (18, 22),
    "ZZZ1": (30, 110),  # not a B3 index: a seeded subset of the stocks
    "ABCDEFGHIJ": (30, 110),
}
STOCK_CLASSES = {"ON", "PN", "PNA", "PNB", "UNT"}
INDEX_DATES = [datetime.date(2025, 7, 14), datetime.date(2019, 1, 2), datetime.date(2026, 9, 30)]


def check_invariants(data: dict, trading_date: datetime.date, segment: int) -> None:
    """What held on every real B3 day, for any index."""
    PortfolioPage.model_validate(data)  # the client's models accept it
    assert list(data) == ["page", "header", "results"]
    results, header = data["results"], data["header"]
    count = len(results)
    assert data["page"] == {
        "pageNumber": 1,
        "pageSize": 120,
        "totalRecords": count,
        "totalPages": -(-count // 120),
    }
    assert header["date"] == trading_date.strftime("%d/%m/%y")
    assert header["part"] == "100,000"
    assert REDUCTOR_RE.match(header["reductor"])
    assert QTY_RE.match(header["theoricalQty"])
    tickers = [r["cod"] for r in results]
    assert len(set(tickers)) == count
    assert all(TICKER_RE.match(t) for t in tickers), tickers
    for r in results:
        assert PART_RE.match(r["part"]) and br(r["part"]) > 0, r
        assert QTY_RE.match(r["theoricalQty"]) and br(r["theoricalQty"]) > 0, r
        assert r["type"] == r["type"].rstrip() and r["asset"] == r["asset"].upper()
    assert sum(br(r["part"]) for r in results) == Decimal("100.000")
    assert sum(br(r["theoricalQty"]) for r in results) == br(header["theoricalQty"])
    by_sector = segment == 2 and results[0]["segment"] is not None
    if not by_sector:
        assert header["partAcum"] is None
        assert all(r["segment"] is None and r["partAcum"] is None for r in results)
        keys = [(r["asset"], r["cod"]) for r in results]
        assert keys == sorted(keys)
        return
    assert header["partAcum"] == "100,000"
    keys = [(r["segment"], r["cod"]) for r in results]
    assert keys == sorted(keys)
    sector_sums: dict[str, Decimal] = {}
    for r in results:
        assert r["segment"] and PART_RE.match(r["partAcum"]), r
        sector_sums[r["segment"]] = sector_sums.get(r["segment"], Decimal(0)) + br(r["part"])
    for r in results:
        assert br(r["partAcum"]) == sector_sums[r["segment"]]
    assert sum(sector_sums.values()) == Decimal("100.000")


@pytest.mark.parametrize("index", sorted(SIZES))
@pytest.mark.parametrize("trading_date", INDEX_DATES, ids=str)
@pytest.mark.parametrize("segment", [1, 2])
def test_every_index_keeps_the_invariants(index, trading_date, segment):
    data = sample_portfolio(trading_date, segment, index)
    check_invariants(data, trading_date, segment)
    low, high = SIZES[index]
    assert low <= len(data["results"]) <= high
    assert sample_portfolio(trading_date, segment, index) == data  # deterministic


@pytest.mark.parametrize("index", sorted(SIZES))
def test_sizes_hold_at_every_rebalance(index):
    low, high = SIZES[index]
    for year in range(2010, 2031):
        for month in (1, 5, 9):
            count = len(sample_portfolio(datetime.date(year, month, 3), 1, index)["results"])
            assert low <= count <= high, (index, year, month, count)


def test_stock_indices_are_split_by_sector_in_segment_2():
    day = datetime.date(2025, 7, 14)
    for index in ("IBOV", "IBXX", "IBXL", "IBRA", "SMLL", "IDIV", "IGCX", "ZZZ1"):
        results = sample_portfolio(day, 2, index)["results"]
        assert all(r["segment"] for r in results), index
        assert {r["type"].split()[0] for r in results} <= STOCK_CLASSES | {"DR1", "DR2", "DRN"}
    assert len({r["segment"] for r in sample_portfolio(day, 2, "IBRA")["results"]}) >= 25


def test_ifix_holds_real_estate_funds_not_split_by_sector():
    day = datetime.date(2025, 7, 14)
    seg1, seg2 = sample_portfolio(day, 1, "IFIX"), sample_portfolio(day, 2, "IFIX")
    assert seg2 == seg1  # no sector grouping: segment 2 answers as segment 1
    tickers = {r["cod"] for r in seg2["results"]}
    assert {"HGLG11", "KNRI11", "KNCR11", "MXRF11"} <= tickers
    for r in seg2["results"]:
        assert r["cod"].endswith("11"), r
        assert split_type(r["type"]) in (("CI", None, None), ("CI", "ER", None)), r["type"]
    weights = sorted((br(r["part"]) for r in seg2["results"]), reverse=True)
    assert Decimal(3) < weights[0] < Decimal(10)  # the heaviest fund, like KNCR11's ~5-7%


def test_bdrx_holds_bdrs_not_split_by_sector():
    day = datetime.date(2025, 7, 14)
    seg1, seg2 = sample_portfolio(day, 1, "BDRX"), sample_portfolio(day, 2, "BDRX")
    assert seg2 == seg1
    by_cod = {r["cod"]: r for r in seg2["results"]}
    assert {"AAPL34", "MSFT34", "AMZO34"} <= set(by_cod)
    assert by_cod["AAPL34"]["asset"] == "APPLE"
    assert {split_type(r["type"]).classe for r in seg2["results"]} == {"DRN"}


def test_indices_differ_and_share_names():
    day = datetime.date(2025, 7, 14)
    members = {
        index: {r["cod"] for r in sample_portfolio(day, 1, index)["results"]}
        for index in ("IBOV", "IBXX", "IBXL", "IBRA", "SMLL", "IFIX")
    }
    assert len(members["IBXL"] & members["IBRA"]) >= 45  # IBrX 50 is inside IBrA
    assert len(members["IBXL"] & members["IBXX"]) >= 45  # IBrX 50 is the top of IBrX 100
    assert len(members["SMLL"] & members["IBRA"]) >= 100  # small caps are in IBrA
    assert not members["IFIX"] & members["IBRA"]
    assert len({frozenset(m) for m in members.values()}) == len(members)
    ibxx = sample_portfolio(day, 2, "IBXX")
    assert ibxx != sample_portfolio(day, 2, "IBXL")
    assert ibxx["header"]["reductor"] != sample_portfolio(day, 2, "IBOV")["header"]["reductor"]


def test_members_follow_b3s_index_list():
    """Members of a listed index are B3's (2025-04-07 list), give or take a rebalance."""
    listing = {code: set(tickers) for code, tickers in index_members(stock_index_bytes()).items()}
    for index in ("IBXX", "IBRA", "SMLL", "IDIV", "IFIX", "BDRX"):
        for day in INDEX_DATES:
            members = {r["cod"] for r in sample_portfolio(day, 1, index)["results"]}
            assert len(members & listing[index]) >= 0.95 * len(listing[index]), (index, day)
            assert len(members - listing[index]) <= 0.05 * len(members), (index, day)


@pytest.mark.parametrize("index", ["IBRA", "IFIX", "BDRX", "ZZZ1"])
def test_other_indices_change_members_only_at_quadrimester(index):
    def members(day: datetime.date) -> set[str]:
        return {r["cod"] for r in sample_portfolio(day, 1, index)["results"]}

    assert members(datetime.date(2025, 5, 1)) == members(datetime.date(2025, 8, 31))
    assert members(datetime.date(2025, 9, 1)) == members(datetime.date(2025, 12, 31))
    first = sample_portfolio(datetime.date(2025, 5, 2), 1, index)
    second = sample_portfolio(datetime.date(2025, 5, 5), 1, index)
    assert first["results"] != second["results"]  # weights and quantities drift daily


def test_ibov_is_unchanged_by_the_other_indices():
    """IBOV keeps its own universe: pinned values of 2025-07-14 (tests elsewhere compare them)."""
    data = sample_portfolio(datetime.date(2025, 7, 14))
    assert len(data["results"]) == 84
    assert data["header"]["reductor"] == "15.573.692,85383416"
    assert data["header"]["theoricalQty"] == "101.269.491.612"
    assert data["results"][0] == {
        "segment": "Bens Indls / Mat Transporte",
        "cod": "EMBR3",
        "asset": "EMBRAER",
        "type": "ON      NM",
        "part": "2,950",
        "partAcum": "3,093",
        "theoricalQty": "760.474.514",
    }


def test_sample_index_list_is_b3s_list():
    counts = sample_index_list()
    assert len(counts) == 34
    assert list(counts) == sorted(counts)
    assert counts["IBOV"] == 87 and counts["IFIX"] == 117 and counts["BDRX"] == 152
    assert sample_stock_index()["page"]["totalRecords"] == 537


def test_bundled_stock_index_is_the_fixture(fixtures_dir):
    assert stock_index_bytes() == (fixtures_dir / "stock_index_2025-04-07.json").read_bytes()


def test_a_thousand_portfolios_of_five_indices_keep_their_invariants():
    """What the benchmark generates: every one a valid B3 answer (its speed is bench/'s)."""
    indices = ["IBOV", "IBRA", "IFIX", "SMLL", "BDRX"]
    for i in range(1000):
        day = datetime.date(2022, 1, 3) + datetime.timedelta(days=i)
        response = sample_portfolio(day, 2, indices[i % len(indices)])
        assert response["page"]["totalRecords"] == len(response["results"])


@pytest.mark.parametrize("index", ["IBOV", "IFIX", "IBRA", "SMLL"])
def test_the_sample_as_a_csv_download_reads_back_as_the_sample(index: str) -> None:
    from b3_assets.source.csv_download import parse_portfolio_csv
    from b3_assets.testing.sample import sample_csv

    day = datetime.date(2025, 3, 5)
    parsed = parse_portfolio_csv(sample_csv(day, index), f"{index}Dia_05-03-25.csv")
    expected = sample_portfolio(day, 1, index)
    assert (parsed.index, parsed.trading_date) == (index, day)
    fields = ("cod", "asset", "type", "part", "theoricalQty")
    assert [[r[f] for f in fields] for r in parsed.response["results"]] == [
        [r[f] for f in fields] for r in expected["results"]
    ]
    for key in ("theoricalQty", "part", "reductor"):
        assert parsed.response["header"][key] == expected["header"][key]
