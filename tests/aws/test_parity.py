"""One transform, two engines: glue/sql on Spark (local pyspark 3.5, as Glue 5.0 runs it) and on
DuckDB (after sqlglot) must give identical tables over B3's real fixtures: IBOV's API answers and
the CSV downloads of other indices (no capture time, funds without sectors), and identical
analytic tables (carteira_historico, carteira_mudancas, carteira_concentracao) from the
carteira_ativos each engine produced; and identical preview tables (carteira_previa,
carteira_previa_mudancas) from B3's quadrimester CSV and its real preview answer."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

import pyarrow as pa
import pytest
import refine_job
from conftest import MOTO_REQUESTS, by_spark, s3_requests, s3a_spark

from b3_assets.capture.bronze import build_bronze, write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.refine import engine as refine
from b3_assets.source.trading_calendar import trading_days
from b3_contract.analytics import plan_analytics
from b3_contract.lake_keys import Unit
from b3_contract.tables import ANALYTIC_TABLES, TABLES, RefinedTable

# Spark writes through S3A to moto: every file is copied twice (task commit, then the
# partition's rename) and moto answers in this process, so on a loaded 2-core machine a
# run can take longer than the suite's 300 s
pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

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
    "decimal(8,3)": "decimal(8,3)",
    "decimal(10,3)": "decimal(10,3)",
    "decimal(12,4)": "decimal(12,4)",
    "decimal(12,6)": "decimal(12,6)",
    "boolean": "boolean",
}


@pytest.fixture(scope="module")
def spark(moto_server):
    pytest.importorskip("pyspark", reason="pyspark is in the dev extra (pip install -e .[dev])")
    with s3a_spark("b3-parity", moto_server) as session:
        yield session


class ParityBucket:
    """A bucket of the moto server that Spark reads (and writes) through S3A, as the Glue job
    does: the files of both engines' inputs go there first; DuckDB reads the same local files."""

    name = "b3-parity"

    def __init__(self, endpoint: str):
        import boto3

        self.s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.s3.create_bucket(Bucket=self.name)

    def upload(self, paths: list[Path], prefix: str) -> list[str]:
        """The files as s3:// URIs (one key per file, under `prefix`)."""
        uris = []
        for number, path in enumerate(paths):
            key = f"{prefix}/{number:03d}/{path.name}"
            self.s3.upload_file(str(path), self.name, key)
            uris.append(f"s3://{self.name}/{key}")
        return uris

    def keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture(scope="module")
def parity_bucket(moto_server) -> ParityBucket:
    return ParityBucket(moto_server)


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


@pytest.fixture(scope="module")
def refined(spark, bronze_files, parity_bucket) -> tuple[dict, dict[str, pa.Table]]:
    """The refine tables of every fixture on both engines (Spark's lazy, read from the bucket
    through S3A; DuckDB's computed from the same files)."""
    tables = list(TABLES.values())
    sql = {t.sql_file: refine.spark_sql(t) for t in tables}
    inputs = parity_bucket.upload(bronze_files, "raw")
    since = len(MOTO_REQUESTS)
    on_spark = refine_job.refine(spark, inputs, sql, tables)
    on_spark = {name: frame.localCheckpoint(eager=True) for name, frame in on_spark.items()}
    assert by_spark(s3_requests(since, parity_bucket.name, "raw/"))  # boto3 only uploaded
    return on_spark, refine.refine_files(bronze_files)


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


def assert_identical(on_spark: dict, on_duckdb: dict[str, pa.Table], table: RefinedTable) -> list:
    """Same schema (Spark's types and Arrow's of the contract) and same rows in key order."""
    frame = on_spark[table.name]
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == [
        (column, SPARK_TYPES[kind]) for column, kind in table.columns
    ]
    assert on_duckdb[table.name].schema == refine.arrow_schema(table)
    left, right = spark_rows(frame, table), duckdb_rows(on_duckdb[table.name], table)
    assert left == right, f"{table.name}: first difference at {_first_difference(left, right)}"
    return left


def test_spark_and_duckdb_give_identical_tables(refined) -> None:
    on_spark, on_duckdb = refined
    counts = {}
    for name, table in TABLES.items():
        counts[name] = len(assert_identical(on_spark, on_duckdb, table))
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


