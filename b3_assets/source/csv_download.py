"""B3's "Carteira do Dia" CSV download (IBOVDia_DD-MM-YY.csv) read into GetPortfolioDay's shape.

B3 serves only today's portfolio, so its CSV downloads are the way to build history. The file is
ISO-8859-1, `;`-separated: a title line, a header line, one row per constituent (with a trailing
`;`), and two footer lines (total theoretical quantity, reductor). The result is a segment-1
response (no sectors), as B3 would have answered that day.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from b3_assets.source.models import B3ValueError, PortfolioPage, format_b3_date, parse_b3_date

TITLE = re.compile(r"^(?P<index>[A-Z0-9]{2,10}) - Carteira do Dia (?P<date>\d{2}/\d{2}/\d{2})$")
FILE_NAME = re.compile(
    r"^(?P<index>[A-Z0-9]{2,10})Dia_(?P<date>\d{2}-\d{2}-\d{2})(?: \(\d+\))?\.csv$"
)
HEADER = ["Código", "Ação", "Tipo", "Qtde. Teórica", "Part. (%)"]


class NotAPortfolioCsv(ValueError):
    """The file is not one of B3's portfolio CSV downloads; the message says why."""


def _fail(name: str, reason: str) -> NotAPortfolioCsv:
    return NotAPortfolioCsv(f"{name} is not a B3 portfolio CSV: {reason}")


def date_from_file_name(name: str) -> date | None:
    match = FILE_NAME.match(Path(name).name)
    if not match:
        return None
    try:
        return parse_b3_date(match["date"].replace("-", "/"))
    except B3ValueError:
        return None


def parse_portfolio_csv(data: bytes, name: str, index: str | None = None) -> dict[str, Any]:
    """Returns the GetPortfolioDay (segment 1) response object the CSV stands for.

    With `index`, a download of another index (e.g. IBXX) is refused.
    """
    if b"\x00" in data[:4096]:
        raise _fail(name, "it is a binary file")
    text = data.decode("iso-8859-1")
    if text.startswith("\ufeff") or "Ã" in text[:400]:
        raise _fail(name, "it is not ISO-8859-1 as B3 writes it (UTF-8 re-save?)")
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if len(lines) < 5:
        raise _fail(name, f"only {len(lines)} non-empty lines (a title, a header, rows, 2 footers)")
    title = TITLE.match(lines[0].strip())
    if not title:
        raise _fail(name, f"first line {lines[0][:60]!r} is not 'INDEX - Carteira do Dia dd/mm/yy'")
    if index is not None and title["index"] != index:
        raise _fail(name, f"it is a portfolio of {title['index']}, not {index}")
    header = [cell.strip() for cell in lines[1].split(";") if cell.strip()]
    if header != HEADER:
        raise _fail(name, f"header line is {header}, expected {HEADER}")
    try:
        day = parse_b3_date(title["date"])
    except B3ValueError as exc:
        raise _fail(name, str(exc)) from exc
    named = date_from_file_name(name)
    if named is not None and named != day:
        raise _fail(name, f"the file name says {named} but its title says {day}")

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
            "pageSize": 120,
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
    return response
