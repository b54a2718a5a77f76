"""B3's "Carteira do Dia" CSV download of any index and any year, read as GetPortfolioDay's answer.

B3 serves only today's portfolio, so its CSV downloads are the way to build history. The file is
ISO-8859-1, `;`-separated: a title line (`SMLL - Carteira do Dia 22/10/24`), a header line, one
row per constituent (with a trailing `;`), and two footer lines (total theoretical quantity,
reductor); lines end in CRLF, LF or CR. The index and the trading date come from the title line:
a file named as B3 names it (`IBXXDia_20-06-25.csv`, `IBOVDia_05-03-25 (1).csv`) must agree with
its title, a renamed one (`Cart_Ibov@4332012.csv`) is read by its title alone. The result is a
segment-1 response (no sectors), as B3 would have answered that day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from b3_assets.source.models import B3ValueError, PortfolioPage, format_b3_date, parse_b3_date
from b3_contract.lake_keys import INDEX_CODE, Unit

_INDEX = f"(?P<index>{INDEX_CODE.pattern})"
TITLE = re.compile(rf"{_INDEX} - Carteira do Dia (?P<date>\d{{2}}/\d{{2}}/\d{{2}})", re.ASCII)
# The quadrimester (theoretical) portfolio: `IBOV - Carteira Set. a Dez. 2023`.
QUADRIMESTER_TITLE = re.compile(
    rf"{_INDEX} - Carteira (?P<first>[A-Za-z]{{3}})\.? a (?P<last>[A-Za-z]{{3}})\.? "
    r"(?P<year>\d{4})",
    re.ASCII,
)
# As B3 (and a browser's second download) names the file: IBXXDia_20-06-25.csv, ... (1).csv
FILE_NAME = re.compile(
    rf"{_INDEX}Dia_(?P<date>\d{{2}}-\d{{2}}-\d{{2}})(?: ?\(\d+\))?\.csv", re.ASCII | re.IGNORECASE
)
HEADER = ["Código", "Ação", "Tipo", "Qtde. Teórica", "Part. (%)"]
PAGE_SIZE = 120  # what the API is asked for; a longer portfolio still comes as one page here
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_MONTHS = {
    "jan": "Jan",
    "fev": "Feb",
    "mar": "Mar",
    "abr": "Apr",
    "mai": "May",
    "jun": "Jun",
    "jul": "Jul",
    "ago": "Aug",
    "set": "Sep",
    "out": "Oct",
    "nov": "Nov",
    "dez": "Dec",
}


class NotAPortfolioCsv(ValueError):
    """The file is not one of B3's daily portfolio CSV downloads; the message says why."""


@dataclass(frozen=True)
class PortfolioCsv:
    """One daily "Carteira do Dia" download: whose portfolio, of which day, as the API's answer."""

    index: str  # from the title line
    trading_date: date  # from the title line
    response: dict[str, Any]  # GetPortfolioDay segment-1 shape

    @property
    def unit(self) -> Unit:
        return Unit(self.index, self.trading_date)


class FileNameClaim(NamedTuple):
    index: str
    trading_date: date


def _fail(name: str, reason: str) -> NotAPortfolioCsv:
    return NotAPortfolioCsv(f"{name} is not a B3 portfolio CSV: {reason}")


def claim_of_file_name(name: str) -> FileNameClaim | None:
    """The index and date a file named as B3 names it claims; None for any other name."""
    match = FILE_NAME.fullmatch(Path(name).name)
    if not match:
        return None
    try:
        day = parse_b3_date(match["date"].replace("-", "/"))
    except B3ValueError:
        return None
    return FileNameClaim(match["index"].upper(), day)


def _title_line(line: str) -> str:
    # A spreadsheet re-save pads every line with `;` up to the widest row.
    return line.strip().rstrip(";").strip()