def test_spark_and_duckdb_give_identical_analytics(spark, refined) -> None:
    """The Glue job's `analytics` and the local `analytics_tables` over the same units (every
    fixture: IBOV's seven dates from 2025-02-20 to 2025-07-14 and one date of four other
    indices), from each engine's own carteira_ativos and B3's sessions of the plan's span."""
    on_spark, on_duckdb = refined
    ativos = on_duckdb["carteira_ativos"]
    pairs = zip(ativos["indice"].to_pylist(), ativos["data"].to_pylist(), strict=True)
    units = sorted({Unit(index, day) for index, day in pairs})
    plan = plan_analytics(units, {})
    sessions = trading_days(plan.first_day, plan.last_day)
    assert refine_job.sessions_between(plan.first_day, plan.last_day) == sessions  # one calendar
    assert plan.first_day == date(2024, 10, 1)  # SMLL's 2024-10-22 is the earliest unit
    sql = {t.sql_file: refine.spark_sql(t) for t in ANALYTIC_TABLES.values()}
    spark_tables = refine_job.analytics(spark, on_spark["carteira_ativos"], sessions, sql)
    duckdb_tables = refine.analytics_tables(ativos, sessions)
    rows = {
        name: assert_identical(spark_tables, duckdb_tables, table)
        for name, table in ANALYTIC_TABLES.items()
    }

    # carteira_historico: carteira_ativos' rows, each in its date's month
    columns = [name for name, _ in ANALYTIC_TABLES["carteira_historico"].columns]
    historico = [dict(zip(columns, row, strict=True)) for row in rows["carteira_historico"]]
    assert len(historico) == ativos.num_rows
    assert all(row["mes"] == row["data"].strftime("%Y-%m") for row in historico)
    months = {(row["indice"], row["mes"]) for row in historico}
    assert {m for m in months if m[0] == "IBOV"} == {
        ("IBOV", "2025-02"),
        ("IBOV", "2025-03"),
        ("IBOV", "2025-07"),
    }
    assert len(months) == 3 + 4  # one month of each other index

    # carteira_concentracao: one row per unit; sectors only where the capture has them
    columns = [name for name, _ in ANALYTIC_TABLES["carteira_concentracao"].columns]
    concentracao = {
        (row["indice"], row["data"]): row
        for row in (dict(zip(columns, r, strict=True)) for r in rows["carteira_concentracao"])
    }
    assert sorted(concentracao) == [(u.index, u.day) for u in units]
    july = concentracao[("IBOV", date(2025, 7, 14))]
    assert july["total_ativos"] == 84 and july["setor_maior"] is not None
    assert july["peso_top1_pct"] <= july["peso_top5_pct"] <= july["peso_top10_pct"]
    assert concentracao[("IBOV", date(2025, 2, 20))]["total_ativos"] == 87

    # carteira_mudancas: IBOV's dates after its first; 2025-07-14 compares with 2025-03-12
    # across the May rebalance (the first session of May 2025 is the 2nd)
    columns = [name for name, _ in ANALYTIC_TABLES["carteira_mudancas"].columns]
    mudancas = [dict(zip(columns, r, strict=True)) for r in rows["carteira_mudancas"]]
    assert {row["indice"] for row in mudancas} == {"IBOV"}  # one date of the others: no pair
    assert date(2025, 2, 20) not in {row["data"] for row in mudancas}
    july = [row for row in mudancas if row["data"] == date(2025, 7, 14)]
    kinds = {
        kind: sum(row["tipo_mudanca"] == kind for row in july) for kind in ("entrada", "saida")
    }
    assert kinds == {"entrada": 4, "saida": 7}
    assert {
        (row["data_anterior"], row["rebalanceamento"], row["data_rebalanceamento"]) for row in july
    } == {(date(2025, 3, 12), True, date(2025, 5, 2))}
    sessions_between = len(trading_days(date(2025, 3, 13), date(2025, 7, 14)))
    assert {row["pregoes_desde_anterior"] for row in july} == {sessions_between}
    entered = [row for row in july if row["tipo_mudanca"] == "entrada"]
    assert all(row["participacao_anterior_pct"] is None for row in entered)
    assert all(row["variacao_pp"] == row["participacao_pct"] for row in entered)
    march = {row["rebalanceamento"] for row in mudancas if row["data"] < date(2025, 7, 1)}
    assert march == {False}  # no rebalance between February and March


def _first_difference(left: list, right: list):
    for index, (a, b) in enumerate(zip(left, right, strict=False)):
        if a != b:
            return index, a, b
    return len(left), len(right)


