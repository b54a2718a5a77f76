"""B3's quadrimester portfolio CSV download ("IBOV - Carteira Set. a Dez. 2023") read as
GetQuartelyPreview's answer: the index and the quadrimester from the title, B3's strings kept, the
file name held to its title, a daily file refused as one."""

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b3_assets.refine.quality import rounding_bound
from b3_assets.source.csv_download import (
    NotAPortfolioCsv,
    QuadrimesterCsv,
    parse_quadrimester_csv,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "b3"
NAME = "IBOVQuad_9-2023.csv"
FUZZ = settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
MONTHS = ["Jan", "Fev", "Mar", "Abr", "Mai", "Jun", "Jul", "Ago", "Set", "Out", "Nov", "Dez"]


def fixture() -> bytes:
    return (FIXTURES / NAME).read_bytes()


def retitled(title: bytes) -> bytes:
    _, rest = fixture().split(b"\n", 1)
    return title + b"\n" + rest


def number(text: str) -> Decimal:
    """pt-BR to Decimal, written here again so the test does not trust the parser's reading."""
    return Decimal(text.replace(".", "").replace(",", "."))


def csv_reading(data: bytes) -> tuple[list[str], list[list[str]], list[str], list[str]]:
    """Header, rows, total and reductor lines of the file as the csv module reads them."""
    lines = list(csv.reader(io.StringIO(data.decode("iso-8859-1"), newline=""), delimiter=";"))
    return lines[1], lines[2:-2], lines[-2], lines[-1]


def test_the_real_download_is_ibov_from_september_2023_with_b3s_strings() -> None:
    parsed = parse_quadrimester_csv(fixture(), NAME)
    assert isinstance(parsed, QuadrimesterCsv)
    assert (parsed.index, parsed.first_day, parsed.months) == (
        "IBOV",
        date(2023, 9, 1),
        "Set. a Dez.",
    )
    header, rows, total, reductor = csv_reading(fixture())
    assert header == ["Código", "Ação", "Tipo", "Qtde. Teórica", "Part. (%)"]
    assert len(rows) == 86 and all(len(row) == 6 and row[5] == "" for row in rows)
    response = parsed.response
    assert set(response) == {"page", "header", "results"}
    assert response["page"]["totalRecords"] == len(response["results"]) == 86
    assert response["page"]["totalPages"] == 1
    expected = [
        {"cod": cod, "asset": asset, "type": kind, "theoricalQty": qty, "part": part}
        for cod, asset, kind, qty, part, _ in rows
    ]
    assert response["results"] == expected  # every row, every field, B3's strings; no `cont`
    assert total[0] == "Quantidade Teórica Total" and reductor[0] == "Redutor"
    # the header is the footer, with no date (as GetQuartelyPreview's)
    assert response["header"] == {
        "part": total[4],
        "theoricalQty": total[3],
        "reductor": reductor[3],
    }
    assert response["header"] == {
        "part": "100,000",
        "theoricalQty": "97.691.599.206",
        "reductor": "17.520.304,44097818",
    }
    # B3 rounds each of the 86 weights to 3 places: they add up to 99,999 against the footer's
    # 100,000, inside the rounding bound of 86 weights the preview rule allows (86 × 0.0005)
    parts = sum(number(row["part"]) for row in response["results"])
    assert parts == Decimal("99.999") == sum(number(row[4]) for row in rows)
    assert abs(parts - number(response["header"]["part"])) <= rounding_bound(86)
    assert sum(number(row["theoricalQty"]) for row in response["results"]) == number(total[3])
    assert len({row["cod"] for row in response["results"]}) == 86


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"])
def test_crlf_and_cr_files_read_as_the_lf_file(ending: bytes) -> None:
    data = fixture().replace(b"\n", ending)
    assert data.count(ending) == 90 and (ending == b"\r\n" or b"\n" not in data)
    assert parse_quadrimester_csv(data, NAME) == parse_quadrimester_csv(fixture(), NAME)


def test_a_renamed_file_reads_by_its_title_and_b3s_names_must_agree_with_it() -> None:
    parsed = parse_quadrimester_csv(fixture(), NAME)
    renamed = [
        "carteira.csv",
        "downloads/x",
        "IBOVQuad.csv",
        "IBOV_9-2023.csv",
        "IBOVQuad_9-23.csv",
    ]
    for other in [*renamed, "IBOVQuad_13-2023.csv", "IBOVDia_05-03-25.csv"]:
        assert parse_quadrimester_csv(fixture(), other) == parsed
    for named in ["IBOVQuad_9-2023 (1).csv", "/tmp/IBOVQuad_09-2023.csv", "ibovquad_9-2023.CSV"]:
        assert parse_quadrimester_csv(fixture(), named) == parsed


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("IBOVQuad_5-2023.csv", "IBOV of 2023-05-01"),  # another quadrimester
        ("IBOVQuad_9-2024.csv", "IBOV of 2024-09-01"),  # another year
        ("SMLLQuad_9-2023.csv", "SMLL of 2023-09-01"),  # another index
        ("IBOVQuad_3-2023 (2).csv", "IBOV of 2023-03-01"),  # a month that starts no quadrimester
    ],
)
def test_refuses_a_file_name_that_contradicts_the_title(name: str, says: str) -> None:
    with pytest.raises(NotAPortfolioCsv) as caught:
        parse_quadrimester_csv(fixture(), name)
    message = str(caught.value)
    assert message.startswith(f"{name} is not a B3 quadrimester portfolio CSV: ")
    assert f"the file name says {says} but its title says IBOV of 2023-09-01" in message
    assert "'IBOV - Carteira Set. a Dez. 2023'" in message


