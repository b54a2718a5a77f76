"""B3's "Carteira do Dia" CSV downloads of any index and any year: index and date from the title."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b3_assets.source.csv_download import NotAPortfolioCsv, PortfolioCsv, parse_portfolio_csv
from b3_assets.source.models import PortfolioPage, parse_br_decimal, parse_br_integer
from b3_assets.source.trading_calendar import is_trading_day
from b3_contract.lake_keys import Unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "b3"
GOOD = "IBOVDia_05-03-25.csv"
QUADRIMESTER = "IBOVQuad_9-2023.csv"

# file, index and trading date of its title, constituents
DAILY = [
    ("IBOVDia_20-02-25.csv", "IBOV", date(2025, 2, 20), 87),
    ("IBOVDia_24-02-25.csv", "IBOV", date(2025, 2, 24), 87),
    ("IBOVDia_05-03-25.csv", "IBOV", date(2025, 3, 5), 87),
    ("IBOVDia_06-03-25.csv", "IBOV", date(2025, 3, 6), 87),
    ("IBOVDia_11-03-25.csv", "IBOV", date(2025, 3, 11), 87),
    ("IBOVDia_12-03-25.csv", "IBOV", date(2025, 3, 12), 87),
    ("IBOVDia_26-06-23.csv", "IBOV", date(2023, 6, 26), 86),
    ("Cart_Ibov@4332012.csv", "IBOV", date(2024, 1, 16), 87),
    ("IBXXDia_20-06-25.csv", "IBXX", date(2025, 6, 20), 97),
    ("SMLLDia_22-10-24.csv", "SMLL", date(2024, 10, 22), 118),
    ("IDIVDia_21-07-26.csv", "IDIV", date(2026, 7, 21), 52),
    ("IFIXDia_03-08-26.csv", "IFIX", date(2026, 8, 3), 106),
]


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def good() -> bytes:
    return read(GOOD)


def test_every_csv_fixture_is_in_the_table() -> None:
    names = {path.name for path in FIXTURES.glob("*.csv")}
    assert names == {name for name, *_ in DAILY} | {QUADRIMESTER}


@pytest.mark.parametrize(("name", "index", "day", "count"), DAILY, ids=[d[0] for d in DAILY])
def test_every_daily_download_reads_with_its_index_date_and_invariants(
    name: str, index: str, day: date, count: int
) -> None:
    parsed = parse_portfolio_csv(read(name), name)
    assert isinstance(parsed, PortfolioCsv)
    assert (parsed.index, parsed.trading_date) == (index, day)
    assert parsed.unit == Unit(index, day)
    assert is_trading_day(day)
    response = parsed.response
    assert response["header"]["date"] == day.strftime("%d/%m/%y")
    assert len(response["results"]) == response["page"]["totalRecords"] == count
    assert response["page"]["totalPages"] == 1
    assert sum(parse_br_decimal(row["part"]) for row in response["results"]) == Decimal("100.000")
    assert sum(parse_br_integer(row["theoricalQty"]) for row in response["results"]) == (
        parse_br_integer(response["header"]["theoricalQty"])
    )
    assert response["header"]["part"] == "100,000"
    assert len({row["cod"] for row in response["results"]}) == count
    page = PortfolioPage.model_validate(response)
    assert page.trading_date == day


def test_each_download_equals_b3s_own_response_of_that_day() -> None:
    checked = 0
    for name, _, day, _ in DAILY:
        own = FIXTURES / f"portfolio_day_IBOV_seg1_{day.isoformat()}.json"
        if not own.exists():
            continue
        assert parse_portfolio_csv(read(name), name).response == json.loads(own.read_text())
        checked += 1
    assert checked == 6


def test_a_renamed_file_takes_index_and_date_from_its_title() -> None:
    data = read("Cart_Ibov@4332012.csv")
    parsed = parse_portfolio_csv(data, "Cart_Ibov@4332012.csv")
    assert (parsed.index, parsed.trading_date) == ("IBOV", date(2024, 1, 16))
    for other in ["carteira.csv", "downloads/x", "IBOV.csv", "SMLLDia.csv", "IBOVDia_16-01.csv"]:
        assert parse_portfolio_csv(data, other) == parsed
    # named as B3 names it, with the date of its title: accepted, also as a second download
    for named in ["IBOVDia_16-01-24.csv", "IBOVDia_16-01-24 (1).csv", "/tmp/IBOVDia_16-01-24.csv"]:
        assert parse_portfolio_csv(data, named) == parsed


def test_refuses_a_file_name_whose_date_contradicts_the_title() -> None:
    with pytest.raises(NotAPortfolioCsv, match="file name says IBOV of 2025-03-06") as caught:
        parse_portfolio_csv(good(), "IBOVDia_06-03-25.csv")
    assert "its title says IBOV of 2025-03-05" in str(caught.value)
    with pytest.raises(NotAPortfolioCsv, match="2025-03-06"):
        parse_portfolio_csv(good(), "IBOVDia_06-03-25 (2).csv")


def test_refuses_an_ibov_file_name_whose_title_is_another_index() -> None:
    with pytest.raises(NotAPortfolioCsv) as caught:
        parse_portfolio_csv(read("SMLLDia_22-10-24.csv"), "IBOVDia_22-10-24.csv")
    message = str(caught.value)
    assert "file name says IBOV of 2024-10-22" in message
    assert "title says SMLL of 2024-10-22" in message
    data = good().replace(b"IBOV - Carteira", b"IBXX - Carteira")
    with pytest.raises(NotAPortfolioCsv, match="file name says IBOV .* title says IBXX"):
        parse_portfolio_csv(data, GOOD)
    assert parse_portfolio_csv(data, "IBXXDia_05-03-25.csv").index == "IBXX"


def test_the_quadrimester_portfolio_is_refused_saying_what_it_is() -> None:
    with pytest.raises(NotAPortfolioCsv) as caught:
        parse_portfolio_csv(read(QUADRIMESTER), QUADRIMESTER)
    message = str(caught.value)
    assert message.startswith(QUADRIMESTER)
    assert "quadrimester (theoretical) portfolio of IBOV for Sep-Dec 2023" in message
    assert "not a daily 'Carteira do Dia'" in message
    assert "parse_quadrimester_csv reads it" in message


@pytest.mark.parametrize(
    ("title", "what"),
    [
        (b"IBOV - Carteira Jan. a Abr. 2024", "portfolio of IBOV for Jan-Apr 2024"),
        (b"SMLL - Carteira Mai. a Ago. 2025", "portfolio of SMLL for May-Aug 2025"),
    ],
)
def test_every_quadrimester_title_is_named(title: bytes, what: str) -> None:
    _, rest = read(QUADRIMESTER).split(b"\n", 1)
    with pytest.raises(NotAPortfolioCsv, match=f"quadrimester \\(theoretical\\) {what}"):
        parse_portfolio_csv(title + b"\n" + rest, "carteira.csv")


def test_crlf_files_read_as_their_lf_copy() -> None:
    for name in ["IBOVDia_26-06-23.csv", "IBXXDia_20-06-25.csv", "Cart_Ibov@4332012.csv"]:
        data = read(name)
        assert data.count(b"\r\n") == data.count(b"\n") > 80  # CRLF as B3 sent it
        lf = data.replace(b"\r\n", b"\n")
        assert parse_portfolio_csv(data, name) == parse_portfolio_csv(lf, name)


@pytest.mark.parametrize("name", ["IBOVDia_26-06-23.csv", "IBXXDia_20-06-25.csv", GOOD])
def test_cr_only_line_endings_read_the_same(name: str) -> None:
    data = read(name)
    cr = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")
    assert b"\n" not in cr and cr.count(b"\r") > 80
    assert parse_portfolio_csv(cr, name) == parse_portfolio_csv(data, name)


def retitled(title: bytes) -> bytes:
    _, rest = good().split(b"\n", 1)
    return title + b"\n" + rest


def test_any_year_of_the_calendar_reads() -> None:
    parsed = parse_portfolio_csv(
        retitled(b"IBOV - Carteira do Dia 02/01/01"), "IBOVDia_02-01-01.csv"
    )
    assert parsed.trading_date == date(2001, 1, 2) and is_trading_day(parsed.trading_date)
    parsed = parse_portfolio_csv(retitled(b"IBOV - Carteira do Dia 03/01/00"), "x.csv")
    assert parsed.trading_date == date(2000, 1, 3) and is_trading_day(parsed.trading_date)
    parsed = parse_portfolio_csv(read("IFIXDia_03-08-26.csv"), "IFIXDia_03-08-26.csv")
    assert parsed.trading_date == date(2026, 8, 3) and is_trading_day(parsed.trading_date)
    # the parser reads the title; whether the date is a session is the calendar's call
    parsed = parse_portfolio_csv(retitled(b"IBOV - Carteira do Dia 30/12/99"), "x.csv")
    assert parsed.trading_date == date(1999, 12, 30)
    with pytest.raises(ValueError, match="outside B3's calendar"):
        is_trading_day(parsed.trading_date)


def test_every_index_code_b3_lists_reads_from_a_title() -> None:
    listing = json.loads(read("stock_index_2025-04-07.json"))
    codes = {code for row in listing["results"] for code in row["indexes"].split(",")}
    assert len(codes) == 34
    for code in sorted(codes):
        title = f"{code} - Carteira do Dia 05/03/25".encode()
        parsed = parse_portfolio_csv(retitled(title), f"{code}Dia_05-03-25.csv")
        assert parsed.index == code


@pytest.mark.parametrize(
    "title",
    [
        b"Ibov - Carteira do Dia 05/03/25",  # not as B3 writes the code
        b"IB - Carteira do Dia 05/03/25",  # too short for an index code
        b"IBOVESPA1234 - Carteira do Dia 05/03/25",  # too long
        b"1BOV - Carteira do Dia 05/03/25",
        b"IBOV - Carteira do Dia 05/03/2025",
        b"IBOV - Carteira do Dia 5/3/25",
        b"IBOV - Carteira Teorica 05/03/25",
        b"IBOV-Carteira do Dia 05/03/25",
        b"IBOV - Carteira do Dia 05/03/25 extra",
    ],
)
def test_refuses_a_title_that_is_not_b3s(title: bytes) -> None:
    with pytest.raises(NotAPortfolioCsv, match="first line"):
        parse_portfolio_csv(retitled(title), "x.csv")


def test_refuses_an_impossible_title_date() -> None:
    with pytest.raises(NotAPortfolioCsv, match="real calendar date"):
        parse_portfolio_csv(retitled(b"IBOV - Carteira do Dia 31/02/25"), "x.csv")


def test_a_spreadsheet_padded_title_still_reads() -> None:
    parsed = parse_portfolio_csv(retitled(b"IBOV - Carteira do Dia 05/03/25;;;;"), GOOD)
    assert parsed == parse_portfolio_csv(good(), GOOD)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b"", "non-empty lines"),
        (lambda b: b"\x00\x01binary" * 20, "binary"),
        (lambda b: b.replace(b"Carteira do Dia", b"Carteira Teorica"), "first line"),
        (lambda b: b.replace(b"Qtde. Te", b"Quantidade Te"), "header line"),
        (lambda b: b.replace(b"ABEV3;AMBEV S/A;ON;", b"ABEV3;AMBEV S/A;"), "fields"),
        (lambda b: b.replace(b"ABEV3;AMBEV S/A;ON;", b"ABEV3;AMBEV;S/A;ON;"), "fields"),
        (lambda b: b.replace(b"4.394.835.131", b"4,394,835,131"), "pt-BR integer"),
        (lambda b: b.replace(b";2,706;", b";2.706;"), "pt-BR decimal"),
        (lambda b: b.replace(b"ABEV3;", b"abev3;"), "B3 ticker"),
        (lambda b: b.replace(b"AMBEV S/A;ON;", b"AMBEV S/A;on;"), "asset type"),
        (lambda b: b.replace(b"Redutor", b"Reductor"), "footer"),
        (lambda b: b.replace(b"Quantidade Te\xf3rica Total", b"Total"), "footer"),
        (lambda b: b.rsplit(b"Redutor", 1)[0], "footer"),
        (lambda b: b.decode("iso-8859-1").encode("utf-8"), "ISO-8859-1"),
        (lambda b: b"\xef\xbb\xbf" + b.decode("iso-8859-1").encode("utf-8"), "ISO-8859-1"),
        (lambda b: b.split(b"\n", 1)[1], "first line"),
    ],
)
def test_refuses_what_is_not_a_portfolio_csv_with_the_reason(mutate, reason) -> None:
    with pytest.raises(NotAPortfolioCsv, match=reason) as caught:
        parse_portfolio_csv(mutate(good()), GOOD)
    assert str(caught.value).startswith(f"{GOOD} is not a B3 portfolio CSV: ")


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_refused_cleanly(data: bytes) -> None:
    with pytest.raises(NotAPortfolioCsv):
        parse_portfolio_csv(data, "x.csv")


@settings(max_examples=200)
@given(st.data())
def test_corrupting_one_line_never_yields_a_silently_wrong_portfolio(data) -> None:
    name = data.draw(st.sampled_from([d[0] for d in DAILY]))
    lines = read(name).replace(b"\r\n", b"\n").split(b"\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    lines[index] = data.draw(st.binary(max_size=60))
    try:
        parsed = parse_portfolio_csv(b"\n".join(lines), "x.csv")
    except NotAPortfolioCsv:
        return
    # Accepted only if every value still reads as B3 writes it (validated by the models).
    response = parsed.response
    assert response["page"]["totalRecords"] == len(response["results"])
    PortfolioPage.model_validate(response)
    assert response["header"]["date"] == parsed.trading_date.strftime("%d/%m/%y")


@settings(max_examples=100)
@given(
    st.sampled_from([d[0] for d in DAILY]),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.booleans(),
)
def test_line_endings_and_a_final_break_never_change_the_answer(
    name: str, ending: bytes, final: bool
) -> None:
    lines = read(name).replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")
    data = ending.join(lines) + (ending if final else b"")
    assert parse_portfolio_csv(data, name) == parse_portfolio_csv(read(name), name)
