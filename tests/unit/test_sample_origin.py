"""The offline sample is never mistaken for B3's data: its own origin (`amostra`) in the capture
record and the bronze file, earlier records of it read as such, and the replace rules (B3's data
replaces a sample unasked; a sample never replaces B3's data), for daily portfolios and previews."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pyarrow.parquet as pq
import pytest

from b3_assets.capture.bronze import build_bronze, current_bronze, write_bronze
from b3_assets.capture.previews import (
    PreviewCapture,
    build_preview_bronze,
    capture_previews,
    read_preview_capture,
    write_preview_import,
)
from b3_assets.capture.raw import (
    CAPTURE_FILE,
    Capture,
    capture_portfolio,
    partition_dir,
    read_capture,
    write_import,
)
from b3_assets.refine import quality
from b3_assets.source.b3_client import FetchedPortfolio, FetchedTheoretical, canonical_json
from b3_assets.source.csv_download import parse_b3_csv, parse_quadrimester_csv
from b3_assets.source.served_date import DateNotServedError
from b3_assets.testing.sample import sample_portfolio, sample_theoretical
from b3_contract.lake_keys import Unit
from b3_contract.origins import API, CSV, ORIGINS, SAMPLE, SAMPLE_SOURCE, recorded_origin, replaces
from b3_contract.tables import ORIGEM, PREVIEW_TABLES, TABLES

DAY = date(2025, 3, 12)  # a real session: B3's download of it is in the fixtures
MADE_AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def sample_fetch(day: date = DAY, calls: list | None = None):
    """The offline sample as B3ApiResource(offline=True) gives it."""

    def fetch() -> FetchedPortfolio:
        if calls is not None:
            calls.append("sample")
        response = sample_portfolio(day, 2, "IBOV")
        source = f"{SAMPLE_SOURCE}GetPortfolioDay/IBOV/segment-2"
        return FetchedPortfolio(canonical_json(response), response, source, MADE_AT, 1)

    return fetch


def b3_fetch(raw: bytes):
    def fetch() -> FetchedPortfolio:
        return FetchedPortfolio(raw, json.loads(raw), "http://b3/x", MADE_AT, 3)

    return fetch


def never() -> FetchedPortfolio:
    raise AssertionError("must not fetch")


# ------------------------------------------------------------------ the origin itself


def test_the_origins_are_said_once_and_the_contract_names_amostra() -> None:
    assert tuple(ORIGINS) == (API, CSV, SAMPLE) == ("api", "csv", "amostra")
    for table in (TABLES["carteira_ativos"], TABLES["carteira_header"]):
        assert table.descriptions["origem"] == ORIGEM
    for origin in ORIGINS:
        assert f"`{origin}`" in ORIGEM
        assert f"`{origin}`" in PREVIEW_TABLES["carteira_previa"].descriptions["origem"]


def test_a_sample_capture_has_its_origin_and_its_generation_time() -> None:
    capture = Capture(DAY, "IBOV", "p.json", "0" * 64, f"{SAMPLE_SOURCE}x", MADE_AT, 1, SAMPLE)
    assert capture.is_sample
    assert Capture.from_json(capture.to_json()) == capture
    assert json.loads(capture.to_json())["origin"] == "amostra"
    with pytest.raises(ValueError, match="API capture has a fetch time"):
        Capture(DAY, "IBOV", "p.json", "0" * 64, f"{SAMPLE_SOURCE}x", None, 1, SAMPLE)
    with pytest.raises(ValueError, match="is not one of"):
        Capture(DAY, "IBOV", "p.json", "0" * 64, "x", MADE_AT, 1, "exemplo")


def test_the_offline_capture_is_stored_as_amostra_in_raw_and_bronze(data_dir) -> None:
    capture, fetched = capture_portfolio(data_dir, DAY, "IBOV", sample_fetch(), SAMPLE)
    assert fetched and capture.origin == SAMPLE and capture.fetched_at == MADE_AT
    record = json.loads((partition_dir(data_dir, "raw", DAY, "IBOV") / CAPTURE_FILE).read_text())
    assert record["origin"] == "amostra" and record["fetched_at"] == MADE_AT.isoformat()
    _, table, _ = build_bronze(data_dir, DAY, "IBOV")
    assert set(table["_origin"].to_pylist()) == {"amostra"}
    assert set(table["_fetched_at"].to_pylist()) == {MADE_AT}


def test_a_record_of_an_earlier_version_for_a_sample_is_read_as_amostra(data_dir) -> None:
    """Earlier versions recorded the sample as `api`: read as amostra, its bronze file (with
    `_origin` api) no longer describes it and is rebuilt when the unit next runs."""
    capture_portfolio(data_dir, DAY, "IBOV", sample_fetch(), SAMPLE)
    meta = partition_dir(data_dir, "raw", DAY, "IBOV") / CAPTURE_FILE
    old = json.loads(meta.read_text()) | {"origin": "api"}
    meta.write_text(json.dumps(old))
    capture = read_capture(data_dir, DAY, "IBOV")
    assert capture is not None and capture.origin == SAMPLE
    # the bronze file the earlier version built says api: stale now
    api_capture = replace(capture, origin=API)
    response = json.loads((meta.parent / "portfolio_IBOV.json").read_bytes())
    path = write_bronze(data_dir, response, api_capture)
    assert current_bronze(data_dir, DAY, "IBOV") is None
    _, _, changed = build_bronze(data_dir, DAY, "IBOV")
    assert changed and set(pq.read_table(path)["_origin"].to_pylist()) == {"amostra"}
    assert current_bronze(data_dir, DAY, "IBOV") is not None
    # the rule itself: only an `api` record with the sample's source is read otherwise
    assert recorded_origin(API, f"{SAMPLE_SOURCE}GetPortfolioDay/IBOV") == SAMPLE
    assert recorded_origin(API, "https://sistemaswebb3-listados.b3.com.br/x") == API
    assert recorded_origin(CSV, "file:///x.csv") == CSV


# ------------------------------------------------------------------ the replace rules


def test_only_b3s_data_replaces_and_only_a_sample() -> None:
    assert replaces(API, SAMPLE) and replaces(CSV, SAMPLE)
    assert not replaces(SAMPLE, API) and not replaces(SAMPLE, CSV)
    assert not replaces(SAMPLE, SAMPLE) and not replaces(API, CSV) and not replaces(CSV, API)


def test_a_real_capture_replaces_a_sample(data_dir, fixtures_dir) -> None:
    real = (fixtures_dir / "portfolio_day_IBOV_seg1_2025-03-12.json").read_bytes()
    capture_portfolio(data_dir, DAY, "IBOV", sample_fetch(), SAMPLE)
    capture, fetched = capture_portfolio(data_dir, DAY, "IBOV", b3_fetch(real))
    assert fetched and capture.origin == API and capture.pages == 3
    held = read_capture(data_dir, DAY, "IBOV")
    assert held == capture
    assert (
        partition_dir(data_dir, "raw", DAY, "IBOV") / "portfolio_IBOV.json"
    ).read_bytes() == real
    _, table, changed = build_bronze(data_dir, DAY, "IBOV")
    assert changed and set(table["_origin"].to_pylist()) == {"api"}
    # and B3's capture is then kept as any other
    assert capture_portfolio(data_dir, DAY, "IBOV", never) == (capture, False)


def test_b3s_bytes_equal_to_a_samples_still_become_b3s(data_dir) -> None:
    capture_portfolio(data_dir, DAY, "IBOV", sample_fetch(), SAMPLE)
    same = sample_fetch()().raw
    capture, fetched = capture_portfolio(data_dir, DAY, "IBOV", b3_fetch(same))
    assert fetched and capture.origin == API
    assert read_capture(data_dir, DAY, "IBOV").origin == API


def test_a_real_capture_of_a_date_b3_no_longer_serves_leaves_the_sample(
    data_dir, seg2_bytes
) -> None:
    sample, _ = capture_portfolio(data_dir, DAY, "IBOV", sample_fetch(), SAMPLE)
    with pytest.raises(DateNotServedError, match="not 2025-03-12"):
        capture_portfolio(data_dir, DAY, "IBOV", b3_fetch(seg2_bytes))  # B3 serves 2025-07-14
    assert read_capture(data_dir, DAY, "IBOV") == sample


def test_a_sample_never_replaces_b3s_data(data_dir, fixtures_dir) -> None:
    real = (fixtures_dir / "portfolio_day_IBOV_seg1_2025-03-12.json").read_bytes()
    b3s, _ = capture_portfolio(data_dir, DAY, "IBOV", b3_fetch(real))
    calls: list = []
    kept, fetched = capture_portfolio(data_dir, DAY, "IBOV", sample_fetch(calls=calls), SAMPLE)
    assert kept == b3s and not fetched and calls == []
    source = fixtures_dir / "IBOVDia_12-03-25.csv"
    data = source.read_bytes()
    raw = canonical_json(parse_b3_csv(data, source.name).response)
    imported, _ = write_import(data_dir, raw, source, data, "IBOV", MADE_AT)
    kept, fetched = capture_portfolio(data_dir, DAY, "IBOV", sample_fetch(calls=calls), SAMPLE)
    assert kept == imported and kept.origin == CSV and not fetched and calls == []


def test_an_import_replaces_a_sample(data_dir, fixtures_dir) -> None:
    capture_portfolio(data_dir, DAY, "IBOV", sample_fetch(), SAMPLE)
    source = fixtures_dir / "IBOVDia_12-03-25.csv"
    data = source.read_bytes()
    raw = canonical_json(parse_b3_csv(data, source.name).response)
    capture, changed = write_import(data_dir, raw, source, data, "IBOV", MADE_AT)
    assert changed and capture.origin == CSV and capture.fetched_at is None
    _, table, _ = build_bronze(data_dir, DAY, "IBOV")
    assert set(table["_origin"].to_pylist()) == {"csv"}
    assert set(table["_fetched_at"].to_pylist()) == {None}


def test_a_sample_row_without_a_capture_time_is_flagged_as_an_api_row_is() -> None:
    row = {"origem": SAMPLE, "data_coleta": None}
    assert not quality._no_nulls("carteira_header", [row]).passed
    assert "data_coleta" in quality._no_nulls("carteira_header", [row]).message
    csv_row = {"origem": CSV, "data_coleta": None}
    assert "data_coleta" not in quality._no_nulls("carteira_header", [csv_row]).message


# ------------------------------------------------------------------ previews

SESSION = Unit("IBOV", date(2025, 8, 27))  # the sample serves a preview then


def theoretical(origin: str, calls: list | None = None):
    """The sample's answers, served as the sample (amostra) or as B3 would (api)."""

    def fetch(kind: str) -> FetchedTheoretical:
        if calls is not None:
            calls.append(kind)
        response = sample_theoretical(SESSION.day, kind, "IBOV")
        if origin == API:  # B3's answer: other bytes than the sample's
            response = {**response, "page": {**response["page"], "pageSize": 9999}}
        source = (SAMPLE_SOURCE if origin == SAMPLE else "http://b3/") + kind
        served = bool(response["results"])
        raw = canonical_json(response)
        return FetchedTheoretical(kind, "IBOV", "pt-br", served, raw, response, source, MADE_AT, 1)

    return fetch