def _quadrimester_reason(title: str) -> str | None:
    match = QUADRIMESTER_TITLE.fullmatch(title)
    if not match:
        return None
    first = _MONTHS.get(match["first"].lower(), match["first"])
    last = _MONTHS.get(match["last"].lower(), match["last"])
    return (
        f"it is B3's quadrimester (theoretical) portfolio of {match['index']} for "
        f"{first}-{last} {match['year']} (title {title!r}), not a daily 'Carteira do Dia'; "
        f"b3 import takes the daily files ({match['index']}Dia_DD-MM-YY.csv, title "
        f"'{match['index']} - Carteira do Dia dd/mm/yy')"
    )


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data:
        raise _fail(name, "it is a binary file")
    if data.startswith(b"\xef\xbb\xbf"):
        raise _fail(name, "it is UTF-8 with a BOM, not ISO-8859-1 as B3 writes it (a re-save?)")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # B3's "Código" in ISO-8859-1 is never valid UTF-8
        else:
            raise _fail(name, "it is UTF-8, not ISO-8859-1 as B3 writes it (a re-save?)")
    return data.decode("iso-8859-1")


def parse_portfolio_csv(data: bytes, name: str) -> PortfolioCsv:
    """Reads one daily portfolio CSV; the index and the trading date come from its title line.

    `name` is the file's name (or path): when it follows B3's pattern (`IBOVDia_05-03-25.csv`),
    its index and date must agree with the title. NotAPortfolioCsv says why a file is refused.
    """
    text = _decode(data, name)
    lines = [line for line in _LINE_BREAK.split(text) if line.strip()]
    if len(lines) < 5:
        raise _fail(name, f"only {len(lines)} non-empty lines (a title, a header, rows, 2 footers)")
    title_text = _title_line(lines[0])
    title = TITLE.fullmatch(title_text)
    if not title:
        quadrimester = _quadrimester_reason(title_text)
        if quadrimester:
            raise _fail(name, quadrimester)
        raise _fail(name, f"first line {lines[0][:60]!r} is not 'INDEX - Carteira do Dia dd/mm/yy'")
    index = title["index"]
    header = [cell.strip() for cell in lines[1].split(";") if cell.strip()]
    if header != HEADER:
        raise _fail(name, f"header line is {header}, expected {HEADER}")
    try:
        day = parse_b3_date(title["date"])
    except B3ValueError as exc:
        raise _fail(name, f"the title's date: {exc}") from exc
    claim = claim_of_file_name(name)
    if claim is not None and claim != (index, day):
        raise _fail(
            name,
            f"the file name says {claim.index} of {claim.trading_date} but its title says "
            f"{index} of {day} ({title_text!r})",
        )

    *rows, total_line, reductor_line = lines[2:]
    total = total_line.split(";")
    reductor = reductor_line.split(";")
    if total[0].strip() != "Quantidade Teórica Total" or len(total) < 5:
        raise _fail(name, f"footer {total_line[:60]!r} is not 'Quantidade Teórica Total;;;N;P'")
    if reductor[0].strip() != "Redutor" or len(reductor) < 4:
        raise _fail(name, f"footer {reductor_line[:60]!r} is not 'Redutor;;;R'")

    results = []
    for number, line in enumerate(rows, start=3):
        cells = line.split(";")
        if cells and cells[-1].strip() == "":
            cells = cells[:-1]
        if len(cells) != 5:
            raise _fail(name, f"line {number} has {len(cells)} fields, expected 5: {line[:60]!r}")
        cod, asset, kind, qty, part = (cell.strip() for cell in cells)
        results.append(
            {
                "segment": None,
                "cod": cod,
                "asset": asset,
                "type": kind,
                "part": part,
                "partAcum": None,
                "theoricalQty": qty,
            }
        )
    response = {
        "page": {
            "pageNumber": 1,
            "pageSize": max(PAGE_SIZE, len(results)),
            "totalRecords": len(results),
            "totalPages": 1,
        },
        "header": {
            "date": format_b3_date(day),
            "text": total[0].strip(),
            "part": total[4].strip(),
            "partAcum": None,
            "textReductor": reductor[0].strip(),
            "reductor": reductor[3].strip(),
            "theoricalQty": total[3].strip(),
        },
        "results": results,
    }
    try:
        PortfolioPage.model_validate(response)
    except ValidationError as exc:
        raise _fail(name, f"a value does not read as B3 writes it:\n{exc}") from exc
    return PortfolioCsv(index, day, response)
