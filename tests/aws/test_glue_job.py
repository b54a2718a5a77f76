"""The Glue job script's pure parts: its arguments, and the catalog and lake it keeps, against
moto. (tests/aws/test_glue_run.py runs the whole job on Spark.)"""

import sys
from datetime import date

import pytest
import refine_job
from refine_job import JobArgumentError, parse_units_argument, resolve_args

from b3_assets.aws import clients as aws_mod
from b3_contract.lake_keys import Unit
from b3_contract.tables import INDEX_TABLES, TABLES

ATIVOS = TABLES["carteira_ativos"]
IBOV_ATIVOS = INDEX_TABLES["ibov_ativos"]
IBOV = Unit("IBOV", date(2025, 7, 14))
IBXX = Unit("IBXX", date(2025, 7, 14))
DATABASE = "b3_refined"


def args(**overrides) -> list[str]:
    values = {"JOB_NAME": "b3-refine", "bucket": "b3-lake", "database": DATABASE}
    values.update({"units": "IBXX/2025-07-14,IBOV/2025-07-11,IBOV/2025-07-14,IBXX/2025-07-14"})
    values.update(overrides)
    argv = ["refine_job.py"]
    for name, value in values.items():
        argv += [f"--{name}", value]
    return argv


def test_arguments_parse_with_glues_own_get_resolved_options(monkeypatch) -> None:
    import awsglue.utils

    seen = []
    real = awsglue.utils.getResolvedOptions
    monkeypatch.setattr(
        awsglue.utils, "getResolvedOptions", lambda a, o: seen.append(o) or real(a, o)
    )
    parsed = resolve_args([*args(), "--additional-python-modules", "dagster-pipes==1"])
    assert seen == [["JOB_NAME", "bucket", "database", "units"]]  # Glue's parser, every run
    assert parsed.units == (Unit("IBOV", date(2025, 7, 11)), IBOV, IBXX)  # sorted, once each
    assert (parsed.bucket, parsed.database, parsed.glue_prefix) == ("b3-lake", DATABASE, "glue/")
    assert parsed.refine == "daily"  # without --refine: the daily tables, as before it existed
    assert "awsglue.context" not in sys.modules  # GlueContext needs Glue's jar: never imported


def test_the_staged_mode_is_gone() -> None:
    """`--staging_dir` is not an argument any more: Spark reads and writes the bucket."""
    assert not hasattr(resolve_args([*args(), "--staging_dir", "/tmp/x"]), "staging_dir")


def test_an_argument_without_its_value_is_refused_by_name() -> None:
    with pytest.raises(JobArgumentError, match="--units: expected one argument"):
        resolve_args([*args()[:-1]])


def test_on_glue_unless_the_local_runner_says_so(monkeypatch) -> None:
    monkeypatch.delenv(refine_job.LOCAL_RUNNER_ENV, raising=False)
    assert refine_job._on_glue()
    monkeypatch.setenv(refine_job.LOCAL_RUNNER_ENV, "1")
    assert not refine_job._on_glue()


def test_the_refine_argument_picks_the_preview_mode() -> None:
    assert resolve_args(args(refine="previews")).refine == "previews"
    assert resolve_args(args(refine="daily")).refine == "daily"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"units": "IBOV/2025-02-30"}, "'IBOV/2025-02-30' is not INDEX/YYYY-MM-DD"),
        ({"units": "IBOV/14/07/2025"}, "is not INDEX/YYYY-MM-DD"),
        ({"units": "2025-07-14"}, "'2025-07-14' is not INDEX/YYYY-MM-DD"),  # the old --dates
        ({"units": "ibov/2025-07-14"}, "'ibov/2025-07-14' is not INDEX/YYYY-MM-DD"),
        ({"units": "IB/2025-07-14"}, "is not INDEX/YYYY-MM-DD"),
        ({"units": "IBOV/2025-07-14,../../etc"}, "'../../etc' is not INDEX/YYYY-MM-DD"),
        ({"units": "IBOV/2025-07-14,IBOV/../2025-07-14"}, "is not INDEX/YYYY-MM-DD"),
        ({"units": " , "}, "--units: no INDEX/YYYY-MM-DD units given"),
        ({"bucket": "s3://b3-lake"}, "not an S3 bucket name"),
        ({"bucket": "../other"}, "not an S3 bucket name"),
        ({"database": "b3; DROP"}, "not a Glue database name"),
        ({"glue_prefix": "/etc/"}, "relative key prefix"),
        ({"glue_prefix": "glue/../../"}, "relative key prefix"),
        ({"refine": "preview"}, "--refine 'preview' is not one of daily, previews"),
    ],
)
def test_bad_arguments_are_refused_by_name(override, message) -> None:
    with pytest.raises(JobArgumentError, match=message):
        resolve_args(args(**override))


