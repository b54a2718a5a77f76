"""HTTP client of B3's index API: GetPortfolioDay (every page), GetTheoricalPortfolio and
GetQuartelyPreview (every page; the preview may be "none served") and GetStockIndex (the list of
indices), with retries, and errors that name the problem."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from b3_assets.source.index_list import IndexListError, index_members, parse_index_list
from b3_assets.source.models import NUMBER_READERS, PortfolioPage, TheoreticalPortfolio

USER_AGENT = "b3-lake/0.1 (+https://github.com/b3-lake; portfolio capture)"
RETRY_STATUSES = (429, 500, 502, 503, 504)
INDEX_LIST_PAGE_SIZE = 9999

TheoreticalKind = Literal["theoretical", "preview"]
# B3's own (misspelt) method names: the current theoretical portfolio and the next
# quadrimester's preview. Both take the same parameters and answer the same shape.
THEORETICAL_METHODS: dict[str, str] = {
    "theoretical": "GetTheoricalPortfolio",
    "preview": "GetQuartelyPreview",
}
MAX_SHAPE_ERRORS = 10  # listed in a refusal; the rest are counted


class B3ApiError(RuntimeError):
    """B3 answered, or failed to answer, in a way the pipeline must not store."""


@dataclass(frozen=True)
class FetchedPortfolio:
    """A whole portfolio as captured: the raw bytes to keep and the object they hold."""

    raw: bytes
    response: dict[str, Any]
    source_url: str
    fetched_at: datetime
    pages: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def portfolio(self) -> PortfolioPage:
        return PortfolioPage.model_validate(self.response)


@dataclass(frozen=True)
class FetchedIndexList:
    """B3's GetStockIndex answer as captured: its exact bytes and the object they hold."""

    raw: bytes
    response: dict[str, Any]
    source_url: str
    fetched_at: datetime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def indices(self) -> dict[str, int]:
        """{index code: number of listed companies in it}, codes sorted."""
        return parse_index_list(self.response)

    @property
    def members(self) -> dict[str, tuple[str, ...]]:
        """{index code: the tickers of its listed companies}, codes sorted."""
        return index_members(self.response)


@dataclass(frozen=True)
class FetchedTheoretical:
    """A theoretical portfolio or preview as captured, or B3's answer that it serves none.

    `served` is False when B3 answered with no header or no results (the preview exists only in
    the weeks before a rebalance): not an error, and `raw`/`response` still hold that answer so
    the capture can record what B3 said. The header has no date: the caller dates the capture.
    """

    kind: TheoreticalKind
    index: str
    language: str
    served: bool
    raw: bytes
    response: dict[str, Any]
    source_url: str
    fetched_at: datetime
    pages: int

    @property
    def method(self) -> str:
        return THEORETICAL_METHODS[self.kind]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def portfolio(self) -> TheoreticalPortfolio | None:
        """The validated answer in its language; None when nothing was served."""
        if not self.served:
            return None
        return TheoreticalPortfolio.model_validate(
            self.response, context={"language": self.language}
        )


def request_params(index: str, segment: int, page_number: int, page_size: int) -> dict[str, Any]:
    return {
        "language": "pt-br",
        "pageNumber": page_number,
        "pageSize": page_size,
        "index": index,
        "segment": str(segment),
    }


def api_url_for(api_url: str, method: str, params: dict[str, Any]) -> str:
    """B3 takes its parameters as base64 of compact JSON in the path, after the method's name."""
    encoded = base64.b64encode(json.dumps(params, separators=(",", ":")).encode()).decode()
    return f"{api_url.rstrip('/')}/{method}/{encoded}"


def portfolio_url(api_url: str, params: dict[str, Any]) -> str:
    return api_url_for(api_url, "GetPortfolioDay", params)


def theoretical_params(
    index: str, page_number: int, page_size: int, language: str = "pt-br"
) -> dict[str, Any]:
    """The parameters of GetTheoricalPortfolio/GetQuartelyPreview, in B3's own order."""
    return {
        "pageNumber": page_number,
        "pageSize": page_size,
        "language": language,
        "index": index,
    }


def theoretical_url(api_url: str, kind: TheoreticalKind, params: dict[str, Any]) -> str:
    """The URL of `kind` ("theoretical" or "preview"); an unknown kind is refused."""
    if kind not in THEORETICAL_METHODS:
        raise ValueError(f"kind must be one of {sorted(THEORETICAL_METHODS)}, not {kind!r}")
    return api_url_for(api_url, THEORETICAL_METHODS[kind], params)


