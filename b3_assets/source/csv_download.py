"""B3's "Carteira do Dia" CSV download of any index and any year, read as GetPortfolioDay's answer.

B3 serves only today's portfolio, so its CSV downloads are the way to build history. The file is
ISO-8859-1, `;`-separated: a title line (`SMLL - Carteira do Dia 22/10/24`), a header line, one
row per constituent (with a trailing `;`), and two footer lines (total theoretical quantity,
reductor); lines end in CRLF, LF or CR. The index and the trading date come from the title line:
a file named as B3 names it (`IBXXDia_20-06-25.csv`, `IBOVDia_05-03-25 (1).csv`) must agree with
its title, a renamed one (`Cart_Ibov@4332012.csv`) is read by its title alone. The result is a
segment-1 response (no sectors), as B3 would have answered that day.

B3's quadrimester (theoretical) portfolio download has the same layout under the title
`IBOV - Carteira Set. a Dez. 2023` (file `IBOVQuad_9-2023.csv`): `parse_quadrimester_csv` reads it
as GetQuartelyPreview's answer with the same decoding, line handling and number validation, so
each parser refuses the other's file by name instead of reading it as the wrong kind.

A refusal names the likely cause in one line where there is one: an HTML page saved under a
`.csv` name (a failed download), or a file re-saved by a spreadsheet (another separator, numbers
without B3's thousands dots or with decimal points), instead of a line count or one validation
error per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from b3_assets.source.models import (
    B3ValueError,
    BrDecimal,
    BrInteger,
    Page,
    PortfolioPage,
    Result,
    format_b3_date,
    parse_b3_date,
    parse_br_decimal,
    parse_br_integer,
)
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
# As B3 names the quadrimester download: IBOVQuad_9-2023.csv (first month, year), ... (1).csv
QUADRIMESTER_FILE_NAME = re.compile(
    rf"{_INDEX}Quad_(?P<month>\d{{1,2}})-(?P<year>\d{{4}})(?: ?\(\d+\))?\.csv",
    re.ASCII | re.IGNORECASE,
)
HEADER = ["Código", "Ação", "Tipo", "Qtde. Teórica", "Part. (%)"]
PAGE_SIZE = 120  # what the API is asked for; a longer portfolio still comes as one page here
PREVIEW_PAGE_SIZE = 9999  # what GetQuartelyPreview is asked for (DESIGN.md section 4)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# An HTML page (a failed download saved as .csv): it opens with a tag, and an html, head or body
# tag comes early (after an optional BOM, XML prolog, doctype or comment).
_HTML_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<")
_HTML_TAG = re.compile(rb"<(?:!doctype\s+html|html|head|body)[\s>/]", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
# What a spreadsheet's re-save does to B3's numbers, by the kind of field. Only values that do
# not read as B3 writes them are looked at, so none of these can match a number of B3's own.
_NO_THOUSANDS_DOTS = "numbers without B3's thousands dots"
_DECIMAL_POINTS = "decimal points instead of B3's decimal commas"
_NO_DECIMAL_COMMA = "decimals without B3's decimal comma"
_EXPONENTS = "numbers in scientific notation"
_RESAVED_INTEGER = [
    (re.compile(r"\d+(?:[.,]\d+)?[eE][+-]?\d+", re.ASCII), _EXPONENTS),
    (re.compile(r"\d{4,}", re.ASCII), _NO_THOUSANDS_DOTS),
    (re.compile(r"\d+\.\d+", re.ASCII), _DECIMAL_POINTS),
]
_RESAVED_DECIMAL = [
    (re.compile(r"\d+(?:[.,]\d+)?[eE][+-]?\d+", re.ASCII), _EXPONENTS),
    (re.compile(r"\d{4,}(?:,\d+)?", re.ASCII), _NO_THOUSANDS_DOTS),
    (re.compile(r"\d[\d,]*\.\d+", re.ASCII), _DECIMAL_POINTS),
    (re.compile(r"\d{1,3}", re.ASCII), _NO_DECIMAL_COMMA),
]
# Other separators a spreadsheet writes instead of B3's `;`, with how the message names them.
_OTHER_SEPARATORS = {",": "','", "\t": "tabs"}
_USE_AS_DOWNLOADED = "use the file as downloaded"
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
# B3's quadrimesters by the title's month abbreviations (any case, with or without the dots):
# (first, last) -> (the first month's number, the months as B3 writes them).
QUADRIMESTERS = {
    ("jan", "abr"): (1, "Jan. a Abr."),
    ("mai", "ago"): (5, "Mai. a Ago."),
    ("set", "dez"): (9, "Set. a Dez."),
}
# What `_fail` says a refused file is not, for each parser.
_DAILY = "portfolio CSV"
_QUADRIMESTER = "quadrimester portfolio CSV"


class NotAPortfolioCsv(ValueError):
    """The file is not the B3 portfolio CSV download (daily or quadrimester) the parser reads;
    the message names the file and says why."""


@dataclass(frozen=True)
class PortfolioCsv:
    """One daily "Carteira do Dia" download: whose portfolio, of which day, as the API's answer."""

    index: str  # from the title line
    trading_date: date  # from the title line
    response: dict[str, Any]  # GetPortfolioDay segment-1 shape

    @property
    def unit(self) -> Unit:
        return Unit(self.index, self.trading_date)


