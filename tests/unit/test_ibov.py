import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from b3_assets.source.models import (
    B3ValueError,
    PortfolioPage,
    format_br_decimal,
    format_br_integer,
    parse_b3_date,
    parse_br_decimal,
    parse_br_integer,
    parse_ticker,
    split_type,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "b3"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("11,477", Decimal("11.477")),
        ("0,050", Decimal("0.050")),
        ("100,000", Decimal("100.000")),
        ("15.438.607,05630450", Decimal("15438607.05630450")),
        ("1.234,5", Decimal("1234.5")),
    ],
)
def test_decimal_reads_pt_br(text: str, value: Decimal) -> None:
    assert parse_br_decimal(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "11.477",
        "11477",
        "1,234.567",
        "",
        " 1,0",
        "1,",
        ",5",
        "1.23,4",
        None,
        "11,477\n",
        "\u0661\u0661,\u0664\u0667\u0667",  # Arabic-Indic digits
    ],
)
def test_decimal_refuses_other_locales(text: str) -> None:
    with pytest.raises(B3ValueError):
        parse_br_decimal(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("3.688.870.616", 3_688_870_616), ("476.976.044", 476_976_044), ("7", 7), ("999", 999)],
)
def test_integer_reads_thousands_dots(text: str, value: int) -> None:
    assert parse_br_integer(text) == value


@pytest.mark.parametrize(
    "text", ["3,688,870,616", "3688870616", "1.23", "12,5", "1.2345", "-1", "7\n", "\u0667"]
)
def test_integer_refuses_wrong_locale(text: str) -> None:
    with pytest.raises(B3ValueError):
        parse_br_integer(text)


@given(st.integers(min_value=0, max_value=10**15))
def test_integer_round_trip(value: int) -> None:
    assert parse_br_integer(format_br_integer(value)) == value


@given(
    st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=8),
)
def test_decimal_round_trip(value: Decimal, places: int) -> None:
    text = format_br_decimal(value, places)
    assert parse_br_decimal(text) == value.quantize(Decimal(1).scaleb(-places))


@given(st.decimals(min_value=1000, max_value=10**9, places=3))
def test_us_formatted_numbers_never_parse_as_pt_br(value: Decimal) -> None:
    us = f"{value:,.3f}"  # 1,234.567: must be refused, never read as 1.234567 or 1234567
    with pytest.raises(B3ValueError):
        parse_br_decimal(us)


@given(st.text(max_size=20))
def test_decimal_parser_never_crashes_unexpectedly(text: str) -> None:
    try:
        value = parse_br_decimal(text)
    except B3ValueError:
        return
    assert value >= 0
    assert format_br_decimal(value, len(text.split(",")[1])) == text


def test_b3_dates() -> None:
    assert parse_b3_date("14/07/25") == date(2025, 7, 14)
    with pytest.raises(B3ValueError, match="real calendar date"):
        parse_b3_date("31/02/25")
    with pytest.raises(B3ValueError, match="dd/mm/yy"):
        parse_b3_date("2025-07-14")
    with pytest.raises(B3ValueError, match="dd/mm/yy"):
        parse_b3_date("14/07/25\n")
    assert parse_b3_date("03/01/00") == date(2000, 1, 3)
    assert parse_b3_date("02/01/01") == date(2001, 1, 2)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("CI", ("CI", None, None)),  # a real-estate fund (IFIX)
        ("CI  ER", ("CI", "ER", None)),
        ("CI  ERS", ("CI", "ERS", None)),
        ("DRN", ("DRN", None, None)),  # a BDR (BDRX)
        ("DR3", ("DR3", None, None)),
        ("DR1", ("DR1", None, None)),
        ("UNT", ("UNT", None, None)),
        ("ON   MA", ("ON", None, "MA")),
        ("ON  ATZ NM", ("ON", "ATZ", "NM")),
        ("PN  EDJ N1", ("PN", "EDJ", "N1")),
        ("ON      NM", ("ON", None, "NM")),
        ("PN  EJ  N1", ("PN", "EJ", "N1")),
        ("ON", ("ON", None, None)),
        ("ON  ED  NM", ("ON", "ED", "NM")),
        ("UNT     N2", ("UNT", None, "N2")),
        ("PNB EDJ", ("PNB", "EDJ", None)),
    ],
)
def test_split_type(text: str, parts: tuple) -> None:
    assert tuple(split_type(text)) == parts


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        None,
        "on      nm",  # lowercase
        "ON\tNM",
        "ON\nNM",
        "ON-NM",
        "ON;NM",
        "ON  \u00c9D  NM",
        "NM",  # a governance level is no share class
        "N1 ED",
        "1ON",
        "ONXYZ",  # five letters
        "O",
        "ON  ED  EJ  NM",  # two ex-flags
        "ON  NM  N1",  # two governance levels
    ],
)
def test_split_type_refuses_garbage(text) -> None:
    with pytest.raises(B3ValueError):
        split_type(text)


