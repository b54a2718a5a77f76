from datetime import date
from decimal import Decimal

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
    split_type,
)


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
    "text", ["11.477", "11477", "1,234.567", "", " 1,0", "1,", ",5", "1.23,4", None]
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


@pytest.mark.parametrize("text", ["3,688,870,616", "3688870616", "1.23", "12,5", "1.2345", "-1"])
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


@pytest.mark.parametrize(
    ("text", "parts"),
    [
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