@dataclass(frozen=True)
class QuadrimesterCsv:
    """One quadrimester "Carteira Set. a Dez. 2023" download, as GetQuartelyPreview's answer.

    `response` has B3's `page`, `header` ({part, theoricalQty, reductor}: no date, as the API's)
    and `results` ({cod, asset, type, theoricalQty, part}) with B3's pt-BR strings untouched.
    The API's per-row `cont` is absent: the CSV has no such column and inventing it would make
    the copy unfaithful.
    """

    index: str  # from the title line
    first_day: date  # the quadrimester's first day: Jan 1, May 1 or Sep 1 of the title's year
    months: str  # the title's months as B3 writes them: "Jan. a Abr.", "Mai. a Ago.", "Set. a Dez."
    response: dict[str, Any]  # GetQuartelyPreview shape, without `cont`


class FileNameClaim(NamedTuple):
    index: str
    trading_date: date  # for a quadrimester file: the quadrimester's first day


class _PreviewHeader(BaseModel):
    """GetQuartelyPreview's header: totals only, no date."""

    model_config = ConfigDict(extra="forbid")

    part: BrDecimal
    theoricalQty: BrInteger
    reductor: BrDecimal


class _PreviewPage(BaseModel):
    """GetQuartelyPreview's answer; private until the preview's capture brings its own model."""

    page: Page
    header: _PreviewHeader
    results: list[Result]


def _fail(name: str, reason: str, what: str = _DAILY) -> NotAPortfolioCsv:
    return NotAPortfolioCsv(f"{name} is not a B3 {what}: {reason}")


def _claim(
    pattern: re.Pattern[str], name: str, day_of: Callable[[re.Match[str]], date]
) -> FileNameClaim | None:
    """What a name matching `pattern` claims; a name whose day is not real claims nothing (it
    is then read as a renamed file, by its title alone)."""
    match = pattern.fullmatch(Path(name).name)
    if not match:
        return None
    try:
        day = day_of(match)
    except ValueError:  # B3ValueError included
        return None
    return FileNameClaim(match["index"].upper(), day)


def claim_of_file_name(name: str) -> FileNameClaim | None:
    """The index and date a file named as B3 names it claims; None for any other name."""
    return _claim(FILE_NAME, name, lambda match: parse_b3_date(match["date"].replace("-", "/")))


def claim_of_quadrimester_file_name(name: str) -> FileNameClaim | None:
    """The index and first day a quadrimester file named as B3 names it (IBOVQuad_9-2023.csv)
    claims; None for any other name. A month that starts no quadrimester is still a claim, so
    that it contradicts every title instead of passing as a renamed file."""
    return _claim(
        QUADRIMESTER_FILE_NAME,
        name,
        lambda match: date(int(match["year"]), int(match["month"]), 1),
    )