def index_list_url(api_url: str) -> str:
    """GetStockIndex with every company on one page (B3 lists about 540)."""
    return api_url_for(
        api_url, "GetStockIndex", {"pageNumber": 1, "pageSize": INDEX_LIST_PAGE_SIZE}
    )


def retrying_session(retries: int, backoff: float = 0.5) -> requests.Session:
    """A session that retries connection errors, 5xx and 429 with exponential backoff."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


def get(session: requests.Session, url: str, timeout: float, retries: int) -> requests.Response:
    """One GET through a retrying session; every failure becomes a B3ApiError naming the URL."""
    try:
        response = session.get(url, timeout=timeout)
    except requests.exceptions.RetryError as exc:
        raise B3ApiError(f"B3 kept failing after retries for {url}: {exc}") from exc
    except requests.exceptions.Timeout as exc:
        raise B3ApiError(f"B3 did not answer within {timeout:g} s for {url}") from exc
    except requests.exceptions.ConnectionError as exc:
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, ReadTimeoutError):
            raise B3ApiError(
                f"B3 did not answer within {timeout:g} s (tried {retries + 1} times) for {url}"
            ) from exc
        raise B3ApiError(f"could not connect to B3 at {url}: {exc}") from exc
    if response.status_code != 200:
        raise B3ApiError(
            f"B3 answered HTTP {response.status_code} for {url} (after retries): "
            f"{response.text[:200]!r}"
        )
    return response


def decode_json(body: bytes, url: str, content_type: str | None = None) -> dict[str, Any]:
    """Parses a body as a JSON object, refusing HTML maintenance pages and non-JSON."""
    head = body.lstrip()[:200].lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        raise B3ApiError(
            f"B3 answered with an HTML page instead of JSON (maintenance or block page?) for {url}"
        )
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise B3ApiError(
            f"B3 answered with a body that is not valid JSON ({exc}; content-type "
            f"{content_type!r}, {len(body)} bytes) for {url}"
        ) from exc
    if not isinstance(data, dict):
        raise B3ApiError(f"B3 answered with JSON that is not an object for {url}")
    return data


def decode_page(body: bytes, url: str, content_type: str | None = None) -> dict[str, Any]:
    """Parses one page's body, refusing HTML maintenance pages, non-JSON and wrong shapes."""
    data = decode_json(body, url, content_type)
    if data.get("header") is None and not data.get("results"):
        raise B3ApiError(
            f"B3 answered with an empty portfolio (no header and no results) for {url}: it has "
            "no portfolio under that index code and segment; nothing was stored"
        )
    try:
        page = PortfolioPage.model_validate(data)
    except ValidationError as exc:
        raise B3ApiError(
            f"B3 answered with an unexpected response shape for {url}:\n{exc}"
        ) from exc
    if not page.results:
        raise B3ApiError(
            f"B3 answered with an empty portfolio (no results) for {url}; nothing was stored"
        )
    return data


def is_none_served(data: dict[str, Any]) -> bool:
    """B3's answer when it has no theoretical portfolio or preview for an index: results empty or
    null, or no header. Outside the weeks before a rebalance this is the normal preview answer."""
    return data.get("header") is None or not data.get("results")


def describe_validation_error(exc: ValidationError, data: dict[str, Any]) -> str:
    """Pydantic's errors as lines that name the row (its number in the page and its ticker) and
    the field at fault: "results.40.part" alone makes the reader count rows in a JSON body."""
    lines = []
    errors = exc.errors()
    for error in errors[:MAX_SHAPE_ERRORS]:
        loc = error["loc"]
        where = ".".join(str(part) for part in loc) or "(the whole answer)"
        results = data.get("results")
        if len(loc) >= 2 and loc[0] == "results" and isinstance(loc[1], int):
            row = results[loc[1]] if isinstance(results, list) else None
            cod = row.get("cod") if isinstance(row, dict) else None
            field = ".".join(str(part) for part in loc[2:]) or "(the row)"
            where = f"row {loc[1] + 1} of the page (cod {cod!r}), {field}"
        sent = repr(error.get("input"))
        sent = sent if len(sent) <= 80 else sent[:77] + "..."
        said = error["msg"] if sent in error["msg"] else f"{error['msg']} (sent {sent})"
        lines.append(f"  {where}: {said}")
    if len(errors) > MAX_SHAPE_ERRORS:
        lines.append(f"  ... and {len(errors) - MAX_SHAPE_ERRORS} more")
    return "\n".join(lines)


