"""The Glue job's whole run (`run_job`) on local pyspark against moto, Spark reading and writing
the bucket itself through S3A as the local runner starts it: one run refines several indices of
one date, writes each index's partitions under its own `indice=` folder, registers carteira_*
and (for IBOV) ibov_*, and never touches a unit it was not given; and the analytic tables of two
runs on two dates (one month file each, the change list of the later date rewritten when the
earlier one is refined after it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import refine_job
from conftest import MOTO_REQUESTS, by_spark, s3_requests, s3a_spark

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.deploy import Target, ensure_database, upload_glue_files
from b3_assets.capture.bronze import write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.source.b3_client import canonical_json
from b3_assets.testing.sample import sample_portfolio
from b3_contract.glue_tables import partition_input, table_input
from b3_contract.lake_keys import Unit, raw_object_key
from b3_contract.tables import INDEX_TABLES, PORTFOLIO_TABLES, TABLES

# Spark writes through S3A to moto: every file is copied twice (task commit, then the
# partition's rename) and moto answers in this process, so on a loaded 2-core machine a
# run can take longer than the suite's 300 s
pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]


def no_leftovers(keys: list[str]) -> bool:
    """Only Spark's data files under refined/: no `_SUCCESS`, `_temporary/`, `.spark-staging-*`
    or folder markers of the committer."""
    return all(
        key.endswith(".parquet") and not any(part.startswith(("_", ".")) for part in key.split("/"))
        for key in keys
    )


DAY = date(2025, 7, 14)
IBOV, IBXX = Unit("IBOV", DAY), Unit("IBXX", DAY)
IBOV_MARCH = Unit("IBOV", date(2025, 3, 12))  # IBOV's previous capture in the fixtures
DATABASE = "b3_refined"
FETCHED_AT = datetime(2025, 7, 14, 21, 5, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def spark(moto_server):
    pytest.importorskip("pyspark", reason="pyspark is in the dev extra (pip install -e .[dev])")
    with s3a_spark("b3-glue-run", moto_server) as session:
        yield session


@pytest.fixture(scope="module")
def bronze(fixtures_dir: Path, tmp_path_factory) -> dict[Unit, Path]:
    """IBOV's real 2025-07-14 and 2025-03-12, and IBXX's sample of 2025-07-14, as bronze files."""
    data_dir = tmp_path_factory.mktemp("glue-run")
    ibov = (fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json").read_bytes()
    march = (fixtures_dir / "portfolio_day_IBOV_seg1_2025-03-12.json").read_bytes()
    ibxx = canonical_json(sample_portfolio(DAY, 2, "IBXX"))
    files = {}
    for unit, raw in ((IBOV, ibov), (IBXX, ibxx), (IBOV_MARCH, march)):
        capture, _ = write_raw(data_dir, raw, "http://b3/x", FETCHED_AT, unit.index)
        assert capture.trading_date == unit.day
        files[unit] = write_bronze(data_dir, json.loads(raw), capture)
    return files


class Bucket:
    def __init__(self, aws):
        self.name = aws.bucket
        self.s3, self.glue = aws_mod.client("s3"), aws_mod.client("glue")

    def keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def partitions(self, table: str) -> dict[tuple[str, ...], str]:
        pages = self.glue.get_paginator("get_partitions").paginate(
            DatabaseName=DATABASE, TableName=table
        )
        return {
            tuple(p["Values"]): p["StorageDescriptor"]["Location"]
            for page in pages
            for p in page["Partitions"]
        }

    def run(self, spark, units: list[Unit]) -> dict:
        args = refine_job.JobArgs(
            job_name="b3-refine",
            bucket=self.name,
            database=DATABASE,
            units=tuple(sorted(units)),
        )
        return refine_job.run_job(args, spark, self.s3, self.glue, log=lambda message: None)


@pytest.fixture
def bucket(aws, bronze) -> Iterator[Bucket]:
    """The bucket as `b3 deploy` leaves it (SQL under glue/, the database), with both raw
    objects uploaded."""
    target = Target(aws.bucket, DATABASE, "b3-refine", "b3-lake-glue", "us-east-1")
    here = Bucket(aws)
    here.s3.create_bucket(Bucket=aws.bucket)
    upload_glue_files(here.s3, target)
    ensure_database(here.glue, target)
    for unit, path in bronze.items():
        here.s3.upload_file(str(path), aws.bucket, raw_object_key(unit))
    yield here


def test_one_run_refines_two_indices_of_one_date(spark, bucket) -> None:
    since = len(MOTO_REQUESTS)
    summary = bucket.run(spark, [IBXX, IBOV])["tables"]
    # Spark itself read the raw objects and wrote refined/ (S3A's agent on every request for
    # them; boto3 only lists and deletes there, and never moves a byte of them)
    for unit in (IBOV, IBXX):
        reads = s3_requests(since, bucket.name, raw_object_key(unit))
        assert by_spark(reads) and {r.method for r in reads} >= {"GET"}, reads
    writes = [r for r in s3_requests(since, bucket.name, "refined/") if r.method == "PUT"]
    assert by_spark(writes), writes
    assert len(writes) >= 84  # one file per ticker at least (S3A also copies: a rename)
    assert no_leftovers(bucket.keys("refined/"))
    ativos = summary["carteira_ativos"]
    ibov_rows = ativos["rows_by_unit"]["IBOV/2025-07-14"]
    ibxx_rows = ativos["rows_by_unit"]["IBXX/2025-07-14"]
    assert ibov_rows == 84 and ibxx_rows > 0 and ativos["rows"] == ibov_rows + ibxx_rows
    headers = summary["carteira_header"]["rows_by_unit"]
    assert headers == {"IBOV/2025-07-14": 1, "IBXX/2025-07-14": 1}
    assert ativos["catalog_table"] == "b3_refined.carteira_ativos (created)"
    assert ativos["index_table"] == "b3_refined.ibov_ativos (created)"
    assert ativos["index_table_partitions"] == {"added": 84, "removed": 0, "kept": 0}

    for index, rows in (("IBOV", ibov_rows), ("IBXX", ibxx_rows)):
        files = bucket.keys(f"refined/ativos/indice={index}/data=2025-07-14/")
        assert len(files) == rows  # one file per ticker
        assert len(bucket.keys(f"refined/header/indice={index}/data=2025-07-14/")) == 1
        assert len(bucket.keys(f"refined/setores/indice={index}/data=2025-07-14/")) >= 1
    tables = ("ativos", "header", "setores", "historico", "mudancas", "concentracao")
    inside = [key for t in tables for key in bucket.keys(f"refined/{t}/indice=")]
    assert bucket.keys("refined/") == sorted(inside)  # nothing outside the indices' folders
    # and apart from refined/, each unit's manifest (what it was built from)
    assert bucket.keys("manifests/") == [
        "manifests/refine/IBOV/2025-07-14.json",
        "manifests/refine/IBXX/2025-07-14.json",
    ]
    for index in ("IBOV", "IBXX"):  # the analytics: no earlier capture, so no change list
        assert len(bucket.keys(f"refined/historico/indice={index}/mes=2025-07/")) == 1
        assert len(bucket.keys(f"refined/concentracao/indice={index}/data=2025-07-14/")) == 1
    assert bucket.keys("refined/mudancas/") == []
    assert summary["carteira_historico"]["rows_by_unit"] == ativos["rows_by_unit"]
    assert summary["carteira_concentracao"]["rows_by_unit"] == headers
    assert summary["carteira_mudancas"]["rows"] == 0

    carteira = bucket.partitions("carteira_ativos")
    assert len(carteira) == ibov_rows + ibxx_rows
    assert {values[:2] for values in carteira} == {("IBOV", "2025-07-14"), ("IBXX", "2025-07-14")}
    ticker = next(values for values in carteira if values[0] == "IBXX")
    assert carteira[ticker] == (
        f"s3://{bucket.name}/refined/ativos/indice=IBXX/data=2025-07-14/acao={ticker[2]}/"
    )
    ibov_ativos = bucket.partitions("ibov_ativos")
    assert len(ibov_ativos) == 84 and {values[0] for values in ibov_ativos} == {"2025-07-14"}
    where = "/refined/ativos/indice=IBOV/data=2025-07-14/acao="
    assert all(where in location for location in ibov_ativos.values())
    assert set(bucket.partitions("carteira_header")) == {
        ("IBOV", "2025-07-14"),
        ("IBXX", "2025-07-14"),
    }
    assert set(bucket.partitions("ibov_header")) == {("2025-07-14",)}
    assert set(bucket.partitions("carteira_historico")) == {
        ("IBOV", "2025-07"),
        ("IBXX", "2025-07"),
    }
    names = {t["Name"] for t in bucket.glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    # no ibov_* view of the analytics; the preview's tables are the preview mode's to register
    assert names == {*PORTFOLIO_TABLES, *INDEX_TABLES}


def test_refining_one_index_never_touches_another_indexs_partitions(spark, bucket) -> None:
    """IBXX's refined files and catalog partitions of the same date, seeded, stay exactly as
    they were while IBOV is refined; IBOV's partition of the earlier layout is moved."""
    seeded = {
        "refined/ativos/indice=IBXX/data=2025-07-14/acao=SEED3/part-seed.parquet": b"ibxx",
        "refined/header/indice=IBXX/data=2025-07-14/part-seed.parquet": b"ibxx",
        "refined/setores/indice=IBXX/data=2025-07-14/part-seed.parquet": b"ibxx",
    }
    for key, body in seeded.items():
        bucket.s3.put_object(Bucket=bucket.name, Key=key, Body=body)
    carteira = TABLES["carteira_ativos"]
    location = f"s3://{bucket.name}/refined/ativos/"
    bucket.glue.create_table(DatabaseName=DATABASE, TableInput=table_input(carteira, location))
    seed_values = ["IBXX", "2025-07-14", "SEED3"]
    bucket.glue.create_partition(
        DatabaseName=DATABASE,
        TableName="carteira_ativos",
        PartitionInput=partition_input(carteira, location, seed_values),
    )
    # ibov_ativos as the IBOV-only layout registered it: at refined/ativos/data=D/acao=T/
    ibov_ativos, earlier = INDEX_TABLES["ibov_ativos"], location
    bucket.glue.create_table(DatabaseName=DATABASE, TableInput=table_input(ibov_ativos, earlier))
    bucket.glue.create_partition(
        DatabaseName=DATABASE,
        TableName="ibov_ativos",
        PartitionInput=partition_input(ibov_ativos, earlier, ["2025-07-14", "PETR4"]),
    )
    before = {key: bucket.s3.head_object(Bucket=bucket.name, Key=key)["ETag"] for key in seeded}

    summary = bucket.run(spark, [IBOV])["tables"]

    assert set(summary["carteira_ativos"]["rows_by_unit"]) == {"IBOV/2025-07-14"}
    assert {key: bucket.s3.head_object(Bucket=bucket.name, Key=key)["ETag"] for key in seeded} == (
        before
    )
    for prefix in ("ativos", "header", "setores"):
        ibxx = bucket.keys(f"refined/{prefix}/indice=IBXX/")
        assert ibxx == sorted(k for k in seeded if k.startswith(f"refined/{prefix}/")), prefix
    partitions = bucket.partitions("carteira_ativos")
    assert partitions[tuple(seed_values)] == (f"{location}indice=IBXX/data=2025-07-14/acao=SEED3/")
    assert {values[0] for values in partitions} == {"IBOV", "IBXX"}
    assert len([v for v in partitions if v[0] == "IBOV"]) == 84
    assert summary["carteira_ativos"]["catalog_partitions"] == {
        "added": 84,
        "removed": 0,
        "kept": 0,
    }
    moved = bucket.partitions("ibov_ativos")
    assert moved[("2025-07-14", "PETR4")] == (
        f"s3://{bucket.name}/refined/ativos/indice=IBOV/data=2025-07-14/acao=PETR4/"
    )
    assert summary["carteira_ativos"]["index_table"] == "b3_refined.ibov_ativos (updated)"
    # PETR4 re-registered (removed from the old place, added at the new), 83 others added
    assert summary["carteira_ativos"]["index_table_partitions"] == {
        "added": 84,
        "removed": 1,
        "kept": 0,
    }


