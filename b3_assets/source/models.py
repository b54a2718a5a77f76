"""The shape of B3's GetPortfolioDay, GetTheoricalPortfolio and GetQuartelyPreview responses and
the parsing of their pt-BR values.

B3 sends every number as a pt-BR string ("3.688.870.616", "11,477"). The models keep those strings
untouched (the raw copy must stay faithful) and validate them strictly, so a number in the wrong
locale ("11.477" for a weight, "3,688,870,616" for a quantity) is refused by name instead of being
silently read a thousand times too large or small. The theoretical portfolio and the preview can
also be asked in en-us (US numbers: "4,394,835,131", "2.580"); their models read the language
from the validation context and refuse the other locale just as strictly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationInfo,
)

# ASCII digits only and \Z, not $: neither "١١,٤٧٧" nor "11,477\n" is how B3 writes a number.
_INTEGER = re.compile(r"^(?:0|[1-9]\d{0,2}(?:\.\d{3})*)\Z", re.ASCII)
_DECIMAL = re.compile(r"^(?:0|[1-9]\d{0,2}(?:\.\d{3})*),\d+\Z", re.ASCII)
# The same numbers as B3 writes them when asked for language=en-us.
_US_INTEGER = re.compile(r"^(?:0|[1-9]\d{0,2}(?:,\d{3})*)\Z", re.ASCII)
_US_DECIMAL = re.compile(r"^(?:0|[1-9]\d{0,2}(?:,\d{3})*)\.\d+\Z", re.ASCII)
_B3_DATE = re.compile(r"^\d{2}/\d{2}/\d{2}\Z", re.ASCII)
# Root of 4 (a capital, then capitals or digits: B3SA3, M1TA34), number 1 to 99.
_TICKER = re.compile(r"[A-Z][A-Z0-9]{3}[1-9][0-9]?")
_TYPE_WORD = re.compile(r"[A-Z0-9]{1,4}")
_CLASS = re.compile(r"[A-Z][A-Z0-9]{1,3}")

GOVERNANCE_LEVELS = ("NM", "N1", "N2", "MA", "M2")


class B3ValueError(ValueError):
    """A value in a B3 response that does not read as B3 writes it."""


def parse_br_integer(text: str) -> int:
    """Reads '3.688.870.616' as 3688870616; refuses decimals and US-style commas."""
    if not isinstance(text, str) or not _INTEGER.match(text):
        raise B3ValueError(f"not a pt-BR integer (expected like '3.688.870.616'): {text!r}")
    return int(text.replace(".", ""))


def parse_br_decimal(text: str) -> Decimal:
    """Reads '11,477' or '15.438.607,05630450' exactly; refuses '11.477' (US locale)."""
    if not isinstance(text, str) or not _DECIMAL.match(text):
        raise B3ValueError(f"not a pt-BR decimal (expected like '1.234,567'): {text!r}")
    return Decimal(text.replace(".", "").replace(",", "."))


def parse_us_integer(text: str) -> int:
    """Reads B3's en-us '4,394,835,131' as 4394835131; refuses pt-BR dots and decimals."""
    if not isinstance(text, str) or not _US_INTEGER.match(text):
        raise B3ValueError(f"not an en-us integer (expected like '4,394,835,131'): {text!r}")
    return int(text.replace(",", ""))


def parse_us_decimal(text: str) -> Decimal:
    """Reads B3's en-us '2.580' or '16,279,911.48376400' exactly; refuses pt-BR '2,580'."""
    if not isinstance(text, str) or not _US_DECIMAL.match(text):
        raise B3ValueError(f"not an en-us decimal (expected like '1,234.567'): {text!r}")
    return Decimal(text.replace(",", ""))


class NumberReaders(NamedTuple):
    integer: Callable[[str], int]
    decimal: Callable[[str], Decimal]


# The `language` B3 takes as a parameter, and how it then writes numbers.
NUMBER_READERS: dict[str, NumberReaders] = {
    "pt-br": NumberReaders(parse_br_integer, parse_br_decimal),
    "en-us": NumberReaders(parse_us_integer, parse_us_decimal),
}


