import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from b3_assets.capture.bronze import BRONZE_SCHEMA, build_bronze, response_from_bronze, write_bronze
from b3_assets.capture.files import atomic_path
from b3_assets.capture.raw import Capture, capture_portfolio, read_capture, write_raw
from b3_assets.source.b3_client import FetchedPortfolio
from b3_assets.source.served_date import DateNotServedError

FETCHED_AT = datetime(2025, 7, 12, 13, 0, tzinfo=UTC)


def store(data_dir: Path, raw: bytes) -> Capture:
    capture, changed = write_raw(data_dir, raw, "http://b3/x", FETCHED_AT, "IBOV")
    assert changed
    return capture


def test_raw_is_stored_byte_for_byte_under_the_header_date(data_dir, seg2_bytes) -> None:
    capture = store(data_dir, seg2_bytes)
    path = data_dir / "raw" / "IBOV" / "2025-07-14" / "portfolio_IBOV.json"
    assert path.read_bytes() == seg2_bytes
    assert capture.trading_date == date(2025, 7, 14)
    assert read_capture(data_dir, date(2025, 7, 14), "IBOV") == capture


def test_same_bytes_again_change_nothing(data_dir, seg2_bytes) -> None:
    first = store(data_dir, seg2_bytes)
    before = {p: p.stat().st_mtime_ns for p in data_dir.rglob("*")}
    again, changed = write_raw(data_dir, seg2_bytes, "http://b3/y", datetime.now(UTC), "IBOV")
    assert not changed and again == first
    assert {p: p.stat().st_mtime_ns for p in data_dir.rglob("*")} == before


def test_tampered_raw_is_not_a_capture(data_dir, seg2_bytes) -> None:
    store(data_dir, seg2_bytes)
    (data_dir / "raw" / "IBOV" / "2025-07-14" / "portfolio_IBOV.json").write_bytes(seg2_bytes[:-10])
    assert read_capture(data_dir, date(2025, 7, 14), "IBOV") is None


@pytest.mark.parametrize("name", ["seg2_2025-07-14", "seg1_2025-07-14", "seg1_2025-03-05"])
def test_bronze_reads_back_as_the_original_object(data_dir, fixtures_dir, name) -> None:
    raw = (fixtures_dir / f"portfolio_day_IBOV_{name}.json").read_bytes()
    capture = store(data_dir, raw)
    path = write_bronze(data_dir, json.loads(raw), capture)
    table = pq.read_table(path)
    assert table.schema.equals(BRONZE_SCHEMA)
    assert response_from_bronze(table) == json.loads(raw)
    assert set(table["_sha256"].to_pylist()) == {capture.sha256}
    assert set(table["_fetched_at"].to_pylist()) == {FETCHED_AT}
    assert table["part"][0].as_py() == json.loads(raw)["results"][0]["part"]  # strings kept


def test_unknown_fields_survive_raw_and_bronze(data_dir, seg2) -> None:
    extended = dict(seg2, novoCampo={"a": 1})
    extended["header"] = {**seg2["header"], "moeda": "BRL"}
    extended["results"] = [{**seg2["results"][0], "isin": "BRWEGEACNOR0"}, *seg2["results"][1:]]
    raw = json.dumps(extended, ensure_ascii=False).encode()
    capture = store(data_dir, raw)
    table = pq.read_table(write_bronze(data_dir, extended, capture))
    rebuilt = response_from_bronze(table)
    assert rebuilt == extended
    assert list(rebuilt) == list(extended)
    assert list(rebuilt["header"]) == list(extended["header"])


def fetcher(raw: bytes):
    def fetch() -> FetchedPortfolio:
        return FetchedPortfolio(raw, json.loads(raw), "http://b3/x", FETCHED_AT, 1)

    return fetch


def test_capture_refuses_a_date_b3_is_not_serving(data_dir, seg2_bytes) -> None:
    with pytest.raises(DateNotServedError) as error:
        capture_portfolio(data_dir, date(2025, 7, 11), "IBOV", fetcher(seg2_bytes))
    message = str(error.value)
    assert "serving the portfolio of 2025-07-14, not 2025-07-11" in message
    assert "b3 import IBOVDia_11-07-25.csv" in message
    assert not any(data_dir.rglob("*.json"))


def test_capture_keeps_an_existing_capture_without_fetching(data_dir, seg2_bytes) -> None:
    first, fetched = capture_portfolio(data_dir, date(2025, 7, 14), "IBOV", fetcher(seg2_bytes))
    assert fetched

    def fail() -> FetchedPortfolio:
        raise AssertionError("must not fetch")

    again, fetched = capture_portfolio(data_dir, date(2025, 7, 14), "IBOV", fail)
    assert again == first and not fetched


def test_bronze_is_rebuilt_only_when_the_raw_changes(data_dir, seg2_bytes) -> None:
    store(data_dir, seg2_bytes)
    path, table, changed = build_bronze(data_dir, date(2025, 7, 14), "IBOV")
    assert changed and table.num_rows == 84
    mtime = path.stat().st_mtime_ns
    _, _, changed = build_bronze(data_dir, date(2025, 7, 14), "IBOV")
    assert not changed and path.stat().st_mtime_ns == mtime


def test_atomic_write_leaves_nothing_on_failure(tmp_path) -> None:
    target = tmp_path / "x" / "file.bin"
    target.parent.mkdir()
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["file.bin"]