def test_a_real_preview_capture_replaces_a_sample(data_dir) -> None:
    sample, fetched = capture_previews(data_dir, SESSION, theoretical(SAMPLE), SAMPLE)
    assert fetched and sample is not None and sample.origin == SAMPLE
    assert {a.origin for a in sample.answers.values()} == {"amostra"}
    _, table, _ = build_preview_bronze(data_dir, SESSION)
    assert set(table["_origin"].to_pylist()) == {"amostra"}
    real, fetched = capture_previews(data_dir, SESSION, theoretical(API))
    assert fetched and real is not None and {a.origin for a in real.answers.values()} == {"api"}
    _, table, changed = build_preview_bronze(data_dir, SESSION)
    assert changed and set(table["_origin"].to_pylist()) == {"api"}


def test_a_sample_never_replaces_b3s_preview_even_none_served(data_dir) -> None:
    real, _ = capture_previews(data_dir, SESSION, theoretical(API))
    calls: list = []
    kept, fetched = capture_previews(data_dir, SESSION, theoretical(SAMPLE, calls), SAMPLE)
    assert kept == real and not fetched and calls == []
    # a "none served" record of B3 is asked again by B3 only, never by the sample
    none = Unit("IBOV", date(2025, 7, 1))
    empty = theoretical(API)

    def b3_none(kind: str) -> FetchedTheoretical:
        answer = empty(kind)
        body = {"page": answer.response["page"], "header": None, "results": []}
        raw = canonical_json(body)
        return FetchedTheoretical(kind, "IBOV", "pt-br", False, raw, body, "http://b3/", MADE_AT, 1)

    held, _ = capture_previews(data_dir, none, b3_none)
    kept, fetched = capture_previews(data_dir, none, theoretical(SAMPLE, calls), SAMPLE)
    assert kept == held and not fetched and calls == []


