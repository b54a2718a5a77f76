"""Where each date came from: an API capture has its capture time, a CSV import has none.

Before, an import recorded the import time as the capture time, so `defasagem_dias` of imported
dates was the import's age (hundreds of days negative), not a fact about B3's data.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from b3_assets import cli
from b3_assets.capture.bronze import build_bronze
from b3_assets.capture.raw import CAPTURE_FILE, Capture, read_capture


@pytest.fixture
def b3_env(monkeypatch, data_dir: Path, b3_server) -> Path:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("B3_DATA_DIR", str(data_dir))
    monkeypatch.setenv("B3_API_URL", b3_server.api_url)
    return data_dir


def query(capsys, sql: str) -> list[dict]:
    capsys.readouterr()
    assert cli.main(["query", sql, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_imports_have_no_capture_time_and_api_captures_have_theirs(b3_env, csv_files, capsys):
    assert cli.main(["import", *map(str, csv_files[:2])]) == 0
    assert cli.main(["run"]) == 0  # B3 serves 2025-07-14
    header = query(
        capsys,
        "SELECT data, origem, data_coleta, defasagem_dias FROM ibov_header ORDER BY data",
    )
    assert [(row["data"], row["origem"]) for row in header] == [
        ("2025-03-05", "csv"),
        ("2025-03-06", "csv"),
        ("2025-07-14", "api"),
    ]
    imported, fetched = header[:2], header[2]
    assert all(row["data_coleta"] is None and row["defasagem_dias"] is None for row in imported)
    served = read_capture(b3_env, date(2025, 7, 14), "IBOV")
    assert fetched["data_coleta"] is not None and served is not None and served.fetched_at
    assert fetched["defasagem_dias"] == (date(2025, 7, 14) - served.fetched_at.date()).days
    ativos = query(
        capsys,
        "SELECT origem, count(*) AS n, count(data_coleta) AS timed FROM ibov_ativos "
        "GROUP BY origem ORDER BY origem",
    )
    assert ativos == [
        {"origem": "api", "n": 84, "timed": 84},
        {"origem": "csv", "n": 174, "timed": 0},
    ]
    record = read_capture(b3_env, date(2025, 3, 5), "IBOV")
    assert record is not None and record.origin == "csv" and record.imported_at is not None


def test_an_import_recorded_by_an_older_version_loses_its_false_capture_time(
    data_dir, csv_files, monkeypatch
):
    """A capture record from before `origin` existed: its time was the import's, so it becomes
    the import time, and the bronze file is rebuilt with no capture time."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("B3_DATA_DIR", str(data_dir))
    assert cli.main(["import", str(csv_files[0])]) == 0
    day = date(2025, 3, 5)  # IBOVDia_05-03-25.csv
    record_path = data_dir / "raw" / "IBOV" / day.isoformat() / CAPTURE_FILE
    body = json.loads(record_path.read_bytes())
    old = {key: body[key] for key in ("trading_date", "index", "raw_file", "sha256", "source_url")}
    old |= {"fetched_at": "2026-11-01T10:00:00+00:00", "pages": 1}  # the seed's format
    record_path.write_text(json.dumps(old))
    capture = read_capture(data_dir, day, "IBOV")
    assert capture is not None
    assert (capture.origin, capture.fetched_at) == ("csv", None)
    assert capture.imported_at is not None and capture.imported_at.year == 2026
    bronze_file = data_dir / "bronze" / "IBOV" / day.isoformat() / "dados_originais.parquet"
    seed = pq.read_table(bronze_file).drop_columns(["_origin", "_fetched_at"])
    moment = pa.array([datetime(2026, 11, 1, 10, tzinfo=UTC)] * seed.num_rows)
    pq.write_table(seed.append_column("_fetched_at", moment), bronze_file)  # the seed's bronze
    _, _, changed = build_bronze(data_dir, day, "IBOV")
    assert changed  # rebuilt in the current schema, with no capture time
    bronze = pq.read_table(bronze_file)
    assert set(bronze["_fetched_at"].to_pylist()) == {None}
    assert set(bronze["_origin"].to_pylist()) == {"csv"}


def test_a_capture_record_must_be_consistent() -> None:
    with pytest.raises(ValueError, match="API capture has a fetch time"):
        Capture(date(2025, 7, 14), "IBOV", "x", "0", "file:///x.csv", None, origin="api")
    with pytest.raises(ValueError, match="not one of"):
        Capture(date(2025, 7, 14), "IBOV", "x", "0", "http://b3", None, origin="ftp")
