"""B3's theoretical portfolio and quadrimester preview, the source layer: the local B3 serves both
endpoints paged like GetPortfolioDay, the client fetches every page and merges them into B3's
real answer, tells "none served" (the preview outside the weeks before a rebalance) from an
error, retries like the daily fetch, and refuses a row it cannot read by naming it."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import math
import subprocess
import sys
from decimal import Decimal

import pytest
from conftest import FIXTURES, free_port
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b3_assets.source.b3_client import (
    B3ApiError,
    B3Client,
    canonical_json,
    decode_theoretical_page,
    theoretical_params,
    theoretical_url,
)
from b3_assets.source.models import (
    TheoreticalPortfolio,
    format_br_decimal,
    format_br_integer,
    parse_br_decimal,
    parse_br_integer,
    parse_us_decimal,
    parse_us_integer,
)
from b3_assets.testing.fake_b3 import FakeB3, Fault, RunningFakeB3

PT_BR = FIXTURES / "theorical_portfolio_IBOV_pt-br.json"
EN_US = FIXTURES / "theorical_portfolio_IBOV_en-us_2025-04-07.json"
KINDS = ("theoretical", "preview")
METHODS = {"theoretical": "GetTheoricalPortfolio", "preview": "GetQuartelyPreview"}
FIELDS = ("cod", "asset", "type", "theoricalQty", "part", "cont")
URL = "http://127.0.0.1/indexProxy/indexCall/GetQuartelyPreview/e30="


def client(server: RunningFakeB3, **kwargs) -> B3Client:
    options = {"timeout": 2.0, "retries": 3, "backoff": 0.01} | kwargs
    return B3Client(server.api_url, **options)


def params_of(url: str) -> dict:
    return json.loads(base64.b64decode(url.rsplit("/", 1)[1]))


@pytest.fixture(scope="module")
def pt_br_bytes() -> bytes:
    return PT_BR.read_bytes()


@pytest.fixture(scope="module")
def pt_br(pt_br_bytes: bytes) -> dict:
    return json.loads(pt_br_bytes)


def serving(kind: str, response: dict | bytes | None, index: str = "IBOV", **kwargs) -> FakeB3:
    fake = FakeB3(**kwargs)
    fake.serve_theoretical(kind, index, response)
    return fake


# --- the URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_url_is_the_method_and_b3s_parameters_in_b3s_order(kind: str) -> None:
    url = theoretical_url(
        "https://b3.example/indexProxy/indexCall/", kind, theoretical_params("IBOV", 1, 9999)
    )
    assert url.startswith(f"https://b3.example/indexProxy/indexCall/{METHODS[kind]}/")
    encoded = base64.b64decode(url.rsplit("/", 1)[1]).decode()
    assert encoded == '{"pageNumber":1,"pageSize":9999,"language":"pt-br","index":"IBOV"}'


def test_unknown_kind_and_language_are_refused_before_any_request() -> None:
    with RunningFakeB3(FakeB3()) as server:
        with pytest.raises(ValueError, match="kind must be one of"):
            client(server).fetch_theoretical("quadrimester")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="language must be one of"):
            client(server).fetch_theoretical("preview", language="es")
        assert server.fake.requests == []


# --- the real answer, paged and merged -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_three_pages_of_40_merge_into_the_real_answer(kind: str, pt_br_bytes, pt_br) -> None:
    fake = serving(kind, pt_br_bytes, max_page_size=40)
    with RunningFakeB3(fake) as server:
        fetched = client(server).fetch_theoretical(kind)
    assert fetched.served and fetched.pages == 3  # 92 rows; the asked 120 is capped at 40
    assert [r["method"] for r in fake.requests] == [METHODS[kind]] * 3
    assert [r["params"] for r in fake.requests] == [
        {"pageNumber": n, "pageSize": 120, "language": "pt-br", "index": "IBOV"} for n in (1, 2, 3)
    ]
    assert all(r["user_agent"].startswith("b3-lake/") for r in fake.requests)
    results = fetched.response["results"]
    assert len(results) == len(pt_br["results"]) == 92
    for got, sent in zip(results, pt_br["results"], strict=True):
        assert {f: got[f] for f in FIELDS} == {f: sent[f] for f in FIELDS}, sent["cod"]
    assert results == pt_br["results"]  # nothing added either
    assert fetched.response["header"] == pt_br["header"]
    assert fetched.response["page"]["totalRecords"] == 92
    # the merged answer is stored as canonical bytes, and hashed as stored
    assert fetched.raw == canonical_json(fetched.response)
    assert fetched.sha256 == hashlib.sha256(fetched.raw).hexdigest()
    assert (fetched.kind, fetched.index, fetched.language, fetched.method) == (
        kind,
        "IBOV",
        "pt-br",
        METHODS[kind],
    )
    assert fetched.source_url == client(server).theoretical_url(kind)
    # and the model reads every number exactly as the strings say
    portfolio = fetched.portfolio
    assert portfolio is not None
    assert portfolio.header.total_quantity == parse_br_integer(pt_br["header"]["theoricalQty"])
    assert portfolio.header.reductor_value == Decimal("18673489.42022432")
    for row, sent in zip(portfolio.results, pt_br["results"], strict=True):
        assert row.weight == parse_br_decimal(sent["part"])
        assert row.quantity == parse_br_integer(sent["theoricalQty"])
    assert sum(row.quantity for row in portfolio.results) == portfolio.header.total_quantity


def test_one_page_keeps_b3s_exact_bytes(pt_br_bytes) -> None:
    with RunningFakeB3(serving("preview", pt_br_bytes)) as server:
        fetched = client(server).fetch_theoretical("preview")
    assert fetched.pages == 1
    assert fetched.raw == pt_br_bytes
    assert fetched.sha256 == hashlib.sha256(pt_br_bytes).hexdigest()


def test_the_en_us_answer_is_read_with_us_numbers() -> None:
    raw = EN_US.read_bytes()
    sent = json.loads(raw)
    fake = serving("theoretical", raw, max_page_size=40)
    with RunningFakeB3(fake) as server:
        fetched = client(server).fetch_theoretical("theoretical", language="en-us")
        assert fetched.pages == 3  # 87 rows
        assert {r["params"]["language"] for r in fake.requests} == {"en-us"}
        assert fetched.response["results"] == sent["results"]
        assert fetched.response["header"] == sent["header"]
        portfolio = fetched.portfolio
        assert portfolio is not None and portfolio.language == "en-us"
        assert portfolio.results[0].cod == "ABEV3"
        assert portfolio.results[0].quantity == 4_394_835_131  # "4,394,835,131"
        assert portfolio.results[0].weight == Decimal("2.580")  # "2.580"
        assert portfolio.header.total_quantity == 98_370_249_996
        assert sum(r.quantity for r in portfolio.results) == portfolio.header.total_quantity
        # the same answer asked as pt-br is refused, not read a thousand times off
        with pytest.raises(B3ApiError, match=r"pt-br numbers expected(.|\n)*not a pt-BR"):
            client(server).fetch_theoretical("theoretical")


def test_a_pt_br_answer_is_refused_when_en_us_was_asked(pt_br_bytes) -> None:
    refused = pytest.raises(B3ApiError, match=r"en-us numbers expected(.|\n)*not an en-us")
    with RunningFakeB3(serving("preview", pt_br_bytes)) as server, refused:
        client(server).fetch_theoretical("preview", language="en-us")


def test_kinds_and_indices_are_served_apart(pt_br_bytes) -> None:
    fake = serving("preview", pt_br_bytes, index="IBXX")
    with RunningFakeB3(fake) as server:
        assert client(server, index="IBXX").fetch_theoretical("preview").served
        assert not client(server, index="IBXX").fetch_theoretical("theoretical").served
        assert not client(server).fetch_theoretical("preview").served  # IBOV: not served
    assert [r["params"]["index"] for r in fake.requests] == ["IBXX", "IBXX", "IBOV"]


# --- none served ------------------------------------------------------------------------------


NONE_SERVED = {
    "the fake's empty answer": None,
    "results null": {
        "page": {"pageNumber": 1, "pageSize": 20, "totalRecords": 0, "totalPages": 0},
        "header": {"part": "0,000", "theoricalQty": "0", "reductor": "0,00000000"},
        "results": None,
    },
    "results empty": {
        "page": {"pageNumber": 1, "pageSize": 20, "totalRecords": 0, "totalPages": 0},
        "header": {"part": "100,000", "theoricalQty": "1", "reductor": "1,0"},
        "results": [],
    },
    "header null": {"page": None, "header": None, "results": None},
    "no keys at all": {},
}


@pytest.mark.parametrize("answer", NONE_SERVED.values(), ids=NONE_SERVED.keys())
def test_none_served_is_not_an_error(answer: dict | None) -> None:
    fake = FakeB3(max_page_size=40)
    body = None if answer is None else json.dumps(answer).encode()
    if body is not None:
        fake.faults.append(Fault(body=body))  # B3's answer, whatever the fake would send
    with RunningFakeB3(fake) as server:
        fetched = client(server).fetch_theoretical("preview")
    assert fetched.served is False
    assert fetched.portfolio is None
    assert fetched.pages == 1 and len(fake.requests) == 1
    assert json.loads(fetched.raw) == fetched.response  # what B3 said is kept, to record it
    if body is not None:
        assert fetched.raw == body
    assert fetched.sha256 == hashlib.sha256(fetched.raw).hexdigest()


def test_the_fake_serves_an_empty_variant_as_given() -> None:
    answer = NONE_SERVED["results null"]
    with RunningFakeB3(serving("theoretical", answer, index="SMLL")) as server:
        fetched = client(server, index="SMLL").fetch_theoretical("theoretical")
    assert not fetched.served and fetched.response == answer


def test_serving_none_withdraws_a_served_preview(pt_br_bytes) -> None:
    fake = serving("preview", pt_br_bytes)
    with RunningFakeB3(fake) as server:
        assert client(server).fetch_theoretical("preview").served
        fake.serve_theoretical("preview", "IBOV", None)
        fetched = client(server).fetch_theoretical("preview")
    assert not fetched.served
    assert fetched.response == {
        "page": {"pageNumber": 1, "pageSize": 0, "totalRecords": 0, "totalPages": 0},
        "header": None,
        "results": [],
    }


def test_a_later_page_that_comes_back_empty_is_an_error(pt_br) -> None:
    fake = serving("preview", pt_br, max_page_size=40)
    empty = json.dumps({"page": None, "header": None, "results": []}).encode()
    fake.faults.extend([Fault(), Fault(body=empty)])
    with RunningFakeB3(fake) as server, pytest.raises(B3ApiError, match="later page"):
        client(server).fetch_theoretical("preview")


# --- retries and B3's errors -----------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 500, 429])
def test_a_transient_status_is_retried_then_succeeds(status: int, pt_br) -> None:
    fake = serving("preview", pt_br, max_page_size=40)
    fake.faults.extend([Fault(status=status, body=b"busy"), Fault(status=502, body=b"busy")])
    with RunningFakeB3(fake) as server:
        fetched = client(server).fetch_theoretical("preview")
    assert fetched.served and fetched.response["results"] == pt_br["results"]
    assert len(fake.requests) == 5  # 2 failures + 3 pages


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault(status=503, body=b"down"), "503|kept failing"),
        (Fault(body=b"<!DOCTYPE html><html>Em manutencao</html>"), "HTML page instead of JSON"),
        (Fault(truncate=True), "not valid JSON"),
        (Fault(body=b"[]"), "not an object"),
    ],
)
def test_b3_errors_raise_b3_api_error(fault: Fault, message: str, pt_br) -> None:
    fake = serving("theoretical", pt_br)
    fake.faults.extend(
        Fault(fault.status, fault.body, fault.delay, fault.truncate) for _ in range(5)
    )
    with RunningFakeB3(fake) as server, pytest.raises(B3ApiError, match=message):
        client(server, retries=1).fetch_theoretical("theoretical")


def test_pages_that_disagree_on_the_header_are_refused(pt_br) -> None:
    fake = serving("preview", pt_br, max_page_size=40)
    other = {**pt_br, "header": {**pt_br["header"], "theoricalQty": "1"}}
    other["page"] = {"pageNumber": 2, "pageSize": 40, "totalRecords": 92, "totalPages": 3}
    other["results"] = pt_br["results"][40:80]
    fake.faults.extend([Fault(), Fault(body=json.dumps(other).encode())])
    with RunningFakeB3(fake) as server, pytest.raises(B3ApiError, match="pages disagree"):
        client(server).fetch_theoretical("preview")


# --- a malformed row is refused by name ---------------------------------------------------------


MALFORMED = {
    "US-locale weight": ("part", "3.157", r"part: Value error, not a pt-BR decimal"),
    "US-locale quantity": (
        "theoricalQty",
        "1,420,530,937",
        r"theoricalQty: Value error, not a pt-BR integer",
    ),
    "cont as text": ("cont", "15", "cont: Input should be a valid integer"),
    "cont zero": ("cont", 0, "cont: Input should be greater than or equal to 1"),
    "lowercase ticker": ("cod", "bbas3", "cod: Value error, not a B3 ticker"),
    "no class in type": ("type", "NM", "type: Value error, asset type does not start"),
    "missing cont": ("cont", None, "cont: Field required"),
}


@pytest.mark.parametrize(("field", "value", "message"), MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("position", [6, 46])  # BBAS3 on page 1; row 7 of page 2
def test_a_malformed_row_is_refused_naming_it(
    field: str, value: object, message: str, position: int, pt_br
) -> None:
    broken = copy.deepcopy(pt_br)
    row = broken["results"][position]
    if value is None:
        del row[field]
    else:
        row[field] = value
    cod = row["cod"] if field != "cod" else value
    fake = serving("preview", broken, max_page_size=40)
    with RunningFakeB3(fake) as server, pytest.raises(B3ApiError) as raised:
        client(server).fetch_theoretical("preview")
    text = str(raised.value)
    page = position // 40 + 1
    assert "/GetQuartelyPreview/" in text
    assert params_of(text.split(" for ", 1)[1].split(";", 1)[0])["pageNumber"] == page
    assert f"row {position % 40 + 1} of the page (cod {cod!r}), " in text
    assert message in text
    assert "1 problem(s)" in text


def test_a_header_without_its_totals_is_refused(pt_br) -> None:
    broken = {**pt_br, "header": {"part": "100,000", "date": "07/04/25"}}
    refused = pytest.raises(B3ApiError, match=r"header.theoricalQty: Field required")
    with RunningFakeB3(serving("theoretical", broken)) as server, refused:
        client(server).fetch_theoretical("theoretical")


# --- the fake's command line --------------------------------------------------------------------


def test_the_fake_serves_a_preview_file_from_its_command_line(pt_br) -> None:
    port = free_port()
    command = [sys.executable, "-m", "b3_assets.testing.fake_b3", "--port", str(port)]
    command += ["--preview", str(PT_BR), "--index", "IBXX", "--max-page-size", "40"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert "serving B3 at" in server.stdout.readline()
        api_url = f"http://127.0.0.1:{port}/indexProxy/indexCall"
        fetched = B3Client(api_url, index="IBXX", retries=1).fetch_theoretical("preview")
        assert fetched.pages == 3 and fetched.response["results"] == pt_br["results"]
        none = B3Client(api_url, index="IBXX", retries=1).fetch_theoretical("theoretical")
        assert not none.served
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- properties -----------------------------------------------------------------------------


FUZZ = settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
tickers = st.from_regex(r"[A-Z][A-Z0-9]{3}[1-9][0-9]?", fullmatch=True)
types = st.sampled_from(
    ["ON", "ON      NM", "PN  EJ  N1", "UNT     N2", "PNB EDR N1", "ON  ATZ NM"]
)
weights = st.decimals(min_value=0, max_value=100, places=3)
quantities = st.integers(min_value=0, max_value=10**12)
FORMATS = {
    "pt-br": (format_br_integer, format_br_decimal, parse_br_integer, parse_br_decimal),
    "en-us": (
        lambda value: f"{value:,d}",
        lambda value, places=3: f"{value:,.{places}f}",
        parse_us_integer,
        parse_us_decimal,
    ),
}


@st.composite
def answers(draw, language: str = "pt-br") -> dict:
    """A well-formed GetTheoricalPortfolio/GetQuartelyPreview answer written in `language`."""
    integer, decimal, _, _ = FORMATS[language]
    codes = draw(st.lists(tickers, min_size=1, max_size=15, unique=True))
    conts = draw(st.permutations(range(1, len(codes) + 1)))
    results = [
        {
            "cod": code,
            "asset": draw(st.text(min_size=1, max_size=12)),
            "type": draw(types),
            "theoricalQty": integer(draw(quantities)),
            "part": decimal(draw(weights)),
            "cont": cont,
        }
        for code, cont in zip(codes, conts, strict=True)
    ]
    return {
        "page": {"pageNumber": 1, "pageSize": 9999, "totalRecords": len(codes), "totalPages": 1},
        "header": {
            "part": decimal(Decimal(100)),
            "theoricalQty": integer(draw(quantities)),
            "reductor": decimal(draw(st.decimals(0, 10**9, places=8)), 8),
        },
        "results": results,
    }


languages = st.sampled_from(sorted(FORMATS))


@FUZZ
@given(languages.flatmap(lambda language: st.tuples(st.just(language), answers(language))))
def test_every_well_formed_answer_reads_as_sent_and_only_in_its_language(drawn) -> None:
    language, answer = drawn
    _, _, read_integer, read_decimal = FORMATS[language]
    body = json.dumps(answer, ensure_ascii=False).encode()
    assert decode_theoretical_page(body, URL, language=language) == answer
    portfolio = TheoreticalPortfolio.model_validate(answer, context={"language": language})
    for row, sent in zip(portfolio.results, answer["results"], strict=True):
        assert row.quantity == read_integer(sent["theoricalQty"])
        assert row.weight == read_decimal(sent["part"])
    other = "en-us" if language == "pt-br" else "pt-br"
    with pytest.raises(B3ApiError, match=f"{other} numbers expected"):
        decode_theoretical_page(body, URL, language=other)  # "100,000" reads in one only


@st.composite
def broken(draw) -> bytes:
    """A well-formed pt-BR answer broken in one of the ways a server can break it."""
    answer = draw(answers())
    section = draw(st.sampled_from(["page", "header", "results"]))
    target = answer["results"][0] if section == "results" else answer[section]
    key = draw(st.sampled_from(sorted(target)))
    kind = draw(st.sampled_from(["value", "drop", "us-locale", "truncate", "junk"]))
    if kind == "value":
        target[key] = draw(st.none() | st.booleans() | st.integers() | st.text(max_size=12))
    elif kind == "drop":
        del target[key]
    elif kind == "us-locale":
        target[key] = str(target[key]).replace(".", "#").replace(",", ".").replace("#", ",")
    body = json.dumps(answer, ensure_ascii=draw(st.booleans())).encode()
    if kind == "truncate":
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif kind == "junk":
        body = draw(st.binary(max_size=200))
    return body


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(broken())
def test_any_broken_answer_is_refused_by_name_or_none_served_or_read_exactly(body: bytes) -> None:
    try:
        data = decode_theoretical_page(body, URL)
    except B3ApiError as exc:
        assert URL in str(exc)
        return
    if data is None:  # e.g. a dropped header: B3's way of saying there is no preview
        answer = json.loads(body)
        assert answer.get("header") is None or not answer.get("results")
        return
    assert data == json.loads(body)  # what is kept is what was sent
    portfolio = TheoreticalPortfolio.model_validate(data)
    for row in portfolio.results:
        assert isinstance(row.weight, Decimal) and isinstance(row.quantity, int)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(answers(), st.integers(min_value=1, max_value=16), st.sampled_from(KINDS))
def test_any_answer_paged_any_way_merges_back(answer: dict, cap: int, kind: str) -> None:
    with RunningFakeB3(serving(kind, answer, max_page_size=cap)) as server:
        fetched = client(server).fetch_theoretical(kind)
    assert fetched.pages == math.ceil(len(answer["results"]) / cap)
    assert fetched.response["results"] == answer["results"]
    assert fetched.response["header"] == answer["header"]
    assert json.loads(fetched.raw) == fetched.response
