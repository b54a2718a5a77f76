"""What `b3 import` says of a file that is not B3's CSV as downloaded, on files generated from the
real downloads: old Mac line breaks (CR only) read like any other; an HTML page saved as .csv
says it is one; a spreadsheet's re-save (another separator, numbers rewritten) is said in one
line naming the first value at fault, not one validation error per row."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from b3_assets.source.csv_download import (
    NotAPortfolioCsv,
    QuadrimesterCsv,
    parse_b3_csv,
    parse_portfolio_csv,
    parse_quadrimester_csv,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "b3"
DAILY = "IBOVDia_05-03-25.csv"
QUADRIMESTER = "IBOVQuad_9-2023.csv"
HTML_SAID = "it is an HTML page, not B3's CSV: the download failed?"
RESAVED = "it looks re-saved by a spreadsheet: "
AS_DOWNLOADED = "; use the file as downloaded"
PT_BR_INTEGER = re.compile(rb"\d{1,3}(?:\.\d{3})+(?![\d,])")  # 4.394.835.131, not a decimal


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def lf_lines(data: bytes) -> list[bytes]:
    return data.replace(b"\r\n", b"\n").rstrip(b"\n").split(b"\n")


def cr_only(data: bytes) -> bytes:
    return b"\r".join(lf_lines(data)) + b"\r"


def dedotted(data: bytes) -> bytes:
    """Every thousands dot taken out of the numbers, as a spreadsheet in pt-BR writes them back."""
    return re.sub(rb"(?<=\d)\.(?=\d{3}(?:[^\d]|$))", b"", data)


def decimal_points(data: bytes) -> bytes:
    """Decimal commas written as points (a spreadsheet in en-US), thousands dots kept."""
    return re.sub(rb"(?<=\d),(?=\d)", b".", data)


def separated_by(data: bytes, separator: bytes) -> bytes:
    return data.replace(b";", separator)


def spreadsheet_resave(data: bytes) -> bytes:
    """What a spreadsheet in pt-BR writes back: each number as a number (no thousands dots,
    trailing decimal zeros dropped), no trailing empty cell, every line padded with `;` to the
    widest one, CRLF line breaks."""

    def cell(text: bytes) -> bytes:
        if re.fullmatch(rb"\d{1,3}(?:\.\d{3})*(?:,\d+)?", text):
            number = text.replace(b".", b"")
            return number.rstrip(b"0").rstrip(b",") if b"," in number else number
        return text

    rows = [[cell(text) for text in line.split(b";")] for line in lf_lines(data)]
    rows = [row[:-1] if len(row) > 1 and row[-1] == b"" else row for row in rows]
    width = max(len(row) for row in rows)
    return b"".join(b";".join(row + [b""] * (width - len(row))) + b"\r\n" for row in rows)


def refusal(parse: Callable[[bytes, str], object], data: bytes, name: str) -> str:
    with pytest.raises(NotAPortfolioCsv) as caught:
        parse(data, name)
    message = str(caught.value)
    assert "\n" not in message, message  # one line
    return message


def first_value(data: bytes, column: int) -> bytes:
    """The value of `column` in the first constituent row (line 3) of a generated file."""
    return lf_lines(data)[2].split(b";")[column]


# CR-only line breaks


@pytest.mark.parametrize(
    "name",
    [path.name for path in sorted(FIXTURES.glob("*.csv"))],
)
def test_a_cr_only_file_reads_as_the_download_it_was(name: str) -> None:
    data = read(name)
    cr = cr_only(data)
    assert b"\n" not in cr and cr.count(b"\r") >= 50
    assert parse_b3_csv(cr, name) == parse_b3_csv(data, name)


def test_a_cr_only_quadrimester_file_reads_with_either_entry_point() -> None:
    cr = cr_only(read(QUADRIMESTER))
    parsed = parse_quadrimester_csv(cr, QUADRIMESTER)
    assert isinstance(parsed, QuadrimesterCsv)
    assert (
        parsed == parse_b3_csv(cr, QUADRIMESTER) == parse_b3_csv(read(QUADRIMESTER), QUADRIMESTER)
    )
    assert len(parsed.response["results"]) == parsed.response["page"]["totalRecords"] > 80


# HTML pages saved as .csv

HTML_PAGES = {
    "doctype and title": (
        b"<!DOCTYPE html>\n<html lang='pt-br'>\n<head>\n<title>\n  B3 | P\xe1gina n\xe3o "
        b"encontrada\n</title>\n</head>\n<body><h1>Erro 404</h1></body>\n</html>\n",
        "(page title 'B3 | P\u00e1gina n\u00e3o encontrada')",
    ),
    "one line, no title": (b"<html><body>Service Unavailable</body></html>", None),
    "utf-8 with a BOM": (
        b"\xef\xbb\xbf  <!doctype html><html><head><title>Manuten\xc3\xa7\xc3\xa3o</title>"
        b"</head><body>Voltamos logo</body></html>",
        "(page title 'Manuten\u00e7\u00e3o')",
    ),
    "xhtml": (
        b'<?xml version="1.0" encoding="utf-8"?>\r\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML'
        b' 1.0 Strict//EN">\r\n<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head>\r\n'
        b"<title>Access Denied</title>\r\n</head>\r\n<body>\r\n<p>blocked</p>\r\n</body>\r\n"
        b"</html>\r\n",
        "(page title 'Access Denied')",
    ),
}


@pytest.mark.parametrize("page", sorted(HTML_PAGES))
@pytest.mark.parametrize(
    ("parse", "name", "what"),
    [
        (parse_b3_csv, DAILY, "portfolio CSV"),
        (parse_portfolio_csv, DAILY, "portfolio CSV"),
        (parse_quadrimester_csv, QUADRIMESTER, "quadrimester portfolio CSV"),
    ],
)
def test_an_html_page_says_the_download_failed(page: str, parse, name: str, what: str) -> None:
    data, title = HTML_PAGES[page]
    message = refusal(parse, data, name)
    assert message.startswith(f"{name} is not a B3 {what}: {HTML_SAID}")
    if title:
        assert message.endswith(title)
    else:
        assert message.endswith(HTML_SAID)
    assert "non-empty lines" not in message and "UTF-8" not in message


def test_a_file_opening_with_a_tag_that_is_not_a_page_keeps_its_message() -> None:
    data = b"<notes>\nnot a page\n</notes>\n"
    message = refusal(parse_b3_csv, data, DAILY)
    assert "HTML" not in message
    assert "only 3 non-empty lines" in message
    # a real download whose title line were replaced by a tag: still refused for its title
    lines = lf_lines(read(DAILY))
    message = refusal(parse_b3_csv, b"\n".join([b"<b>IBOV</b>", *lines[1:]]), DAILY)
    assert "HTML" not in message and "first line '<b>IBOV</b>'" in message


# A spreadsheet's re-save


@pytest.mark.parametrize(
    ("name", "parse", "what"),
    [
        (DAILY, parse_portfolio_csv, "portfolio CSV"),
        ("SMLLDia_22-10-24.csv", parse_b3_csv, "portfolio CSV"),
        (QUADRIMESTER, parse_quadrimester_csv, "quadrimester portfolio CSV"),
        (QUADRIMESTER, parse_b3_csv, "quadrimester portfolio CSV"),
    ],
)
def test_numbers_without_thousands_dots_are_one_line(name: str, parse, what: str) -> None:
    data = dedotted(read(name))
    assert not PT_BR_INTEGER.search(data)
    quantity = first_value(data, 3).decode()
    assert len(quantity) > 3
    message = refusal(parse, data, name)
    assert message == (
        f"{name} is not a B3 {what}: {RESAVED}numbers without B3's thousands dots "
        f"(line 3: {quantity!r}){AS_DOWNLOADED}"
    )


def test_decimal_points_are_one_line() -> None:
    data = decimal_points(read(DAILY))
    part = first_value(data, 4).decode()
    assert "." in part and "," not in part
    message = refusal(parse_b3_csv, data, DAILY)
    assert message == (
        f"{DAILY} is not a B3 portfolio CSV: {RESAVED}decimal points instead of B3's decimal "
        f"commas (line 3: {part!r}){AS_DOWNLOADED}"
    )


def test_an_en_us_resave_names_both_rewritings() -> None:
    data = decimal_points(dedotted(read(QUADRIMESTER)))
    quantity, part = (first_value(data, column).decode() for column in (3, 4))
    message = refusal(parse_b3_csv, data, QUADRIMESTER)
    assert message == (
        f"{QUADRIMESTER} is not a B3 quadrimester portfolio CSV: {RESAVED}numbers without B3's "
        f"thousands dots (line 3: {quantity!r}), decimal points instead of B3's decimal commas "
        f"(line 3: {part!r}){AS_DOWNLOADED}"
    )


@pytest.mark.parametrize("name", [DAILY, "IBXXDia_20-06-25.csv", QUADRIMESTER])
def test_a_pt_br_spreadsheet_resave_is_one_line(name: str) -> None:
    data = spreadsheet_resave(read(name))
    lines = lf_lines(data)
    assert lines[0].endswith(b";;;;") and lines[2].count(b";") == 4  # padded, no trailing `;`
    quantity = first_value(data, 3).decode()
    # the first weight the re-save wrote without its comma ('2,000' -> '2'; the total '100')
    number, part = next(
        (number, cells[4].decode())
        for number, cells in enumerate((line.split(b";") for line in lines), start=1)
        if number > 2 and re.fullmatch(rb"\d+", cells[4])
    )
    message = refusal(parse_b3_csv, data, name)
    assert message.endswith(
        f"{RESAVED}numbers without B3's thousands dots (line 3: {quantity!r}), decimals without "
        f"B3's decimal comma (line {number}: {part!r}){AS_DOWNLOADED}"
    )


@pytest.mark.parametrize(("separator", "said"), [(b",", "','"), (b"\t", "tabs")])
@pytest.mark.parametrize(
    ("name", "parse", "what"),
    [
        (DAILY, parse_b3_csv, "portfolio CSV"),
        ("IFIXDia_03-08-26.csv", parse_portfolio_csv, "portfolio CSV"),
        (QUADRIMESTER, parse_b3_csv, "quadrimester portfolio CSV"),
        (QUADRIMESTER, parse_quadrimester_csv, "quadrimester portfolio CSV"),
    ],
)
def test_another_separator_is_one_line(
    separator: bytes, said: str, name: str, parse, what: str
) -> None:
    for data in (
        separated_by(read(name), separator),
        separated_by(spreadsheet_resave(read(name)), separator),  # the title padded with it
    ):
        header = lf_lines(data)[1].decode("iso-8859-1")
        message = refusal(parse, data, name)
        assert message == (
            f"{name} is not a B3 {what}: {RESAVED}fields separated by {said} instead of B3's "
            f"';' (line 2: {header!r}){AS_DOWNLOADED}"
        )


def test_one_bad_value_keeps_the_validation_message() -> None:
    lines = lf_lines(read(DAILY))
    cells = lines[5].split(b";")
    cells[3] = cells[3].replace(b".", b"")
    lines[5] = b";".join(cells)
    with pytest.raises(NotAPortfolioCsv) as caught:
        parse_portfolio_csv(b"\n".join(lines), DAILY)
    message = str(caught.value)
    assert "re-saved" not in message
    assert "a value does not read as B3 writes it" in message
    assert f"not a pt-BR integer (expected like '3.688.870.616'): {cells[3].decode()!r}" in message


def test_the_generated_files_change_only_what_they_claim() -> None:
    """The transforms above touch only the numbers or separators they name, and a CR-only copy
    of a re-saved file is refused just the same."""
    data = read(DAILY)
    assert separated_by(data, b";") == data
    row = b"ABEV3;AMBEV S/A;ON;4.394.835.131;2,706;"
    assert dedotted(row) == b"ABEV3;AMBEV S/A;ON;4394835131;2,706;"
    assert decimal_points(row) == b"ABEV3;AMBEV S/A;ON;4.394.835.131;2.706;"
    assert decimal_points(b"Redutor;;;16.163.925,35005373") == b"Redutor;;;16.163.925.35005373"
    resaved = dedotted(data)
    assert refusal(parse_b3_csv, cr_only(resaved), DAILY) == refusal(parse_b3_csv, resaved, DAILY)