def number_readers(language: str) -> NumberReaders:
    """The integer and decimal readers of a B3 language; an unknown one is refused, not guessed."""
    try:
        return NUMBER_READERS[language]
    except KeyError:
        raise B3ValueError(
            f"unknown B3 language {language!r} (known: {', '.join(NUMBER_READERS)})"
        ) from None


def format_br_decimal(value: Decimal, places: int = 3) -> str:
    """The inverse of parse_br_decimal, for generators and CSV imports."""
    quantized = f"{value:,.{places}f}"
    return quantized.replace(",", "_").replace(".", ",").replace("_", ".")


def format_br_integer(value: int) -> str:
    return f"{value:,d}".replace(",", ".")


def parse_b3_date(text: str) -> date:
    """Reads B3's 'dd/mm/yy' ('14/07/25' is 2025-07-14); never falls back to today."""
    if not isinstance(text, str) or not _B3_DATE.match(text):
        raise B3ValueError(f"not a B3 date (expected dd/mm/yy): {text!r}")
    try:
        return datetime.strptime(text, "%d/%m/%y").date()
    except ValueError as exc:
        raise B3ValueError(f"not a real calendar date: {text!r}") from exc


def format_b3_date(day: date) -> str:
    return day.strftime("%d/%m/%y")


class AssetType(NamedTuple):
    classe: str
    ex_flag: str | None
    governanca: str | None


def split_type(text: str) -> AssetType:
    """Splits B3's fixed-width type ('PN  EJ  N1') into class, ex-flag and governance level.

    Words are capitals and digits separated by spaces, as B3 writes them: a class (ON, PN, PNA,
    UNT, CI for funds, DRN/DR1/DR2/DR3 for BDRs), an optional ex-flag (ED, EJ, EDJ, ER, ATZ, ...)
    and an optional governance level (NM, N1, N2, MA, M2). Lowercase, tabs, punctuation, a missing
    class or two ex-flags are refused.
    """
    if not isinstance(text, str) or not text.strip():
        raise B3ValueError(f"empty asset type: {text!r}")
    words = [word for word in text.split(" ") if word]
    if not all(_TYPE_WORD.fullmatch(word) for word in words):
        raise B3ValueError(f"asset type is not capitals and digits separated by spaces: {text!r}")
    classe, rest = words[0], words[1:]
    if not _CLASS.fullmatch(classe) or classe in GOVERNANCE_LEVELS:
        raise B3ValueError(
            f"asset type does not start with a share class (ON, PN, CI...): {text!r}"
        )
    governanca = rest.pop() if rest and rest[-1] in GOVERNANCE_LEVELS else None
    if len(rest) > 1:
        raise B3ValueError(f"asset type has more than one ex-flag: {text!r}")
    if rest and rest[0] in GOVERNANCE_LEVELS:
        raise B3ValueError(f"asset type has two governance levels: {text!r}")
    return AssetType(classe, rest[0] if rest else None, governanca)


def parse_ticker(text: str) -> str:
    """A B3 trading code: a 4-character root and a 1-2 digit number (PETR4, B3SA3, HGLG11,
    BPAC11, AAPL34, M1TA34); lowercase, spaces, short roots and a leading-zero number are refused.
    """
    if not isinstance(text, str) or not _TICKER.fullmatch(text):
        raise B3ValueError(f"not a B3 ticker: {text!r}")
    return text


def _readable_by(parse: Callable[[str], object]) -> AfterValidator:
    """Keeps B3's string as sent, after checking that `parse` reads it."""

    def check(value: str) -> str:
        parse(value)
        return value

    return AfterValidator(check)


def _readable_in_language(kind: str) -> AfterValidator:
    """Keeps B3's string as sent, after checking that it reads as a `kind` ("integer" or
    "decimal") in the language of the validation context (pt-br when there is none)."""

    def check(value: str, info: ValidationInfo) -> str:
        language = (info.context or {}).get("language", "pt-br")
        getattr(number_readers(language), kind)(value)
        return value

    return AfterValidator(check)