@pytest.mark.parametrize(
    "ticker", ["PETR4", "B3SA3", "HGLG11", "CACR11", "BPAC11", "AAPL34", "M1TA34", "ELET6"]
)
def test_tickers_of_every_kind_of_index(ticker: str) -> None:
    assert parse_ticker(ticker) == ticker


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "petr4",  # lowercase
        "Petr4",
        "PETR 4",
        " PETR4",
        "PETR4 ",
        "PETR4\n",
        "PE4",  # 2-letter root
        "PET4",  # 3-letter root
        "PETR",  # no number
        "PETR123",
        "PETR0",
        "PETR04",
        "4PETR4",
        "1ETR4",
        "PETR4F",  # the odd-lot market, never an index constituent
        "PETR\u0664",  # an Arabic-Indic digit
        "P\u00c9TR4",
        "PETR-4",
    ],
)
def test_parse_ticker_refuses_garbage(text) -> None:
    with pytest.raises(B3ValueError):
        parse_ticker(text)


def fixture_constituents() -> list[tuple[str, str, str]]:
    """(file, ticker, type) of every constituent of every B3 fixture: CSVs and JSON answers."""
    found = []
    for path in sorted(FIXTURES.glob("*.csv")):
        lines = path.read_bytes().decode("iso-8859-1").splitlines()
        found += [(path.name, *line.split(";")[0:3:2]) for line in lines[2:-2]]
    for path in sorted(FIXTURES.glob("*.json")):
        rows = json.loads(path.read_text()).get("results") or []
        for row in rows:
            if "cod" in row:
                found.append((path.name, row["cod"], row["type"]))
            elif "code" in row:  # GetStockIndex: the ticker and its type ("spotlight")
                found.append((path.name, row["code"], row["spotlight"]))
    return found


def test_every_constituent_of_every_fixture_has_a_b3_ticker_and_type() -> None:
    constituents = fixture_constituents()
    files = {name for name, _, _ in constituents}
    assert {path.name for path in FIXTURES.glob("*.csv")} <= files
    assert {"stock_index_2025-04-07.json", "theorical_portfolio_IBOV_pt-br.json"} <= files
    for name, ticker, kind in constituents:
        assert parse_ticker(ticker) == ticker, name
        split_type(kind)
    classes = {split_type(kind).classe for _, _, kind in constituents}
    assert {"ON", "PN", "PNA", "PNB", "UNT", "CI", "DRN", "DR1", "DR2"} <= classes
    tickers = {ticker for _, ticker, _ in constituents}
    assert {"HGLG11", "CACR11", "BPAC11", "AAPL34", "M1TA34", "B3SA3"} <= tickers
    assert len(tickers) > 550


def test_models_validate_the_real_response(seg2: dict) -> None:
    page = PortfolioPage.model_validate(seg2)
    assert page.trading_date == date(2025, 7, 14)
    assert len(page.results) == page.page.totalRecords == 84
    assert sum(r.weight for r in page.results) == Decimal("100.000")
    assert sum(r.quantity for r in page.results) == page.header.total_quantity


def test_models_name_a_wrong_locale_number(seg2: dict) -> None:
    bad = {**seg2, "results": [{**seg2["results"][0], "part": "2.802"}, *seg2["results"][1:]]}
    with pytest.raises(ValidationError, match="not a pt-BR decimal"):
        PortfolioPage.model_validate(bad)


def test_models_keep_unknown_fields(seg2: dict) -> None:
    extra = {**seg2, "results": [{**seg2["results"][0], "novo": 1}, *seg2["results"][1:]]}
    page = PortfolioPage.model_validate(extra)
    assert page.results[0].model_extra == {"novo": 1}