def test_the_old_dates_argument_is_a_missing_units_argument() -> None:
    argv = ["refine_job.py", "--JOB_NAME", "x", "--database", "d", "--dates", "2025-07-14"]
    with pytest.raises(JobArgumentError, match="missing job argument.*--bucket.*--units"):
        resolve_args(argv)


def test_too_many_units() -> None:
    many = ",".join(
        f"{index}/20{y:02d}-01-{d:02d}"
        for index in ("IBOV", "IBXX", "SMLL", "IDIV", "IFIX", "IBRA", "IBXL", "ICON", "IMOB")
        for y in range(10, 99)
        for d in range(1, 29)
    )
    with pytest.raises(JobArgumentError, match=f"at most {refine_job.MAX_UNITS}"):
        parse_units_argument(many)


def test_table_inputs_have_the_contract_types_and_parquet_serde() -> None:
    table = refine_job.table_input(ATIVOS, "s3://b3-lake/refined/ativos/")
    assert [k["Name"] for k in table["PartitionKeys"]] == ["indice", "data", "acao"]
    assert table["PartitionKeys"][1]["Type"] == "date"
    columns = dict((c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"])
    assert columns["participacao_pct"] == "decimal(7,3)"
    assert columns["data_coleta"] == "timestamp"
    assert not {"indice", "data", "acao"} & set(columns)
    serde = table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde.endswith("ParquetHiveSerDe")
    # the IBOV table reads `indice` from the files of IBOV's folder; no `indice` partition key
    ibov = refine_job.table_input(IBOV_ATIVOS, "s3://b3-lake/refined/ativos/indice=IBOV/")
    assert [k["Name"] for k in ibov["PartitionKeys"]] == ["data", "acao"]
    first = ibov["StorageDescriptor"]["Columns"][0]
    assert (first["Name"], first["Type"]) == ("indice", "string")
    assert first["Comment"] == IBOV_ATIVOS.descriptions["indice"]


def partition_values(glue, table: str) -> set[tuple[str, ...]]:
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=DATABASE, TableName=table)
    return {tuple(p["Values"]) for page in pages for p in page["Partitions"]}


def location_of(glue, table: str, values: list[str]) -> str:
    partition = glue.get_partition(DatabaseName=DATABASE, TableName=table, PartitionValues=values)
    return partition["Partition"]["StorageDescriptor"]["Location"]


def test_catalog_sync_adds_keeps_and_removes_only_the_units_partitions(aws) -> None:
    glue = aws_mod.client("glue")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    location = "s3://b3-lake/refined/ativos/"
    assert refine_job.upsert_table(glue, DATABASE, ATIVOS, location) == "created"
    assert refine_job.upsert_table(glue, DATABASE, ATIVOS, location) == "unchanged"
    first = {
        ("IBOV", "2025-07-14", "PETR4"),
        ("IBOV", "2025-07-14", "VALE3"),
        ("IBOV", "2025-07-14", "OLD3"),
    }
    assert refine_job.sync_partitions(glue, DATABASE, ATIVOS, location, [IBOV], first) == {
        "added": 3,
        "removed": 0,
        "kept": 0,
    }
    other_day = {("IBOV", "2025-07-11", "PETR4")}
    other_day_unit = Unit("IBOV", date(2025, 7, 11))
    refine_job.sync_partitions(glue, DATABASE, ATIVOS, location, [other_day_unit], other_day)
    other_index = {("IBXX", "2025-07-14", "PETR4"), ("IBXX", "2025-07-14", "OLD3")}
    refine_job.sync_partitions(glue, DATABASE, ATIVOS, location, [IBXX], other_index)
    second = {
        ("IBOV", "2025-07-14", "PETR4"),
        ("IBOV", "2025-07-14", "VALE3"),
        ("IBOV", "2025-07-14", "NEW3"),
    }
    assert refine_job.sync_partitions(glue, DATABASE, ATIVOS, location, [IBOV], second) == {
        "added": 1,
        "removed": 1,
        "kept": 2,
    }
    # the other date and the other index of the same date are untouched (IBXX keeps OLD3)
    assert partition_values(glue, "carteira_ativos") == second | other_day | other_index
    assert location_of(glue, "carteira_ativos", ["IBOV", "2025-07-14", "NEW3"]) == (
        "s3://b3-lake/refined/ativos/indice=IBOV/data=2025-07-14/acao=NEW3/"
    )


def test_a_partition_registered_in_the_earlier_layout_is_registered_again(aws) -> None:
    """ibov_ativos of the IBOV-only layout had its partitions at refined/ativos/data=D/acao=T/;
    a refine of IBOV on D registers them where the files are now, and leaves other dates."""
    glue = aws_mod.client("glue")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    earlier = "s3://b3-lake/refined/ativos/"
    glue.create_table(
        DatabaseName=DATABASE, TableInput=refine_job.table_input(IBOV_ATIVOS, earlier)
    )
    for values in (["2025-07-14", "PETR4"], ["2025-07-14", "GONE3"], ["2025-07-11", "PETR4"]):
        glue.create_partition(
            DatabaseName=DATABASE,
            TableName="ibov_ativos",
            PartitionInput=refine_job.partition_input(IBOV_ATIVOS, earlier, values),
        )
    assert location_of(glue, "ibov_ativos", ["2025-07-14", "PETR4"]) == (
        "s3://b3-lake/refined/ativos/data=2025-07-14/acao=PETR4/"
    )
    now = "s3://b3-lake/refined/ativos/indice=IBOV/"
    assert refine_job.upsert_table(glue, DATABASE, IBOV_ATIVOS, now) == "updated"
    written = {("2025-07-14", "PETR4"), ("2025-07-14", "VALE3")}
    assert refine_job.sync_partitions(glue, DATABASE, IBOV_ATIVOS, now, [IBOV], written) == {
        "added": 2,  # PETR4 again, at its new place, and VALE3
        "removed": 2,  # PETR4 at the old place, and GONE3
        "kept": 0,
    }
    assert partition_values(glue, "ibov_ativos") == written | {("2025-07-11", "PETR4")}
    for ticker in ("PETR4", "VALE3"):
        assert location_of(glue, "ibov_ativos", ["2025-07-14", ticker]) == (
            f"s3://b3-lake/refined/ativos/indice=IBOV/data=2025-07-14/acao={ticker}/"
        )
    # a date not refined yet keeps its earlier registration until it is
    assert location_of(glue, "ibov_ativos", ["2025-07-11", "PETR4"]) == (
        "s3://b3-lake/refined/ativos/data=2025-07-11/acao=PETR4/"
    )
    again = refine_job.sync_partitions(glue, DATABASE, IBOV_ATIVOS, now, [IBOV], written)
    assert again == {"added": 0, "removed": 0, "kept": 2}


def test_replace_removes_what_the_units_no_longer_have_and_committer_leftovers(aws) -> None:
    """After Spark's write (which replaced the written partitions itself), Lake.replace removes
    the partitions a unit no longer has and anything under the unit that is not a data file of
    a written partition; other dates, indices and the index folder itself are not listed."""
    s3 = aws_mod.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    base = "refined/ativos/indice=IBOV/data=2025-07-14/"
    written_files = [
        f"{base}acao=PETR4/part-00000-a.c000.snappy.parquet",
        f"{base}acao=VALE3/part-00001-a.c000.snappy.parquet",
    ]
    stale = [
        f"{base}acao=OLD3/part-old.parquet",  # a ticker that left
        base,  # a folder marker S3A left
        f"{base}acao=PETR4/_SUCCESS",
        f"{base}acao=VALE3/.part-00001-a.c000.snappy.parquet.crc",
    ]
    others = [
        "refined/ativos/indice=IBOV/data=2025-07-11/acao=OLD3/part-old.parquet",  # another date
        "refined/ativos/indice=IBXX/data=2025-07-14/acao=OLD3/part-old.parquet",  # another index
        "refined/ativos/indice=IBOVX/data=2025-07-14/acao=OLD3/part-old.parquet",  # a prefix of it
        "refined/ativos/indice=IBOV/.spark-staging-other-run/data=2025-07-11/x.parquet",  # not ours
    ]
    for key in written_files + stale + others:
        s3.put_object(Bucket=aws.bucket, Key=key, Body=b"x")
    lake = refine_job.Lake(s3, aws.bucket)
    written = {("IBOV", "2025-07-14", "PETR4"), ("IBOV", "2025-07-14", "VALE3")}
    assert lake.replace(ATIVOS, [IBOV], written) == (2, 4)
    assert sorted(lake.keys("refined/")) == sorted(written_files + others)