def test_spark_writes_the_partition_layout_and_parquet_types(
    spark, bronze_files, parity_bucket, tmp_path
) -> None:
    """The job's write, through S3A into the bucket: one folder per index, partitions data/acao
    inside, one data file each and nothing else, and files that keep `indice` (the IBOV tables
    read it from IBOV's folder)."""
    import pyarrow.parquet as pq

    tables = list(TABLES.values())
    sql = {t.sql_file: refine.spark_sql(t) for t in tables}
    ibov_0714, ibxx = bronze_files[6], bronze_files[7]
    inputs = parity_bucket.upload([ibov_0714, ibxx], "layout-raw")
    frames = refine_job.refine(spark, inputs, sql, tables)
    table = TABLES["carteira_ativos"]
    lake = refine_job.Lake(parity_bucket.s3, parity_bucket.name)
    frame = frames[table.name].repartition(*table.partition_by)
    refine_job.write_table(frame, table, lake, ["IBOV", "IBXX"])
    keys = parity_bucket.keys(table.prefix + "/")
    assert all(key.endswith(".snappy.parquet") and "/part-" in key for key in keys)  # no leftovers
    folders = [key[len(table.prefix) + 1 :].rsplit("/", 1)[0] for key in keys]
    assert len(folders) == len(set(folders))  # one file per partition
    assert sorted({folder.split("/")[0] for folder in folders}) == ["indice=IBOV", "indice=IBXX"]
    ibov = [p for p in folders if p.startswith("indice=IBOV/data=2025-07-14/acao=")]
    assert len(ibov) == 84
    assert all(p.startswith("indice=IBXX/data=2025-06-20/acao=") for p in sorted(folders)[84:])
    first = tmp_path / "first.parquet"
    parity_bucket.s3.download_file(parity_bucket.name, keys[folders.index(ibov[0])], str(first))
    schema = pq.read_schema(first)
    assert sorted(schema.names) == sorted(table.file_columns)  # Parquet is read by name
    expected = refine.arrow_schema(table)
    for field in schema:
        assert field.type == expected.field(field.name).type, field.name
    assert set(pq.ParquetFile(first).read().column("indice").to_pylist()) == {"IBOV"}


# ---- B3's quadrimester preview: carteira_previa and carteira_previa_mudancas ----------------

PREVIEW_FETCHED_AT = datetime(2025, 4, 25, 21, 30, 1, 654321, tzinfo=UTC)
PREVIEW_SESSIONS = (date(2025, 4, 25), date(2025, 4, 28))  # the last two before May's rebalance
MAY_REBALANCE = date(2025, 5, 2)  # May 1 is a holiday


def fetched_preview(kind: str, raw: bytes, day: date):
    """B3's pt-BR answer served for `kind` (both endpoints answer it: only the preview's rows
    may reach carteira_previa)."""
    from b3_assets.source.b3_client import FetchedTheoretical

    response = json.loads(raw)
    moment = PREVIEW_FETCHED_AT + timedelta(days=(day - PREVIEW_SESSIONS[0]).days)
    return FetchedTheoretical(kind, "IBOV", "pt-br", True, raw, response, "http://b3/p", moment, 1)