def test_an_earlier_sample_preview_record_is_read_as_amostra(data_dir) -> None:
    capture_previews(data_dir, SESSION, theoretical(SAMPLE), SAMPLE)
    meta = data_dir / "previa/raw/IBOV/2025-08-27" / CAPTURE_FILE
    body = json.loads(meta.read_text())
    for answer in body["answers"].values():
        answer["origin"] = "api"
    meta.write_text(json.dumps(body))
    capture = read_preview_capture(data_dir, SESSION)
    assert isinstance(capture, PreviewCapture) and capture.origin == SAMPLE


def test_a_quadrimester_import_replaces_a_sample_preview_whole(data_dir, fixtures_dir) -> None:
    source = fixtures_dir / "IBOVQuad_9-2023.csv"
    data = source.read_bytes()
    parsed = parse_quadrimester_csv(data, source.name)
    unit = Unit("IBOV", date(2023, 8, 31))  # where the download is filed
    sample = sample_theoretical(unit.day, "theoretical", "IBOV")

    def sample_only(kind: str) -> FetchedTheoretical:
        raw = canonical_json(sample)
        src = f"{SAMPLE_SOURCE}{kind}"
        return FetchedTheoretical(kind, "IBOV", "pt-br", True, raw, sample, src, MADE_AT, 1)

    capture_previews(data_dir, unit, sample_only, SAMPLE)
    raw = canonical_json(parsed.response)
    capture, changed = write_preview_import(data_dir, parsed, raw, source, data, MADE_AT)
    assert changed and set(capture.answers) == {"previa"} and capture.origin == CSV
    assert not (data_dir / "previa/raw/IBOV/2023-08-31/teorica_IBOV.json").exists()
    _, table, _ = build_preview_bronze(data_dir, unit)
    assert set(table["_origin"].to_pylist()) == {"csv"}
