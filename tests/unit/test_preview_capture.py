"""The preview's raw and bronze layers (b3_assets.capture.previews), its rules, and the offline
sample of previews."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from b3_assets.capture.previews import (
    PREVIEW_BRONZE_SCHEMA,
    build_preview_bronze,
    capture_previews,
    import_session,
    preview_sessions,
    read_preview_capture,
    responses_from_bronze,
    write_preview_import,
)
from b3_assets.refine.quality import preview_findings
from b3_assets.source.b3_client import FetchedTheoretical, is_none_served, validate_theoretical
from b3_assets.source.csv_download import parse_quadrimester_csv
from b3_assets.testing.sample import sample_portfolio, sample_theoretical
from b3_contract.lake_keys import Unit

PREVIEW = "theorical_portfolio_IBOV_pt-br.json"
EMPTY = (
    b'{"page":{"pageNumber":1,"pageSize":0,"totalRecords":0,"totalPages":0},'
    b'"header":null,"results":[]}'
)
SESSION = Unit("IBOV", date(2025, 8, 20))


class Fetcher:
    """B3 as the capture sees it: one answer per kind, and a count of the calls."""

    def __init__(self, preview: bytes, theoretical: bytes) -> None:
        self.bodies = {"preview": preview, "theoretical": theoretical}
        self.calls: list[str] = []

    def __call__(self, kind: str) -> FetchedTheoretical:
        self.calls.append(kind)
        raw = self.bodies[kind]
        response = json.loads(raw)
        return FetchedTheoretical(
            kind,
            "IBOV",
            "pt-br",
            not is_none_served(response),
            raw,
            response,
            f"http://127.0.0.1/{kind}",
            datetime(2025, 8, 20, 12, tzinfo=UTC),
            1,
        )


@pytest.fixture
def preview_bytes(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / PREVIEW).read_bytes()


def test_a_served_preview_is_kept_as_received_and_read_back_from_bronze(
    tmp_path, preview_bytes
) -> None:
    fetch = Fetcher(preview_bytes, preview_bytes)
    capture, fetched = capture_previews(tmp_path, SESSION, fetch)
    assert fetched and capture is not None
    assert capture.quadrimester == "2025-09"
    assert capture.served("previa") and capture.served("teorica")
    folder = tmp_path / "previa/raw/IBOV/2025-08-20"
    assert (folder / "previa_IBOV.json").read_bytes() == preview_bytes
    path, table, changed = build_preview_bronze(tmp_path, SESSION)
    assert changed and path == tmp_path / "previa/bronze/IBOV/2025-08-20/dados_originais.parquet"
    assert pq.read_schema(path).equals(PREVIEW_BRONZE_SCHEMA)
    back = responses_from_bronze(pq.read_table(path))
    assert back == {"previa": json.loads(preview_bytes), "teorica": json.loads(preview_bytes)}
    quadrimesters = dict(
        zip(table["_carteira"].to_pylist(), table["_quadrimestre"].to_pylist(), strict=True)
    )
    assert quadrimesters == {"previa": "2025-09", "teorica": "2025-05"}
    assert build_preview_bronze(tmp_path, SESSION)[2] is False  # unchanged: kept
    assert preview_sessions(tmp_path, "IBOV") == [SESSION.day]


def test_a_preview_once_served_is_never_asked_again(tmp_path, preview_bytes) -> None:
    capture_previews(tmp_path, SESSION, Fetcher(preview_bytes, preview_bytes))
    again = Fetcher(EMPTY, EMPTY)
    capture, fetched = capture_previews(tmp_path, SESSION, again)
    assert not fetched and again.calls == [] and capture.served("previa")


def test_none_served_is_recorded_and_asked_again_while_the_session_lasts(
    tmp_path, preview_bytes
) -> None:
    capture, fetched = capture_previews(tmp_path, SESSION, Fetcher(EMPTY, preview_bytes))
    assert fetched and not capture.served("previa") and capture.served("teorica")
    record = json.loads((tmp_path / "previa/raw/IBOV/2025-08-20/capture.json").read_bytes())
    assert record["answers"]["previa"]["served"] is False
    assert (tmp_path / "previa/raw/IBOV/2025-08-20/previa_IBOV.json").read_bytes() == EMPTY
    _, table, _ = build_preview_bronze(tmp_path, SESSION)
    assert set(table["_carteira"].to_pylist()) == {"teorica"}
    later, fetched = capture_previews(tmp_path, SESSION, Fetcher(preview_bytes, preview_bytes))
    assert fetched and later.served("previa")


def test_nothing_served_leaves_a_record_and_no_bronze(tmp_path) -> None:
    capture, _ = capture_previews(tmp_path, SESSION, Fetcher(EMPTY, EMPTY))
    assert not capture.any_served
    assert build_preview_bronze(tmp_path, SESSION) == (None, None, False)
    assert not (tmp_path / "previa/bronze").exists()


def test_a_past_session_never_captured_is_not_invented(tmp_path) -> None:
    assert capture_previews(tmp_path, SESSION, None) == (None, False)
    assert not (tmp_path / "previa").exists()


def test_a_changed_raw_file_makes_the_capture_incomplete(tmp_path, preview_bytes) -> None:
    capture_previews(tmp_path, SESSION, Fetcher(preview_bytes, EMPTY))
    (tmp_path / "previa/raw/IBOV/2025-08-20/teorica_IBOV.json").write_bytes(b"{}")
    assert read_preview_capture(tmp_path, SESSION) is None
    with pytest.raises(FileNotFoundError, match="no complete preview capture of IBOV/2025-08-20"):
        build_preview_bronze(tmp_path, SESSION)


def test_the_quadrimester_download_is_filed_on_the_last_session_before_it(
    tmp_path, fixtures_dir, preview_bytes
) -> None:
    source = fixtures_dir / "IBOVQuad_9-2023.csv"
    data = source.read_bytes()
    parsed = parse_quadrimester_csv(data, source.name)
    raw = json.dumps(parsed.response).encode()
    unit = Unit("IBOV", date(2023, 8, 31))
    capture_previews(tmp_path, unit, Fetcher(EMPTY, preview_bytes))  # the API's, that day
    capture, changed = write_preview_import(tmp_path, parsed, raw, source, data, datetime.now(UTC))
    assert changed and capture.unit == unit and capture.quadrimester == "2023-09"
    assert (
        capture.answers["previa"].origin == "csv" and capture.answers["previa"].fetched_at is None
    )
    assert capture.served("teorica")  # the theoretical portfolio the API gave is kept
    assert (tmp_path / "previa/raw/IBOV/2023-08-31" / source.name).read_bytes() == data
    assert write_preview_import(tmp_path, parsed, raw, source, data, datetime.now(UTC))[1] is False
    _, table, _ = build_preview_bronze(tmp_path, unit)
    assert responses_from_bronze(table)["previa"] == parsed.response


@pytest.mark.parametrize(
    ("quadrimester", "session"),
    [
        ("2023-09", date(2023, 8, 31)),
        ("2024-01", date(2023, 12, 28)),
        ("2025-05", date(2025, 4, 30)),
    ],
)
def test_the_import_session_is_the_last_b3_session_before_the_quadrimester(
    quadrimester, session
) -> None:
    assert import_session(quadrimester) == session


def rows(*items: tuple[str, str, int]) -> list[dict]:
    return [{"acao": t, "participacao_pct": Decimal(w), "qtd_teorica": q} for t, w, q in items]


def test_the_preview_rules_pass_a_whole_preview_and_name_what_breaks() -> None:
    good = rows(("PETR4", "60.000", 10), ("VALE3", "40.001", 5))
    assert all(f.passed for f in preview_findings(good))
    bad = {
        f.rule: f for f in preview_findings(rows(("PETR4", "60.000", 0), ("PETR4", "30.000", 5)))
    }
    assert (
        not bad["weights_sum_to_100"].passed
        and "sum to 90.000" in bad["weights_sum_to_100"].message
    )
    assert not bad["quantities_positive"].passed and "PETR4" in bad["quantities_positive"].message
    assert not bad["no_repeated_ticker"].passed and "['PETR4']" in bad["no_repeated_ticker"].message
    assert not {f.rule: f.passed for f in preview_findings([])}["weights_sum_to_100"]


def test_the_offline_sample_publishes_a_preview_only_before_a_rebalance() -> None:
    inside = sample_theoretical(date(2025, 8, 27), "preview")
    outside = sample_theoretical(date(2025, 7, 1), "preview")
    assert is_none_served(outside) and not is_none_served(inside)
    validate_theoretical(inside, "offline", "pt-br")
    validate_theoretical(sample_theoretical(date(2025, 7, 1), "theoretical"), "offline", "pt-br")
    tickers = {r["cod"] for r in inside["results"]}
    today = {r["cod"] for r in sample_portfolio(date(2025, 8, 27))["results"]}
    september = {r["cod"] for r in sample_portfolio(date(2025, 9, 1))["results"]}
    assert tickers == september != today  # the next quadrimester's members
    total = sum(Decimal(r["part"].replace(",", ".")) for r in inside["results"])
    assert abs(total - 100) <= Decimal("0.001")
    with pytest.raises(ValueError, match="kind must be"):
        sample_theoretical(date(2025, 8, 27), "daily")