def _check_claim(
    claim: FileNameClaim | None,
    title: FileNameClaim,
    text: str,
    name: str,
    what: str = _DAILY,
) -> None:
    """A file named as B3 names it must be what its title says; a renamed one claims nothing."""
    if claim is not None and claim != title:
        raise _fail(
            name,
            f"the file name says {claim.index} of {claim.trading_date} but its title says "
            f"{title.index} of {title.trading_date} ({text!r})",
            what,
        )


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
        "parse_quadrimester_csv reads it (`b3 import` takes both kinds)"
    )


def _html_reason(data: bytes) -> str | None:
    """Why the file is an HTML page (an error or login page saved under the CSV's name); None
    when it does not look like one."""
    head = data[:4096]
    if not _HTML_START.match(head) or not _HTML_TAG.search(head):
        return None
    reason = "it is an HTML page, not B3's CSV: the download failed?"
    title = _HTML_TITLE.search(data[:65536])
    if title:
        try:
            text = title[1].decode("utf-8")
        except UnicodeDecodeError:
            text = title[1].decode("iso-8859-1")  # a page written in ISO-8859-1
        text = " ".join(text.split())
        if text:
            return f"{reason} (page title {text[:80]!r})"
    return reason


def _decode(data: bytes, name: str, what: str = _DAILY) -> str:
    if b"\x00" in data:
        raise _fail(name, "it is a binary file", what)
    html = _html_reason(data)
    if html:
        raise _fail(name, html, what)
    if data.startswith(b"\xef\xbb\xbf"):
        raise _fail(
            name, "it is UTF-8 with a BOM, not ISO-8859-1 as B3 writes it (a re-save?)", what
        )
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # B3's "Código" in ISO-8859-1 is never valid UTF-8
        else:
            raise _fail(name, "it is UTF-8, not ISO-8859-1 as B3 writes it (a re-save?)", what)
    return data.decode("iso-8859-1")


def _lines(data: bytes, name: str, what: str = _DAILY) -> list[str]:
    """The non-empty lines of a download, whatever its line breaks (CRLF, LF or CR)."""
    text = _decode(data, name, what)
    lines = [line for line in _LINE_BREAK.split(text) if line.strip()]
    if len(lines) < 5:
        raise _fail(
            name, f"only {len(lines)} non-empty lines (a title, a header, rows, 2 footers)", what
        )
    return lines


def _check_separator(lines: list[str], name: str, what: str = _DAILY) -> None:
    """A header that reads as B3's with another separator is a spreadsheet's re-save: said as
    such, before the title (padded with that separator) or the header is refused for it."""
    header = lines[1]
    for separator, said in _OTHER_SEPARATORS.items():
        cells = [cell.strip().strip('"').strip() for cell in header.split(separator)]
        if [cell for cell in cells if cell] == HEADER:
            raise _fail(
                name,
                f"it looks re-saved by a spreadsheet: fields separated by {said} instead of "
                f"B3's ';' (line 2: {header[:60]!r}); {_USE_AS_DOWNLOADED}",
                what,
            )


def _check_header(line: str, name: str, what: str = _DAILY) -> None:
    header = [cell.strip() for cell in line.split(";") if cell.strip()]
    if header != HEADER:
        raise _fail(name, f"header line is {header}, expected {HEADER}", what)


class _Table(NamedTuple):
    """The lines after the title and header, split as B3 writes them (strings untouched)."""

    rows: list[tuple[str, str, str, str, str]]  # cod, asset, type, quantity, part
    total: list[str]  # Quantidade Teórica Total;;;N;P
    reductor: list[str]  # Redutor;;;R


def _table(lines: list[str], name: str, what: str = _DAILY) -> _Table:
    *rows, total_line, reductor_line = lines[2:]
    total = total_line.split(";")
    reductor = reductor_line.split(";")
    if total[0].strip() != "Quantidade Teórica Total" or len(total) < 5:
        raise _fail(
            name, f"footer {total_line[:60]!r} is not 'Quantidade Teórica Total;;;N;P'", what
        )
    if reductor[0].strip() != "Redutor" or len(reductor) < 4:
        raise _fail(name, f"footer {reductor_line[:60]!r} is not 'Redutor;;;R'", what)
    cells_of_rows = []
    for number, line in enumerate(rows, start=3):
        cells = line.split(";")
        if cells and cells[-1].strip() == "":
            cells = cells[:-1]
        if len(cells) != 5:
            raise _fail(
                name, f"line {number} has {len(cells)} fields, expected 5: {line[:60]!r}", what
            )
        cod, asset, kind, qty, part = (cell.strip() for cell in cells)
        cells_of_rows.append((cod, asset, kind, qty, part))
    return _Table(cells_of_rows, total, reductor)