BrDecimal = Annotated[str, _readable_by(parse_br_decimal)]
BrInteger = Annotated[str, _readable_by(parse_br_integer)]
B3Date = Annotated[str, _readable_by(parse_b3_date)]
AssetTypeText = Annotated[str, _readable_by(split_type)]
Ticker = Annotated[str, _readable_by(parse_ticker)]
LocaleDecimal = Annotated[str, _readable_in_language("decimal")]
LocaleInteger = Annotated[str, _readable_in_language("integer")]


class Page(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    pageNumber: int
    pageSize: int
    totalRecords: int
    totalPages: int


class Header(BaseModel):
    model_config = ConfigDict(extra="allow")

    date: B3Date
    text: str | None = None
    part: BrDecimal
    partAcum: BrDecimal | None = None
    textReductor: str | None = None
    reductor: BrDecimal
    theoricalQty: BrInteger

    @property
    def trading_date(self) -> date:
        return parse_b3_date(self.date)

    @property
    def total_quantity(self) -> int:
        return parse_br_integer(self.theoricalQty)


class Result(BaseModel):
    """One constituent. `segment`/`partAcum` hold the sector and its weight in segment 2."""

    model_config = ConfigDict(extra="allow")

    segment: str | None = None
    cod: Ticker
    asset: str
    type: AssetTypeText
    part: BrDecimal
    partAcum: BrDecimal | None = None
    theoricalQty: BrInteger

    @property
    def weight(self) -> Decimal:
        return parse_br_decimal(self.part)

    @property
    def quantity(self) -> int:
        return parse_br_integer(self.theoricalQty)


class PortfolioPage(BaseModel):
    """One page of GetPortfolioDay, or all pages merged into one response object."""

    model_config = ConfigDict(extra="allow")

    page: Page
    header: Header
    results: list[Result]

    @property
    def trading_date(self) -> date:
        return self.header.trading_date


class _InLanguage(BaseModel):
    """Remembers the language it was validated in, so its properties read numbers the same way."""

    _language: str = PrivateAttr("pt-br")

    def model_post_init(self, context: Any, /) -> None:
        if isinstance(context, dict) and "language" in context:
            self._language = context["language"]

    @property
    def language(self) -> str:
        return self._language


class TheoreticalHeader(_InLanguage):
    """The header of GetTheoricalPortfolio and GetQuartelyPreview: totals and **no date** (the
    capture session has to date it). `part` is the weights' total ("100,000")."""

    model_config = ConfigDict(extra="allow")

    part: LocaleDecimal
    theoricalQty: LocaleInteger
    reductor: LocaleDecimal

    @property
    def total_quantity(self) -> int:
        return number_readers(self.language).integer(self.theoricalQty)

    @property
    def reductor_value(self) -> Decimal:
        return number_readers(self.language).decimal(self.reductor)


class TheoreticalResult(_InLanguage):
    """One constituent of the theoretical portfolio or of the preview. No sector; `cont` is an
    integer B3 numbers the rows with (1..N, not in the rows' order), kept as sent."""

    model_config = ConfigDict(extra="allow")

    cod: Ticker
    asset: str
    type: AssetTypeText
    theoricalQty: LocaleInteger
    part: LocaleDecimal
    cont: Annotated[StrictInt, Field(ge=1)]

    @property
    def weight(self) -> Decimal:
        return number_readers(self.language).decimal(self.part)

    @property
    def quantity(self) -> int:
        return number_readers(self.language).integer(self.theoricalQty)


class TheoreticalPortfolio(_InLanguage):
    """A GetTheoricalPortfolio or GetQuartelyPreview answer (one page, or all pages merged).

    Validate with `context={"language": "en-us"}` for an answer asked in en-us; without a
    context the numbers must be pt-BR. An empty answer (no header, no results: B3 serves no
    preview outside the weeks before a rebalance) is not a portfolio and fails here; the client
    tells it apart before validating.
    """

    model_config = ConfigDict(extra="allow")

    page: Page
    header: TheoreticalHeader
    results: list[TheoreticalResult]
