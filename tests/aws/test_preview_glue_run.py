"""The Glue job's preview mode (`--refine previews`) on local pyspark against moto, Spark on S3A as
the local runner starts it: it reads previa/raw/ objects, writes carteira_previa and the change
lists b3_contract.previews plans, registers both tables' partitions in the Glue catalog, removes
the partition of a session without a preview object, and never writes a daily table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import refine_job
from conftest import s3a_spark

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.deploy import Target, ensure_database, upload_glue_files
from b3_assets.capture.bronze import write_bronze
from b3_assets.capture.previews import build_preview_bronze, capture_previews
from b3_assets.capture.raw import write_raw
from b3_assets.source.b3_client import FetchedTheoretical
from b3_contract.glue_runs import DAILY, PREVIEWS
from b3_contract.glue_tables import partition_input, table_input
from b3_contract.lake_keys import Unit, preview_object_key, raw_object_key
from b3_contract.tables import PREVIEW_TABLES

# Spark writes through S3A to moto: every file is copied twice (task commit, then the
# partition's rename) and moto answers in this process, so on a loaded 2-core machine a
# run can take longer than the suite's 300 s
pytestmark = [pytest.mark.spark, pytest.mark.timeout(900)]

DATABASE = "b3_refined"
FETCHED_AT = datetime(2025, 4, 28, 21, 5, 7, tzinfo=UTC)
MARCH, MAY = Unit("IBOV", date(2025, 3, 12)), Unit("IBOV", date(2025, 5, 2))  # May's rebalance
P25, P28 = Unit("IBOV", date(2025, 4, 25)), Unit("IBOV", date(2025, 4, 28))
IBXX28 = Unit("IBXX", date(2025, 4, 28))  # a preview of an index with no daily capture
NO_OBJECT = Unit("IBOV", date(2025, 4, 24))  # a session whose preview is gone from the lake
SUMMARY_KEYS = {
    "location",
    "rows",
    "files",
    "rows_by_unit",
    "catalog_table",
    "catalog_partitions",
    "objects_removed",
    "partitions_rewritten",
}


@pytest.fixture(scope="module")
def spark(moto_server):
    pytest.importorskip("pyspark", reason="pyspark is in the dev extra (pip install -e .[dev])")
    with s3a_spark("b3-preview-glue-run", moto_server) as session:
        yield session


def fetched(kind: str, raw: bytes, index: str) -> FetchedTheoretical:
    response = json.loads(raw)
    source = "http://b3/p"
    return FetchedTheoretical(kind, index, "pt-br", True, raw, response, source, FETCHED_AT, 1)


@pytest.fixture(scope="module")
def objects(fixtures_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """Key in the bucket -> file: IBOV's raw objects of 2025-03-12 and of May's rebalance
    session (the real May-August portfolio, 2025-07-14's answer, dated 2025-05-02), and the
    preview objects of B3's real answer captured on 2025-04-25 and 2025-04-28 (IBXX too)."""
    data_dir = tmp_path_factory.mktemp("preview-glue-run")
    march = (fixtures_dir / "portfolio_day_IBOV_seg1_2025-03-12.json").read_bytes()
    may = json.loads((fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json").read_bytes())
    may["header"]["date"] = "02/05/25"
    files = {}
    for unit, raw in ((MARCH, march), (MAY, json.dumps(may).encode())):
        capture, _ = write_raw(data_dir, raw, "http://b3/x", FETCHED_AT, unit.index)
        assert capture.trading_date == unit.day
        files[raw_object_key(unit)] = write_bronze(data_dir, json.loads(raw), capture)
    answer = (fixtures_dir / "theorical_portfolio_IBOV_pt-br.json").read_bytes()
    for unit in (P25, P28, IBXX28):
        capture_previews(data_dir, unit, partial(fetched, raw=answer, index=unit.index))
        files[preview_object_key(unit)] = build_preview_bronze(data_dir, unit)[0]
    return files


class Bucket:
    def __init__(self, aws, staging: Path):
        self.name = aws.bucket
        self.s3, self.glue = aws_mod.client("s3"), aws_mod.client("glue")
        self.staging = staging

    def keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def etags(self, prefix: str) -> dict[str, str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}

    def partitions(self, table: str) -> dict[tuple[str, ...], str]:
        pages = self.glue.get_paginator("get_partitions").paginate(
            DatabaseName=DATABASE, TableName=table
        )
        return {
            tuple(p["Values"]): p["StorageDescriptor"]["Location"]
            for page in pages
            for p in page["Partitions"]
        }

    def rows(self, prefix: str) -> list[dict]:
        """Every row of the Parquet files under prefix, with the `data` of its folder."""
        rows = []
        for number, key in enumerate(self.keys(prefix)):
            path = self.staging / f"read-{len(list(self.staging.iterdir()))}-{number}.parquet"
            self.s3.download_file(self.name, key, str(path))
            day = date.fromisoformat(key.split("/data=")[1].split("/")[0])
            rows += [row | {"data": day} for row in pq.read_table(path).to_pylist()]
        return rows

    def run(self, spark, units: list[Unit], mode: str) -> dict:
        args = refine_job.JobArgs(
            job_name="b3-refine",
            bucket=self.name,
            database=DATABASE,
            units=tuple(sorted(units)),
            refine=mode,
        )
        return refine_job.run_job(args, spark, self.s3, self.glue, log=lambda message: None)


@pytest.fixture
def bucket(aws, tmp_path, objects, spark) -> Iterator[Bucket]:
    """The bucket as `b3 deploy` leaves it, with the objects uploaded and IBOV's two daily
    sessions refined (what the preview's change lists compare with)."""
    target = Target(aws.bucket, DATABASE, "b3-refine", "b3-lake-glue", "us-east-1")
    here = Bucket(aws, tmp_path / "staging")
    here.staging.mkdir()
    here.s3.create_bucket(Bucket=aws.bucket)
    upload_glue_files(here.s3, target)
    ensure_database(here.glue, target)
    for key, path in objects.items():
        here.s3.upload_file(str(path), aws.bucket, key)
    daily = here.run(spark, [MARCH, MAY], DAILY)
    assert daily["refine"] == DAILY
    assert not set(daily["tables"]) & set(PREVIEW_TABLES)  # a daily run writes no preview table
    assert here.keys("refined/previa") == []
    yield here


def by_session(rows: list[dict]) -> dict[date, set[str]]:
    found: dict[date, set[str]] = {}
    for row in rows:
        found.setdefault(row["data"], set()).add(row["comparacao"])
    return found


def test_a_preview_run_writes_both_tables_registers_them_and_touches_no_daily_table(
    spark, bucket
) -> None:
    previa_table = PREVIEW_TABLES["carteira_previa"]
    stale = "refined/previa/indice=IBOV/data=2025-04-24/part-old.parquet"
    bucket.s3.put_object(Bucket=bucket.name, Key=stale, Body=b"old")
    location = f"s3://{bucket.name}/{previa_table.prefix}/"
    bucket.glue.create_table(DatabaseName=DATABASE, TableInput=table_input(previa_table, location))
    bucket.glue.create_partition(
        DatabaseName=DATABASE,
        TableName=previa_table.name,
        PartitionInput=partition_input(previa_table, location, ["IBOV", "2025-04-24"]),
    )
    daily_objects = {k: v for k, v in bucket.etags("refined/").items() if "/previa" not in k}
    daily_partitions = bucket.partitions("carteira_ativos")
    assert len(daily_partitions) == 87 + 84

    summary = bucket.run(spark, [NO_OBJECT, P25, P28, IBXX28], PREVIEWS)

    assert summary["refine"] == PREVIEWS
    assert set(summary["tables"]) == set(PREVIEW_TABLES)
    for entry in summary["tables"].values():
        assert set(entry) == SUMMARY_KEYS  # what GlueRefinerResource builds TableOutputs from
    previa = summary["tables"]["carteira_previa"]
    assert previa["rows_by_unit"] == {str(u): 92 for u in (P25, P28, IBXX28)}
    assert previa["rows"] == 3 * 92 and previa["files"] == 3
    assert previa["objects_removed"] == 1  # the session without an object loses its partition
    assert previa["partitions_rewritten"] == 4
    assert previa["catalog_table"] == "b3_refined.carteira_previa (unchanged)"
    assert previa["catalog_partitions"] == {"added": 3, "removed": 1, "kept": 0}
    assert previa["location"] == location.rstrip("/")
    assert bucket.keys("refined/previa/indice=IBOV/data=2025-04-24/") == []
    assert set(bucket.partitions("carteira_previa")) == {
        ("IBOV", "2025-04-25"),
        ("IBOV", "2025-04-28"),
        ("IBXX", "2025-04-28"),
    }
    stored = bucket.rows("refined/previa/indice=IBOV/data=2025-04-28/")
    assert len(stored) == 92 and {row["quadrimestre"] for row in stored} == {"2025-05"}
    assert {row["indice"] for row in stored} == {"IBOV"}  # the files keep `indice`

    mudancas = summary["tables"]["carteira_previa_mudancas"]
    assert mudancas["catalog_table"] == "b3_refined.carteira_previa_mudancas (created)"
    # IBXX has no daily session to compare with: no change list
    assert set(mudancas["rows_by_unit"]) == {str(P25), str(P28)}
    assert set(bucket.partitions("carteira_previa_mudancas")) == {
        ("IBOV", "2025-04-25"),
        ("IBOV", "2025-04-28"),
    }
    changes = bucket.rows("refined/previa_mudancas/")
    assert len(changes) == mudancas["rows"]
    # the last preview before May's rebalance also says how the forecast went
    assert by_session(changes) == {P25.day: {"previa"}, P28.day: {"previa", "realizada"}}
    assert {(r["comparacao"], r["data_carteira"]) for r in changes} == {
        ("previa", MARCH.day),
        ("realizada", MAY.day),
    }

    after = {k: v for k, v in bucket.etags("refined/").items() if "/previa" not in k}
    assert after == daily_objects  # no daily object written or removed
    assert bucket.partitions("carteira_ativos") == daily_partitions


def test_a_later_preview_rewrites_the_change_list_of_the_one_before(spark, bucket) -> None:
    """2025-04-25 alone is the last preview before May: it gets the 'realizada' pair. Then
    2025-04-28 takes it over, in a run that reads 04-25's stored carteira_previa partition."""
    first = bucket.run(spark, [P25], PREVIEWS)["tables"]["carteira_previa_mudancas"]
    before = bucket.rows("refined/previa_mudancas/indice=IBOV/data=2025-04-25/")
    assert by_session(before) == {P25.day: {"previa", "realizada"}}
    assert first["rows_by_unit"] == {str(P25): len(before)}
    previa_25 = bucket.etags("refined/previa/indice=IBOV/data=2025-04-25/")

    second = bucket.run(spark, [P28], PREVIEWS)["tables"]
    assert second["carteira_previa"]["rows_by_unit"] == {str(P28): 92}
    assert second["carteira_previa_mudancas"]["partitions_rewritten"] == 2
    assert set(second["carteira_previa_mudancas"]["rows_by_unit"]) == {str(P25), str(P28)}
    assert bucket.etags("refined/previa/indice=IBOV/data=2025-04-25/") == previa_25  # only read
    after = bucket.rows("refined/previa_mudancas/indice=IBOV/data=2025-04-25/")
    assert by_session(after) == {P25.day: {"previa"}}
    kept = sorted(
        (r["acao"], r["participacao_antes_pct"], r["participacao_depois_pct"])
        for r in before
        if r["comparacao"] == "previa"
    )
    assert (
        sorted(
            (r["acao"], r["participacao_antes_pct"], r["participacao_depois_pct"]) for r in after
        )
        == kept
    )
    latest = bucket.rows("refined/previa_mudancas/indice=IBOV/data=2025-04-28/")
    assert by_session(latest) == {P28.day: {"previa", "realizada"}}