@pytest.mark.parametrize("name", ["IBOVDia_12-03-25.csv", "IBOVQuad_1-2025.csv", "x.csv"])
def test_a_daily_download_is_refused_as_a_daily_portfolio(name: str) -> None:
    data = (FIXTURES / "IBOVDia_12-03-25.csv").read_bytes()
    with pytest.raises(NotAPortfolioCsv) as caught:
        parse_quadrimester_csv(data, name)
    message = str(caught.value)
    assert message.startswith(f"{name} is not a B3 quadrimester portfolio CSV: ")
    assert "it is B3's daily portfolio of IBOV of 12/03/25" in message
    assert "not a quadrimester portfolio" in message


LABELS = {1: "Jan. a Abr.", 5: "Mai. a Ago.", 9: "Set. a Dez."}


@pytest.mark.parametrize(
    ("title", "name", "first_day"),
    [
        (b"IBOV - Carteira Jan. a Abr. 2024", "IBOVQuad_1-2024.csv", date(2024, 1, 1)),
        (b"IBOV - Carteira Mai. a Ago. 2025", "IBOVQuad_5-2025.csv", date(2025, 5, 1)),
        (b"SMLL - Carteira Mai. a Ago. 2025", "SMLLQuad_05-2025.csv", date(2025, 5, 1)),
        (b"IBOV - Carteira set a dez 2023", NAME, date(2023, 9, 1)),
        (b"IBOV - Carteira SET. a DEZ 2023", NAME, date(2023, 9, 1)),
        (b"IBOV - Carteira jAn a aBr. 2024;;;;", "x.csv", date(2024, 1, 1)),  # a re-save's padding
    ],
)
def test_every_quadrimester_reads_with_or_without_dots_in_any_case(
    title: bytes, name: str, first_day: date
) -> None:
    parsed = parse_quadrimester_csv(retitled(title), name)
    assert (parsed.index, parsed.first_day) == (title[:4].decode(), first_day)
    assert parsed.months == LABELS[first_day.month]
    assert parsed.response == parse_quadrimester_csv(fixture(), NAME).response


@pytest.mark.parametrize(
    ("title", "written"),
    [
        (b"IBOV - Carteira Fev. a Mai. 2024", "Fev. a Mai."),
        (b"IBOV - Carteira Set. a Abr. 2024", "Set. a Abr."),
        (b"IBOV - Carteira Jan. a Ago. 2024", "Jan. a Ago."),
        (b"IBOV - Carteira dez a mar 2024", "dez a mar"),
        (b"IBOV - Carteira Xyz. a Abr. 2024", "Xyz. a Abr."),
    ],
)
def test_months_that_are_not_a_quadrimester_are_refused_by_name(title: bytes, written: str) -> None:
    with pytest.raises(NotAPortfolioCsv) as caught:
        parse_quadrimester_csv(retitled(title), "x.csv")
    message = str(caught.value)
    assert message.startswith("x.csv is not a B3 quadrimester portfolio CSV: ")
    assert f"the title's months {written!r} are not one of B3's quadrimesters" in message
    assert "'Jan. a Abr.', 'Mai. a Ago.', 'Set. a Dez.'" in message


# Each B3 string replaced by a broken one, and the reason the refusal must give.
BROKEN = [
    (b"Dez. 2023", b"Dez. 0000", "real year"),
    (b"Carteira Set.", b"Carteira Teorica Set.", "first line"),
    (b"Qtde. Te", b"Quantidade Te", "header line"),
    (b"ABEV3;AMBEV S/A;ON;", b"ABEV3;AMBEV;S/A;ON;", "line 3 has 6 fields"),
    (b";4.394.245.879;", b";4,394,245,879;", "pt-BR integer"),
    (b";2,951;", b";2.951;", "pt-BR decimal"),
    (b";17.520.304,44097818", b";17,520,304.44097818", "pt-BR decimal"),
    (b"Redutor;;;17.520.304,44097818\n", b"", "footer"),
    (b"ABEV3;AMBEV", b"ABEV3;\x00AMBEV", "binary"),
]


