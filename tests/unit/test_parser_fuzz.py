"""Property tests of the response parser: whatever bytes B3 sends, the parser either returns a
response whose every value reads as B3 writes it, or raises B3ApiError naming the problem."""

import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b3_assets.source.b3_client import B3ApiError, decode_page, merge_pages
from b3_assets.source.models import (
    PortfolioPage,
    format_b3_date,
    format_br_decimal,
    format_br_integer,
    parse_br_decimal,
    parse_br_integer,
)

URL = "http://127.0.0.1/indexProxy/indexCall/GetPortfolioDay/e30="
FUZZ = settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])

tickers = st.from_regex(r"[A-Z]{4}[0-9]{1,2}", fullmatch=True)
weights = st.decimals(min_value=0, max_value=100, places=3)
quantities = st.integers(min_value=0, max_value=10**12)
types = st.sampled_from(["ON      NM", "PN  EJ  N1", "ON", "UNT     N2", "PNA", "PNB ED N1"])


@st.composite
def responses(draw) -> dict:
    rows = draw(st.lists(tickers, min_size=1, max_size=12, unique=True))
    segment = draw(st.sampled_from([None, "Financ e Outros", "Utilidade Pública"]))
    results = [
        {
            "segment": segment,
            "cod": ticker,
            "asset": draw(st.text(min_size=1, max_size=12)),
            "type": draw(types),
            "part": format_br_decimal(draw(weights)),
            "partAcum": format_br_decimal(draw(weights)) if segment else None,
            "theoricalQty": format_br_integer(draw(quantities)),
        }
        for ticker in rows
    ]
    day = draw(st.dates())
    return {
        "page": {"pageNumber": 1, "pageSize": 120, "totalRecords": len(rows), "totalPages": 1},
        "header": {
            "date": format_b3_date(day),
            "text": "Quantidade Teórica Total",
            "part": "100,000",
            "partAcum": None,
            "textReductor": "Redutor",
            "reductor": format_br_decimal(draw(st.decimals(0, 10**9, places=8)), 8),
            "theoricalQty": format_br_integer(draw(quantities)),
        },
        "results": results,
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


@st.composite
def mutated(draw) -> bytes:
    """A valid response broken in one of the ways a server can break it."""
    response = draw(responses())
    kind = draw(
        st.sampled_from(["value", "drop", "extra", "truncate", "html", "us-locale", "junk"])
    )
    section = draw(st.sampled_from(["page", "header", "results"]))
    target = response["results"][0] if section == "results" else response[section]
    key = draw(st.sampled_from(sorted(target)))
    if kind == "value":
        target[key] = draw(json_values)
    elif kind == "drop":
        del target[key]
    elif kind == "extra":
        target[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    elif kind == "us-locale":
        target[key] = str(target[key]).replace(".", "#").replace(",", ".").replace("#", ",")
    body = json.dumps(response, ensure_ascii=draw(st.booleans())).encode()
    if kind == "truncate":
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif kind == "html":
        body = b"<!DOCTYPE html><html><body>Manutencao</body></html>"
    elif kind == "junk":
        body = draw(st.binary(max_size=200))
    return body


def assert_readable(data: dict) -> None:
    page = PortfolioPage.model_validate(data)
    assert page.results and page.header.trading_date
    parse_br_integer(page.header.theoricalQty)
    parse_br_decimal(page.header.reductor)
    for row in page.results:
        assert isinstance(row.weight, Decimal) and isinstance(row.quantity, int)


@FUZZ
@given(mutated())
def test_any_broken_response_is_refused_by_name_or_read_exactly(body: bytes) -> None:
    try:
        data = decode_page(body, URL, "application/json")
    except B3ApiError as exc:
        assert str(exc) and URL in str(exc)
        return
    assert_readable(data)
    assert data == json.loads(body)  # what is kept is what was sent


@settings(max_examples=300)
@given(responses())
def test_every_well_formed_response_is_read_as_sent(response: dict) -> None:
    body = json.dumps(response, ensure_ascii=False).encode()
    data = decode_page(body, URL)
    assert data == response
    assert_readable(data)
    merged = merge_pages([data])
    assert merged["results"] == response["results"]