def _one_page(count: int, size: int) -> dict[str, int]:
    return {
        "pageNumber": 1,
        "pageSize": max(size, count),
        "totalRecords": count,
        "totalPages": 1,
    }


def _resave_sign(text: object, integer: bool) -> str | None:
    """What a spreadsheet did to this number, if it no longer reads as B3 writes it and looks
    like one of a spreadsheet's rewritings; None otherwise."""
    if not isinstance(text, str):
        return None
    try:
        (parse_br_integer if integer else parse_br_decimal)(text)
    except B3ValueError:
        pass
    else:
        return None
    for pattern, sign in _RESAVED_INTEGER if integer else _RESAVED_DECIMAL:
        if pattern.fullmatch(text):
            return sign
    return None


def _resaved_numbers(response: dict[str, Any]) -> str | None:
    """One line naming what a spreadsheet did to the numbers (each kind with its first line and
    value), when that shows on two lines or more; None for a file that does not look re-saved
    (a single bad value keeps the validation's own message)."""
    results = response.get("results") or []
    header = response.get("header") or {}
    footer = len(results) + 3  # the total line; line 1 is the title, line 2 the header
    cells = [
        (number, row.get(key), key == "theoricalQty")
        for number, row in enumerate(results, start=3)
        for key in ("theoricalQty", "part")
    ]
    cells += [
        (footer, header.get("theoricalQty"), True),
        (footer, header.get("part"), False),
        (footer + 1, header.get("reductor"), False),
    ]
    first: dict[str, str] = {}
    lines = set()
    for number, text, integer in cells:
        sign = _resave_sign(text, integer)
        if sign:
            lines.add(number)
            first.setdefault(sign, f"{sign} (line {number}: {text!r})")
    if len(lines) < 2:
        return None
    return f"it looks re-saved by a spreadsheet: {', '.join(first.values())}; {_USE_AS_DOWNLOADED}"


def _validated(
    model: type[BaseModel], response: dict[str, Any], name: str, what: str = _DAILY
) -> None:
    """Every number must read as B3 writes it (pt-BR); the strings themselves are kept. A
    spreadsheet's re-save is said in one line instead of one validation error per row."""
    try:
        model.model_validate(response)
    except ValidationError as exc:
        resaved = _resaved_numbers(response)
        if resaved:
            raise _fail(name, resaved, what) from exc
        raise _fail(name, f"a value does not read as B3 writes it:\n{exc}", what) from exc