def validate_theoretical(data: dict[str, Any], url: str, language: str = "pt-br") -> dict[str, Any]:
    """Checks a served theoretical/preview answer against its model; the refusal names each row
    (number and ticker) and field that does not read in `language`."""
    try:
        TheoreticalPortfolio.model_validate(data, context={"language": language})
    except ValidationError as exc:
        raise B3ApiError(
            f"B3 answered with an unexpected response shape ({language} numbers expected) for "
            f"{url}; {exc.error_count()} problem(s):\n{describe_validation_error(exc, data)}"
        ) from exc
    return data


def decode_theoretical_page(
    body: bytes, url: str, content_type: str | None = None, language: str = "pt-br"
) -> dict[str, Any] | None:
    """One page of GetTheoricalPortfolio/GetQuartelyPreview, or None when B3 serves none.

    HTML pages, non-JSON and rows that do not read in `language` raise B3ApiError.
    """
    data = decode_json(body, url, content_type)
    if is_none_served(data):
        return None
    return validate_theoretical(data, url, language)


def merge_pages(pages: list[dict[str, Any]]) -> dict[str, Any]:
    """One response object: page 1's envelope, the header once, every page's results in order."""
    first = pages[0]
    for number, page in enumerate(pages[1:], start=2):
        if page["header"] != first["header"]:
            raise B3ApiError(
                f"B3 pages disagree: page {number} has header {page['header']} but page 1 has "
                f"{first['header']}; the portfolio changed while it was being read, try again"
            )
        for key in ("totalRecords", "totalPages"):
            if page["page"].get(key) != first["page"].get(key):
                raise B3ApiError(
                    f"B3 pages disagree on {key}: page {number} says {page['page'].get(key)}, "
                    f"page 1 says {first['page'].get(key)}"
                )
    merged = dict(first)
    merged["results"] = [row for page in pages for row in page["results"]]
    expected = first["page"]["totalRecords"]
    if len(merged["results"]) != expected:
        raise B3ApiError(
            f"B3 said totalRecords={expected} but its {len(pages)} page(s) held "
            f"{len(merged['results'])} results"
        )
    tickers = [row["cod"] for row in merged["results"]]
    if len(set(tickers)) != len(tickers):
        raise B3ApiError("B3 pages repeat constituents (a ticker appears twice across pages)")
    return merged


