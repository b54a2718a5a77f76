"""B3's list of indices, read from a GetStockIndex answer.

`GetStockIndex/{base64({"pageNumber":1,"pageSize":9999})}` lists every listed company with the
indices it belongs to, as one comma list per company::

    {"page": {"pageNumber": 1, "pageSize": 9999, "totalRecords": 537, "totalPages": 1},
     "header": {"update": "2025-04-07", "startMonth": 1, "endMonth": 4, "year": 2025},
     "results": [{"company": "3TENTOS", "spotlight": "ON   NM", "code": "TTEN3",
                  "indexes": "AGFS,IBRA,ICO2,ICON,IGCT,IGCX,IGNM,ITAG,SMLL"}, ...]}

`parse_index_list` turns it into the sorted index codes, each with the number of listed companies
that belong to it (`index_members`: with their tickers). Anything that does not read as B3 writes
it is refused with an `IndexListError` naming the place, never skipped. The parsing is pure; the
two helpers at the end read the bundled copy of B3's answer (`sample_index_list`, offline) and
ask B3 (`fetch_index_codes`, through the client in b3_client).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from b3_contract.lake_keys import INDEX_CODE


class IndexListError(ValueError):
    """A GetStockIndex answer that does not have B3's shape."""


# The bundled copy of B3's real GetStockIndex answer of 2025-04-07 (537 companies, 34 codes):
# package data beside the offline sample generator.
BUNDLED_PACKAGE = "b3_assets.testing"
BUNDLED_FILE = "stock_index_sample.json"


class _Page(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    pageNumber: int
    pageSize: int
    totalRecords: int
    totalPages: int


class _Company(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    company: str | None = None
    spotlight: str | None = None
    code: str
    indexes: str | None  # null or "" for a company in no index

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not value.strip() or value != value.strip():
            raise ValueError(f"not a ticker: {value!r}")
        return value

    def index_codes(self) -> list[str]:
        if not self.indexes:
            return []
        codes = [code.strip() for code in self.indexes.split(",")]
        bad = [code for code in codes if not INDEX_CODE.fullmatch(code)]
        if bad:
            raise IndexListError(
                f"company {self.code!r} lists {bad[0]!r}, which is not a B3 index code "
                f"(3 to 10 capitals and digits, like IBOV); its indexes were {self.indexes!r}"
            )
        return codes


class _StockIndexAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    page: _Page | None = None
    header: dict[str, Any] | None = None
    results: list[_Company]


def parse_index_list(answer: bytes | str | Mapping[str, Any]) -> dict[str, int]:
    """{index code: number of listed companies in it} of a GetStockIndex answer, codes sorted."""
    return {code: len(tickers) for code, tickers in index_members(answer).items()}


def index_members(answer: bytes | str | Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """{index code: its companies' tickers, sorted} of a GetStockIndex answer, codes sorted.

    `answer` is the body (bytes or text) or the decoded object. Refused: a body that is not JSON,
    a wrong shape (the error names the field), no companies, a ticker listed twice, an index code
    that is not one, and an answer that holds only some of its pages (ask pageSize 9999).
    """
    if isinstance(answer, bytes | str):
        try:
            answer = json.loads(answer)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexListError(f"the GetStockIndex answer is not valid JSON: {exc}") from exc
    if not isinstance(answer, Mapping):
        raise IndexListError(
            f"the GetStockIndex answer is not a JSON object but {type(answer).__name__}"
        )
    try:
        parsed = _StockIndexAnswer.model_validate(answer)
    except ValidationError as exc:
        raise IndexListError(f"the GetStockIndex answer has an unexpected shape:\n{exc}") from exc
    if not parsed.results:
        raise IndexListError("the GetStockIndex answer lists no companies")
    seen: set[str] = set()
    for company in parsed.results:
        if company.code in seen:
            raise IndexListError(f"the GetStockIndex answer lists {company.code!r} twice")
        seen.add(company.code)
    page = parsed.page
    if page is not None and page.totalPages != 1:
        raise IndexListError(
            f"the GetStockIndex answer is incomplete: page {page.pageNumber} of "
            f"{page.totalPages}, {len(parsed.results)} of {page.totalRecords} companies; ask "
            "for them all at once with pageSize 9999"
        )
    if page is not None and page.totalRecords != len(parsed.results):
        raise IndexListError(
            f"the GetStockIndex answer says totalRecords={page.totalRecords} but holds "
            f"{len(parsed.results)} companies"
        )
    members: dict[str, set[str]] = {}
    for company in parsed.results:
        for code in company.index_codes():
            members.setdefault(code, set()).add(company.code)
    if not members:
        raise IndexListError("the GetStockIndex answer names no index at all")
    return {code: tuple(sorted(members[code])) for code in sorted(members)}


def index_codes(answer: bytes | str | Mapping[str, Any]) -> list[str]:
    """Just the sorted index codes of a GetStockIndex answer."""
    return list(index_members(answer))


def bundled_stock_index() -> bytes:
    """The bundled GetStockIndex answer, byte for byte as B3 sent it on 2025-04-07."""
    return _bundled()


@functools.cache
def _bundled() -> bytes:
    return resources.files(BUNDLED_PACKAGE).joinpath(BUNDLED_FILE).read_bytes()


def sample_index_list() -> dict[str, int]:
    """Offline: {code: companies} of the bundled answer (34 codes; IBOV 87, IBRA 175, ...)."""
    return dict(_sample_index_list())


@functools.cache
def _sample_index_list() -> tuple[tuple[str, int], ...]:
    return tuple(parse_index_list(_bundled()).items())


def fetch_index_codes(settings: Any) -> dict[str, int]:
    """B3's list now, {code: companies}: GetStockIndex at `settings.api_url`, with the settings'
    `http_timeout` and `http_retries` when it has them. Raises B3ApiError like every fetch."""
    from b3_assets.source.b3_client import fetch_index_list  # the client imports this module

    fetched = fetch_index_list(
        settings.api_url,
        timeout=getattr(settings, "http_timeout", 20.0),
        retries=getattr(settings, "http_retries", 4),
    )
    return fetched.indices