def parse_portfolio_csv(data: bytes, name: str) -> PortfolioCsv:
    """Reads one daily portfolio CSV; the index and the trading date come from its title line.

    `name` is the file's name (or path): when it follows B3's pattern (`IBOVDia_05-03-25.csv`),
    its index and date must agree with the title. NotAPortfolioCsv says why a file is refused.
    """
    lines = _lines(data, name)
    _check_separator(lines, name)
    title_text = _title_line(lines[0])
    title = TITLE.fullmatch(title_text)
    if not title:
        quadrimester = _quadrimester_reason(title_text)
        if quadrimester:
            raise _fail(name, quadrimester)
        raise _fail(name, f"first line {lines[0][:60]!r} is not 'INDEX - Carteira do Dia dd/mm/yy'")
    index = title["index"]
    _check_header(lines[1], name)
    try:
        day = parse_b3_date(title["date"])
    except B3ValueError as exc:
        raise _fail(name, f"the title's date: {exc}") from exc
    _check_claim(claim_of_file_name(name), FileNameClaim(index, day), title_text, name)

    rows, total, reductor = _table(lines, name)
    results = [
        {
            "segment": None,
            "cod": cod,
            "asset": asset,
            "type": kind,
            "part": part,
            "partAcum": None,
            "theoricalQty": qty,
        }
        for cod, asset, kind, qty, part in rows
    ]
    response = {
        "page": _one_page(len(results), PAGE_SIZE),
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
    _validated(PortfolioPage, response, name)
    return PortfolioCsv(index, day, response)


def _quadrimester_of_title(line: str, name: str) -> tuple[str, date, str]:
    """Index, first day and B3's months label of a quadrimester title; a daily title is refused
    as a daily portfolio, months that are not one of B3's three quadrimesters by their name."""
    title_text = _title_line(line)
    title = QUADRIMESTER_TITLE.fullmatch(title_text)
    if not title:
        daily = TITLE.fullmatch(title_text)
        if daily:
            raise _fail(
                name,
                f"it is B3's daily portfolio of {daily['index']} of {daily['date']} (title "
                f"{title_text!r}), not a quadrimester portfolio ('{daily['index']} - Carteira "
                "Set. a Dez. 2023'); b3 import reads it as a daily 'Carteira do Dia'",
                _QUADRIMESTER,
            )
        raise _fail(
            name,
            f"first line {line[:60]!r} is not 'INDEX - Carteira Mmm. a Mmm. YYYY'",
            _QUADRIMESTER,
        )
    quadrimester = QUADRIMESTERS.get((title["first"].lower(), title["last"].lower()))
    if quadrimester is None:
        written = title_text[title.start("first") : title.start("year")].strip()
        known = ", ".join(f"{label!r}" for _, label in QUADRIMESTERS.values())
        raise _fail(
            name,
            f"the title's months {written!r} are not one of B3's quadrimesters ({known})",
            _QUADRIMESTER,
        )
    month, label = quadrimester
    year = int(title["year"])
    if year < 1:
        raise _fail(name, f"the title's year {title['year']} is not a real year", _QUADRIMESTER)
    return title["index"], date(year, month, 1), label


def parse_quadrimester_csv(data: bytes, name: str) -> QuadrimesterCsv:
    """Reads one quadrimester portfolio CSV; the index and the months come from its title line.

    The same reading as `parse_portfolio_csv` (ISO-8859-1, any line breaks, pt-BR numbers), so
    an import of either kind holds B3's strings exactly. `name` is the file's name (or path):
    when it follows B3's pattern (`IBOVQuad_9-2023.csv`), its index, first month and year must
    agree with the title. NotAPortfolioCsv names the file and says why it is refused.
    """
    lines = _lines(data, name, _QUADRIMESTER)
    _check_separator(lines, name, _QUADRIMESTER)
    index, first_day, months = _quadrimester_of_title(lines[0], name)
    _check_header(lines[1], name, _QUADRIMESTER)
    _check_claim(
        claim_of_quadrimester_file_name(name),
        FileNameClaim(index, first_day),
        _title_line(lines[0]),
        name,
        _QUADRIMESTER,
    )
    rows, total, reductor = _table(lines, name, _QUADRIMESTER)
    results = [
        {"cod": cod, "asset": asset, "type": kind, "theoricalQty": qty, "part": part}
        for cod, asset, kind, qty, part in rows
    ]
    response = {
        "page": _one_page(len(results), PREVIEW_PAGE_SIZE),
        "header": {
            "part": total[4].strip(),
            "theoricalQty": total[3].strip(),
            "reductor": reductor[3].strip(),
        },
        "results": results,
    }
    _validated(_PreviewPage, response, name, _QUADRIMESTER)
    return QuadrimesterCsv(index, first_day, months, response)


def parse_b3_csv(data: bytes, name: str) -> PortfolioCsv | QuadrimesterCsv:
    """Either of B3's portfolio downloads, told apart by the title line: a daily 'Carteira do
    Dia' or a quadrimester 'Carteira Set. a Dez. 2023' (what `b3 import` takes)."""
    lines = _lines(data, name)
    # a spreadsheet pads the title with its own separator: the kind still shows
    if QUADRIMESTER_TITLE.fullmatch(_title_line(lines[0]).rstrip(",\t ")):
        return parse_quadrimester_csv(data, name)
    return parse_portfolio_csv(data, name)
