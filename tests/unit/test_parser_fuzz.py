"""Property tests of the response parsers: whatever bytes B3 sends, the API parser either returns
a response whose every value reads as B3 writes it, or raises B3ApiError naming the problem; any
well-formed portfolio written as B3 writes its CSV download reads back exactly."""

import json
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b3_assets.source.b3_client import B3ApiError, decode_page, merge_pages
from b3_assets.source.csv_download import NotAPortfolioCsv, parse_portfolio_csv
from b3_assets.source.models import (
    PortfolioPage,
    format_b3_date,
    format_br_decimal,
    format_br_integer,
    parse_b3_date,
    parse_br_decimal,
    parse_br_integer,
)

URL = "http://127.0.0.1/indexProxy/indexCall/GetPortfolioDay/e30="
FUZZ = settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])

# B3 tickers of every kind: shares (PETR4), units and funds (BPAC11, HGLG11), BDRs (M1TA34)
tickers = st.from_regex(r"[A-Z][A-Z0-9]{3}[1-9][0-9]?", fullmatch=True)
weights = st.decimals(min_value=0, max_value=100, places=3)
quantities = st.integers(min_value=0, max_value=10**12)
types = st.sampled_from(
    [
        "ON      NM",
        "PN  EJ  N1",
        "ON",
        "UNT     N2",
        "PNA",
        "PNB ED N1",
        "CI",
        "CI  ER",
        "DRN",
        "DR3",
    ]
)
index_codes = st.from_regex(r"[A-Z][A-Z0-9]{2,9}", fullmatch=True)


@st.composite
def responses(draw, csv: bool = False) -> dict:
    """A well-formed GetPortfolioDay answer; with `csv`, one a CSV download can hold (segment 1,
    asset names B3 could write in ISO-8859-1, a two-digit year that reads back)."""
    rows = draw(st.lists(tickers, min_size=1, max_size=12, unique=True))
    segments = [None] if csv else [None, "Financ e Outros", "Utilidade Pública"]
    segment = draw(st.sampled_from(segments))
    assets = csv_assets if csv else st.text(min_size=1, max_size=12)
    results = [
        {
            "segment": segment,
            "cod": ticker,
            "asset": draw(assets),
            "type": draw(types),
            "part": format_br_decimal(draw(weights)),
            "partAcum": format_br_decimal(draw(weights)) if segment else None,
            "theoricalQty": format_br_integer(draw(quantities)),
        }
        for ticker in rows
    ]
    day = draw(st.dates(date(2000, 1, 1), date(2068, 12, 31)) if csv else st.dates())
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


csv_assets = (
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters=";\x7f"),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(lambda name: name and all(not 0x7F <= ord(c) < 0xA0 for c in name))
)


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


def as_b3_csv(response: dict, index: str, ending: bytes) -> bytes:
    """The response written as B3 writes its "Carteira do Dia" download (ISO-8859-1)."""
    header = response["header"]
    lines = [
        f"{index} - Carteira do Dia {header['date']}",
        "Código;Ação;Tipo;Qtde. Teórica;Part. (%)",
        *(
            f"{r['cod']};{r['asset']};{r['type']};{r['theoricalQty']};{r['part']};"
            for r in response["results"]
        ),
        f"{header['text']};;;{header['theoricalQty']};{header['part']}",
        f"{header['textReductor']};;;{header['reductor']}",
    ]
    return ending.join(line.encode("iso-8859-1") for line in lines) + ending


@settings(max_examples=300)
@given(
    responses(csv=True),
    index_codes,
    st.sampled_from([b"\r\n", b"\n", b"\r"]),
    st.booleans(),
)
def test_every_well_formed_csv_download_is_read_as_written(
    response: dict, index: str, ending: bytes, named_as_b3_names_it: bool
) -> None:
    data = as_b3_csv(response, index, ending)
    day = parse_b3_date(response["header"]["date"])
    name = f"{index}Dia_{day.strftime('%d-%m-%y')}.csv" if named_as_b3_names_it else "c.csv"
    parsed = parse_portfolio_csv(data, name)
    assert (parsed.index, parsed.trading_date) == (index, day)
    assert parsed.response["header"] == response["header"]
    assert parsed.response["results"] == response["results"]
    assert parsed.response["page"]["totalRecords"] == len(response["results"])
    assert_readable(parsed.response)


@settings(max_examples=300)
@given(responses(csv=True), index_codes, index_codes)
def test_a_csv_named_for_another_index_is_refused_naming_both(
    response: dict, title_index: str, name_index: str
) -> None:
    data = as_b3_csv(response, title_index, b"\r\n")
    dd, mm, yy = response["header"]["date"].split("/")
    name = f"{name_index}Dia_{dd}-{mm}-{yy}.csv"
    if name_index == title_index:
        assert parse_portfolio_csv(data, name).index == title_index
        return
    try:
        parse_portfolio_csv(data, name)
    except NotAPortfolioCsv as exc:
        assert f"file name says {name_index} " in str(exc)
        assert f"title says {title_index} " in str(exc)
    else:
        raise AssertionError(f"{name} with title {title_index} was accepted")