@pytest.fixture(scope="module")
def preview_inputs(fixtures_dir: Path, tmp_path_factory) -> tuple[list[Path], list[Path]]:
    """(preview objects, daily bronze files) as the lake holds them for IBOV:
    previews: the quadrimester CSV of Sep-Dec 2023 (`b3 import`, filed under 2023-08-31) and
    the real GetTheoricalPortfolio answer captured as the preview on 2025-04-25 and 2025-04-28;
    daily: 2023-06-26 (CSV), 2025-03-12 and, as the portfolio of May's rebalance session, the
    real May-August portfolio (2025-07-14's answer under the date 2025-05-02)."""
    from conftest import import_csvs

    from b3_assets.capture.previews import (
        build_preview_bronze,
        capture_previews,
        write_preview_import,
    )
    from b3_assets.source.b3_client import canonical_json
    from b3_assets.source.csv_download import parse_quadrimester_csv

    data_dir = tmp_path_factory.mktemp("preview-parity")
    quad = fixtures_dir / "IBOVQuad_9-2023.csv"
    parsed = parse_quadrimester_csv(quad.read_bytes(), quad.name)
    raw = canonical_json(parsed.response)
    imported, _ = write_preview_import(
        data_dir, parsed, raw, quad, quad.read_bytes(), PREVIEW_FETCHED_AT
    )
    assert imported.unit == Unit("IBOV", date(2023, 8, 31))
    answer = (fixtures_dir / "theorical_portfolio_IBOV_pt-br.json").read_bytes()
    units = [imported.unit]
    for day in PREVIEW_SESSIONS:
        unit = Unit("IBOV", day)
        capture, _ = capture_previews(data_dir, unit, partial(fetched_preview, raw=answer, day=day))
        assert capture is not None and capture.quadrimester == "2025-05"
        units.append(unit)
    previews = [build_preview_bronze(data_dir, unit)[0] for unit in units]

    import_csvs(data_dir, [fixtures_dir / "IBOVDia_26-06-23.csv"])
    daily = [build_bronze(data_dir, date(2023, 6, 26), "IBOV")[0]]
    march = (fixtures_dir / "portfolio_day_IBOV_seg1_2025-03-12.json").read_bytes()
    may = json.loads((fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json").read_bytes())
    may["header"]["date"] = "02/05/25"
    for raw_day in (march, json.dumps(may).encode()):
        capture, _ = write_raw(data_dir, raw_day, "http://b3/x", FETCHED_AT, "IBOV")
        daily.append(write_bronze(data_dir, json.loads(raw_day), capture))
    return previews, daily


def test_spark_and_duckdb_give_identical_preview_tables(
    spark, preview_inputs, parity_bucket
) -> None:
    """The Glue job's preview refine (`previews`, `preview_changes`) and the local one
    (`preview_tables`, `preview_changes`) over the same objects and the same plan: identical
    carteira_previa and carteira_previa_mudancas, with 'previa' and 'realizada' pairs."""
    from b3_assets.defs.resources.local import rows_by_unit
    from b3_assets.source.trading_calendar import first_session
    from b3_contract.previews import plan_previews
    from b3_contract.tables import PREVIEW_TABLES

    previews, daily = preview_inputs
    tables = [*PREVIEW_TABLES.values(), *TABLES.values()]
    sql = {t.sql_file: refine.spark_sql(t) for t in tables}

    previews_on_s3 = parity_bucket.upload(previews, "previa/raw")
    spark_previa = {"carteira_previa": refine_job.previews(spark, previews_on_s3, sql)}
    duckdb_previa = {"carteira_previa": refine.preview_tables(previews)}
    rows = assert_identical(spark_previa, duckdb_previa, PREVIEW_TABLES["carteira_previa"])
    per_session = {}
    for row in rows:  # (..., acao, indice, data)
        per_session[row[-1]] = per_session.get(row[-1], 0) + 1
    # the CSV's 86 rows; B3's answer has 92, once: the theoretical portfolio beside it is not a
    # preview
    assert per_session == {date(2023, 8, 31): 86, PREVIEW_SESSIONS[0]: 92, PREVIEW_SESSIONS[1]: 92}

    units = sorted(rows_by_unit(duckdb_previa["carteira_previa"]))
    daily_days = {"IBOV": [date(2023, 6, 26), date(2025, 3, 12), MAY_REBALANCE]}
    plan = plan_previews(units, units, {}, daily_days, first_session)
    # the job plans with its own calendar: the same plan
    assert plan == plan_previews(units, units, {}, daily_days, refine_job.first_session)
    assert {(c.unit.day, c.comparison, c.portfolio_day) for c in plan.comparisons} == {
        (date(2023, 8, 31), "previa", date(2023, 6, 26)),
        (PREVIEW_SESSIONS[0], "previa", date(2025, 3, 12)),
        (PREVIEW_SESSIONS[1], "previa", date(2025, 3, 12)),
        (PREVIEW_SESSIONS[1], "realizada", MAY_REBALANCE),  # the last preview before it only
    }

    daily_on_s3 = parity_bucket.upload(daily, "preview-daily-raw")
    spark_daily = refine_job.refine(spark, daily_on_s3, sql, list(TABLES.values()))
    duckdb_daily = refine.refine_files(daily)
    changes = PREVIEW_TABLES["carteira_previa_mudancas"]
    on_spark = {
        changes.name: refine_job.preview_changes(
            spark,
            plan.comparisons,
            spark_previa["carteira_previa"],
            spark_daily["carteira_ativos"],
            sql,
        )
    }
    on_duckdb = {
        changes.name: refine.preview_changes(
            plan.comparisons, duckdb_previa["carteira_previa"], duckdb_daily["carteira_ativos"]
        )
    }
    rows = assert_identical(on_spark, on_duckdb, changes)
    columns = [name for name, _ in changes.columns]
    mudancas = [dict(zip(columns, row, strict=True)) for row in rows]
    assert {(row["data"], row["comparacao"]) for row in mudancas} == {
        (c.unit.day, c.comparison) for c in plan.comparisons
    }
    realizada = [row for row in mudancas if row["comparacao"] == "realizada"]
    assert {(r["quadrimestre"], r["data_carteira"]) for r in realizada} == {
        ("2025-05", MAY_REBALANCE)
    }
    # realizada: antes = the preview (92 tickers), depois = the portfolio started (84)
    assert sum(r["participacao_antes_pct"] is not None for r in realizada) == 92
    assert sum(r["participacao_depois_pct"] is not None for r in realizada) == 84
    for row in mudancas:
        antes, depois = row["participacao_antes_pct"], row["participacao_depois_pct"]
        assert row["tipo_mudanca"] == (
            "entrada" if antes is None else "saida" if depois is None else "permanece"
        )
        assert row["variacao_pp"] == (depois or 0) - (antes or 0)

    # no pair: the views are empty, the SQL still answers with the contract's columns
    empty = refine_job.preview_changes(spark, [], spark_previa["carteira_previa"], None, sql)
    assert empty.columns == columns and empty.count() == 0
    assert refine_job.previews(spark, [], sql).count() == 0