def read_rows(bucket: Bucket, key: str, tmp_path: Path) -> list[dict]:
    path = tmp_path / key.replace("/", "_")
    bucket.s3.download_file(bucket.name, key, str(path))
    return pq.read_table(path).to_pylist()


def test_analytics_of_two_dates_replace_only_their_partitions(spark, bucket, tmp_path) -> None:
    """IBOV 2025-07-14, then 2025-03-12 in a second run: the second run writes March's month
    file and rewrites 2025-07-14's change list (its previous capture is now 2025-03-12) from
    July's stored month file, and leaves every other month, unit and index as it was."""
    seeded = {
        "refined/historico/indice=IBOV/mes=2025-06/part-seed.parquet": b"june",
        "refined/mudancas/indice=IBXX/data=2025-07-14/part-seed.parquet": b"ibxx",
    }
    for key, body in seeded.items():
        bucket.s3.put_object(Bucket=bucket.name, Key=key, Body=body)
    stale = "refined/concentracao/indice=IBOV/data=2025-07-14/part-old.parquet"
    bucket.s3.put_object(Bucket=bucket.name, Key=stale, Body=b"old")

    first = bucket.run(spark, [IBOV])["tables"]
    # Spark's dynamic overwrite replaced the written partition whole: the older file is gone
    # before Lake.replace looks, which then has nothing left to remove there
    assert first["carteira_concentracao"]["objects_removed"] == 0
    assert stale not in bucket.keys("refined/concentracao/")
    [july] = bucket.keys("refined/historico/indice=IBOV/mes=2025-07/")
    rows = read_rows(bucket, july, tmp_path)
    assert len(rows) == 84 and {row["indice"] for row in rows} == {"IBOV"}  # files keep indice
    assert [(r["data"], r["acao"]) for r in rows] == sorted((r["data"], r["acao"]) for r in rows)
    assert first["carteira_historico"]["catalog_partitions"] == {
        "added": 1,
        "removed": 0,
        "kept": 0,
    }
    assert first["carteira_mudancas"]["rows"] == 0
    july_etag = bucket.s3.head_object(Bucket=bucket.name, Key=july)["ETag"]

    second = bucket.run(spark, [IBOV_MARCH])["tables"]
    mudancas = second["carteira_mudancas"]
    assert mudancas["rows_by_unit"] == {}  # 2025-03-12 has no earlier capture
    [changes] = bucket.keys("refined/mudancas/indice=IBOV/")
    assert changes.startswith("refined/mudancas/indice=IBOV/data=2025-07-14/")
    rows = read_rows(bucket, changes, tmp_path)
    assert mudancas["rows"] == len(rows) > 11  # weights move too
    moves = [row["tipo_mudanca"] for row in rows if row["tipo_mudanca"] in ("entrada", "saida")]
    assert sorted(moves) == ["entrada"] * 4 + ["saida"] * 7
    assert {(r["data_anterior"], r["data_rebalanceamento"]) for r in rows} == {
        (date(2025, 3, 12), date(2025, 5, 2))
    }
    assert set(bucket.partitions("carteira_mudancas")) == {("IBOV", "2025-07-14")}
    assert mudancas["catalog_partitions"] == {"added": 1, "removed": 0, "kept": 0}
    assert len(bucket.keys("refined/historico/indice=IBOV/mes=2025-03/")) == 1
    assert bucket.keys("refined/historico/indice=IBOV/mes=2025-07/") == [july]  # not rewritten
    assert bucket.s3.head_object(Bucket=bucket.name, Key=july)["ETag"] == july_etag
    assert set(bucket.partitions("carteira_historico")) == {
        ("IBOV", "2025-03"),
        ("IBOV", "2025-07"),
    }
    assert second["carteira_historico"]["rows_by_unit"] == {"IBOV/2025-03-12": 87}
    assert second["carteira_concentracao"]["rows_by_unit"] == {"IBOV/2025-03-12": 1}
    assert set(bucket.partitions("carteira_concentracao")) == {
        ("IBOV", "2025-03-12"),
        ("IBOV", "2025-07-14"),
    }
    for key in seeded:  # another month, another index
        assert bucket.s3.get_object(Bucket=bucket.name, Key=key)["Body"].read() == seeded[key]

    # A stored session without its month file (a lake refined before the analytics) is read
    # from its carteira_ativos partitions instead, with the same rows.
    lake = refine_job.Lake(bucket.s3, bucket.name)
    from_month = refine_job.stored_carteira(spark, lake, [IBOV]).localCheckpoint(eager=True)
    bucket.s3.delete_object(Bucket=bucket.name, Key=july)
    from_ativos = refine_job.stored_carteira(spark, lake, [IBOV])
    assert from_ativos.columns == from_month.columns
    assert sorted(from_ativos.collect()) == sorted(from_month.collect())
    assert from_month.count() == 84