@pytest.mark.parametrize(("b3", "broken", "reason"), BROKEN, ids=[b[2] for b in BROKEN])
def test_refuses_what_is_not_a_quadrimester_csv_with_the_reason(
    b3: bytes, broken: bytes, reason: str
) -> None:
    assert fixture().count(b3) == 1
    with pytest.raises(NotAPortfolioCsv, match=reason) as caught:
        parse_quadrimester_csv(fixture().replace(b3, broken), NAME)
    assert str(caught.value).startswith(f"{NAME} is not a B3 quadrimester portfolio CSV: ")


def test_a_utf8_resave_and_a_short_file_are_refused_with_the_reason() -> None:
    utf8 = fixture().decode("iso-8859-1").encode("utf-8")
    with pytest.raises(NotAPortfolioCsv, match="UTF-8, not ISO-8859-1"):
        parse_quadrimester_csv(utf8, NAME)
    with pytest.raises(NotAPortfolioCsv, match="UTF-8 with a BOM"):
        parse_quadrimester_csv(b"\xef\xbb\xbf" + utf8, NAME)
    short = b"\n".join(fixture().split(b"\n")[:4])
    with pytest.raises(NotAPortfolioCsv, match="only 4 non-empty lines"):
        parse_quadrimester_csv(short, NAME)


@FUZZ
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_nothing_but_not_a_portfolio_csv(data: bytes) -> None:
    try:
        parse_quadrimester_csv(data, "x.csv")
    except NotAPortfolioCsv as exc:
        assert str(exc).startswith("x.csv is not a B3 ")


@FUZZ
@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes_after_a_real_title_and_header_raise_nothing_else(
    tail: bytes, crlf: bool
) -> None:
    head = b"\n".join(fixture().split(b"\n")[:2]) + b"\n"
    data = head + tail
    try:
        parsed = parse_quadrimester_csv(data.replace(b"\n", b"\r\n") if crlf else data, NAME)
    except NotAPortfolioCsv:
        return
    assert parsed.first_day == date(2023, 9, 1)


@settings(max_examples=300)
@given(st.integers(0, 89), st.binary(max_size=60))
def test_one_corrupt_line_is_refused_or_changes_nothing_but_its_own_row(
    line: int, junk: bytes
) -> None:
    lines = fixture().rstrip(b"\n").split(b"\n")
    assert len(lines) == 90
    lines[line] = junk
    try:
        parsed = parse_quadrimester_csv(b"\n".join(lines), "x.csv")
    except NotAPortfolioCsv:
        return
    original = parse_quadrimester_csv(fixture(), NAME).response
    results = parsed.response["results"]
    if 2 <= line < 88:  # a constituent's line: the others stay as they were, in their order
        row = line - 2
        others = original["results"][:row] + original["results"][row + 1 :]
        if len(results) == 86:
            assert all(number(results[row][key]) >= 0 for key in ("part", "theoricalQty"))
            results = results[:row] + results[row + 1 :]
        assert results == others
    else:
        assert results == original["results"]
    assert parsed.response["header"] == original["header"]
    assert (parsed.index, parsed.first_day) == ("IBOV", date(2023, 9, 1))


@settings(max_examples=300)
@given(
    st.sampled_from(MONTHS),
    st.sampled_from(MONTHS),
    st.integers(1, 9999),
    st.sampled_from([str.lower, str.upper, str.title]),
    st.booleans(),
)
def test_a_title_reads_exactly_when_it_names_one_of_the_three_quadrimesters(
    first: str, last: str, year: int, case, dots: bool
) -> None:
    dot = "." if dots else ""
    title = f"IBOV - Carteira {case(first)}{dot} a {case(last)}{dot} {year:04d}"
    quadrimesters = {(label[:3], label[-4:-1]): month for month, label in LABELS.items()}
    data = retitled(title.encode())
    if (first, last) not in quadrimesters:
        with pytest.raises(NotAPortfolioCsv, match="are not one of B3's quadrimesters"):
            parse_quadrimester_csv(data, "x.csv")
        return
    month = quadrimesters[first, last]
    parsed = parse_quadrimester_csv(data, f"IBOVQuad_{month}-{year:04d}.csv")
    assert parsed.first_day == date(year, month, 1)
    assert parsed.months == LABELS[month]
