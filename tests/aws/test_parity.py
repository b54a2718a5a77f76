"""One transform, two engines: glue/sql on Spark (local pyspark 3.5, as Glue 5.0 runs it) and on
DuckDB (after sqlglot) must give identical tables over B3's real fixtures: IBOV's API answers and
the CSV downloads of other indices (no capture time, funds without sectors)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import refine_job

from b3_assets.capture.bronze import build_bronze, write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.refine import engine as refine
from b3_contract.tables import TABLES, RefinedTable

pytestmark = pytest.mark.spark

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
FETCHED_AT = datetime(2025, 7, 14, 21, 5, 7, 123456, tzinfo=UTC)
SPARK_TYPES = {
    "string": "string",
    "bigint": "bigint",
    "int": "int",
    "date": "date",
    "timestamp": "timestamp",
    "decimal(7,3)": "decimal(7,3)",
    "decimal(20,8)": "decimal(20,8)",
}


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="pyspark is in the dev extra (pip install -e .[dev])")
    session = refine_job.spark_session("b3-parity", local=True)
    yield session
    session.stop()


OTHER_INDEX_CSVS = [
    "IBXXDia_20-06-25.csv",
    "SMLLDia_22-10-24.csv",
    "IDIVDia_21-07-26.csv",
    "IFIXDia_03-08-26.csv",
]


@pytest.fixture(scope="module")
def bronze_files(fixtures_dir: Path, tmp_path_factory) -> list[Path]:
    """Every IBOV fixture date as the bronze file the Glue job reads (seg2 for 07-14, seg1
    others), then the CSV downloads of four other indices as `b3 import` stores them."""
    from conftest import import_csvs

    data_dir = tmp_path_factory.mktemp("parity")
    chosen = sorted(fixtures_dir.glob("portfolio_day_IBOV_seg1_2025-0[23]-*.json"))
    chosen.append(fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json")
    files = []
    for path in chosen:
        raw = path.read_bytes()
        capture, _ = write_raw(data_dir, raw, "http://b3/x", FETCHED_AT, "IBOV")
        files.append(write_bronze(data_dir, json.loads(raw), capture))
    import_csvs(data_dir, [fixtures_dir / name for name in OTHER_INDEX_CSVS])
    for index in sorted({csv[:4] for csv in OTHER_INDEX_CSVS}):  # IBXX, IDIV, IFIX, SMLL
        for folder in sorted((data_dir / "raw" / index).iterdir()):
            files.append(build_bronze(data_dir, date.fromisoformat(folder.name), index)[0])
    return files


def spark_rows(frame, table: RefinedTable) -> list[tuple]:
    """Rows in key order, timestamps as UTC microseconds (collect() would use the local zone)."""
    columns = [
        f"unix_micros(`{name}`) AS `{name}`" if kind == "timestamp" else f"`{name}`"
        for name, kind in table.columns
    ]
    ordered = frame.selectExpr(*columns).orderBy(*table.key)
    return [tuple(row) for row in ordered.collect()]


def duckdb_rows(result: pa.Table, table: RefinedTable) -> list[tuple]:
    out = []
    for row in result.to_pylist():
        out.append(
            tuple(
                (row[name] - EPOCH) // MICROSECOND
                if kind == "timestamp" and row[name] is not None
                else row[name]
                for name, kind in table.columns
            )
        )
    return out


def test_spark_and_duckdb_give_identical_tables(spark, bronze_files) -> None:
    tables = list(TABLES.values())
    sql = {t.sql_file: refine.spark_sql(t) for t in tables}
    on_spark = refine_job.refine(spark, [str(p) for p in bronze_files], sql, tables)
    on_duckdb = refine.refine_files(bronze_files)
    counts = {}
    for name, table in TABLES.items():
        frame = on_spark[name]
        assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == [
            (column, SPARK_TYPES[kind]) for column, kind in table.columns
        ]
        assert on_duckdb[name].schema == refine.arrow_schema(table)
        left, right = spark_rows(frame, table), duckdb_rows(on_duckdb[name], table)
        assert left == right, f"{name}: first difference at {_first_difference(left, right)}"
        counts[name] = len(left)
    # IBOV: 6 seg-1 dates of 87 constituents and 2025-07-14 with 84; sectors only in seg 2.
    # The CSV downloads: one date each of IBXX, SMLL, IDIV and IFIX.
    by_index = {}
    for row in spark_rows(on_spark["carteira_header"], TABLES["carteira_header"]):
        by_index[row[-2]] = by_index.get(row[-2], 0) + 1
    assert by_index == {"IBOV": 7, "IBXX": 1, "SMLL": 1, "IDIV": 1, "IFIX": 1}
    assert counts["carteira_header"] == 11
    ibov = on_spark["carteira_ativos"].where("indice = 'IBOV'").count()
    assert ibov == 6 * 87 + 84 and counts["carteira_ativos"] > ibov
    ibov_sectors = on_spark["carteira_setores"].where("indice = 'IBOV'").count()
    assert ibov_sectors == 29


def _first_difference(left: list, right: list):
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return index, a, b
    return len(left), len(right)


def test_spark_writes_the_partition_layout_and_parquet_types(spark, bronze_files, tmp_path) -> None:
    """The job's write: one folder per index, partitions data/acao inside, and files that keep
    `indice` (the IBOV tables read it from IBOV's folder)."""
    import pyarrow.parquet as pq

    tables = list(TABLES.values())
    sql = {t.sql_file: refine.spark_sql(t) for t in tables}
    ibov_0714, ibxx = bronze_files[6], bronze_files[7]
    frames = refine_job.refine(spark, [str(ibov_0714), str(ibxx)], sql, tables)
    table = TABLES["carteira_ativos"]
    lake = refine_job.Lake(None, "b3-lake", str(tmp_path))
    frame = frames[table.name].repartition(*table.partition_by)
    refine_job.write_table(frame, table, lake, ["IBOV", "IBXX"])
    out = tmp_path / "out" / table.prefix
    assert sorted(p.name for p in out.iterdir()) == ["indice=IBOV", "indice=IBXX"]
    partitions = sorted(p.relative_to(out).as_posix() for p in out.glob("*/data=*/acao=*"))
    ibov = [p for p in partitions if p.startswith("indice=IBOV/data=2025-07-14/acao=")]
    assert len(ibov) == 84
    assert all(p.startswith("indice=IBXX/data=2025-06-20/acao=") for p in partitions[84:])
    [first] = list((out / ibov[0]).glob("*.parquet"))
    schema = pq.read_schema(first)
    assert sorted(schema.names) == sorted(table.file_columns)  # Parquet is read by name
    expected = refine.arrow_schema(table)
    for field in schema:
        assert field.type == expected.field(field.name).type, field.name
    assert set(pq.ParquetFile(first).read().column("indice").to_pylist()) == {"IBOV"}