class B3Client:
    """Reads the portfolio B3 is serving now; B3 has no date parameter."""

    def __init__(
        self,
        api_url: str,
        index: str = "IBOV",
        segment: int = 2,
        page_size: int = 120,
        timeout: float = 20.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_pages: int = 50,
    ) -> None:
        if segment not in (1, 2):
            raise ValueError(f"segment must be 1 or 2, not {segment!r}")
        self.api_url = api_url
        self.index = index
        self.segment = segment
        self.page_size = page_size
        self.timeout = timeout
        self.max_pages = max_pages
        self.retries = retries
        self.session = retrying_session(retries, backoff)

    def url(self, page_number: int = 1) -> str:
        params = request_params(self.index, self.segment, page_number, self.page_size)
        return portfolio_url(self.api_url, params)

    def _get(self, url: str) -> requests.Response:
        return get(self.session, url, self.timeout, self.retries)

    def fetch_index_list(self) -> FetchedIndexList:
        """B3's list of indices, through this client's session, timeout and retries."""
        return fetch_index_list(self.api_url, self.timeout, self.retries, session=self.session)

    def _later_pages(
        self,
        first: dict[str, Any],
        url_of: Callable[[int], str],
        decode: Callable[[bytes, str, str | None], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Pages 2..totalPages of an answer whose (decoded) first page is `first`.

        Why: B3 may cap pageSize below what was asked, so totalPages, not the asked size, says
        how many pages there are; a wild count is refused rather than followed.
        """
        total_pages = first["page"]["totalPages"]
        if total_pages < 1 or total_pages > self.max_pages:
            raise B3ApiError(f"B3 announced {total_pages} pages; refusing (limit {self.max_pages})")
        pages = []
        for number in range(2, total_pages + 1):
            url = url_of(number)
            response = self._get(url)
            pages.append(decode(response.content, url, response.headers.get("content-type")))
        return pages

    def fetch(self) -> FetchedPortfolio:
        """Fetches every page (B3 may cap pageSize below what was asked: follow totalPages)."""
        fetched_at = datetime.now(UTC)
        first_url = self.url(1)
        first_response = self._get(first_url)
        first = decode_page(
            first_response.content, first_url, first_response.headers.get("content-type")
        )
        pages = [first, *self._later_pages(first, self.url, decode_page)]
        merged = merge_pages(pages)
        raw = first_response.content if len(pages) == 1 else canonical_json(merged)
        return FetchedPortfolio(raw, merged, first_url, fetched_at, len(pages))

    def theoretical_url(
        self, kind: TheoreticalKind, page_number: int = 1, language: str = "pt-br"
    ) -> str:
        params = theoretical_params(self.index, page_number, self.page_size, language)
        return theoretical_url(self.api_url, kind, params)

    def fetch_theoretical(
        self, kind: TheoreticalKind, language: str = "pt-br"
    ) -> FetchedTheoretical:
        """Fetches this index's theoretical portfolio or preview (`kind`), every page, merged.

        Same retries, page following and merge checks as `fetch`; B3's "none served" answer
        (no header or no results) comes back with `served=False` instead of an error, since the
        preview is only published in the weeks before a rebalance. `language` is B3's: "pt-br"
        (what the lake stores) or "en-us" (US numbers), and the rows must read in it.
        """
        if language not in NUMBER_READERS:
            raise ValueError(f"language must be one of {sorted(NUMBER_READERS)}, not {language!r}")
        fetched_at = datetime.now(UTC)
        first_url = self.theoretical_url(kind, 1, language)
        first_response = self._get(first_url)
        first = decode_json(
            first_response.content, first_url, first_response.headers.get("content-type")
        )
        if is_none_served(first):
            return FetchedTheoretical(
                kind=kind,
                index=self.index,
                language=language,
                served=False,
                raw=first_response.content,
                response=first,
                source_url=first_url,
                fetched_at=fetched_at,
                pages=1,
            )
        validate_theoretical(first, first_url, language)

        def decode_later(body: bytes, url: str, content_type: str | None) -> dict[str, Any]:
            data = decode_json(body, url, content_type)
            if is_none_served(data):
                raise B3ApiError(
                    f"B3 answered a later page with no header or no results for {url}, after "
                    "page 1 had a portfolio; it changed while being read, try again"
                )
            return validate_theoretical(data, url, language)

        later = self._later_pages(
            first, lambda number: self.theoretical_url(kind, number, language), decode_later
        )
        pages = [first, *later]
        merged = merge_pages(pages)
        raw = first_response.content if len(pages) == 1 else canonical_json(merged)
        return FetchedTheoretical(
            kind, self.index, language, True, raw, merged, first_url, fetched_at, len(pages)
        )


def fetch_index_list(
    api_url: str,
    timeout: float = 20.0,
    retries: int = 4,
    backoff: float = 0.5,
    session: requests.Session | None = None,
) -> FetchedIndexList:
    """B3's list of indices now (GetStockIndex, one page of up to 9999 companies).

    Same retries and errors as the portfolio: a failure, an HTML page, a body that is not JSON
    and an answer that `parse_index_list` refuses all raise B3ApiError naming the URL.
    """
    url = index_list_url(api_url)
    fetched_at = datetime.now(UTC)
    own_session = session is None
    session = session or retrying_session(retries, backoff)
    try:
        response = get(session, url, timeout, retries)
    finally:
        if own_session:
            session.close()
    data = decode_json(response.content, url, response.headers.get("content-type"))
    try:
        parse_index_list(data)
    except IndexListError as exc:
        raise B3ApiError(
            f"B3 answered GetStockIndex with an unusable list for {url}: {exc}"
        ) from exc
    return FetchedIndexList(response.content, data, url, fetched_at)


def canonical_json(response: dict[str, Any]) -> bytes:
    """Deterministic bytes for a merged multi-page response, so a re-fetch is byte-identical."""
    return json.dumps(response, ensure_ascii=False, indent=1).encode("utf-8")
