"""The Glue job script's pure parts: its arguments, and the catalog it keeps, against moto."""

from datetime import date

import pytest
import refine_job
from refine_job import JobArgumentError, parse_dates, resolve_args

from b3_assets.aws import clients as aws_mod
from b3_contract.tables import TABLES as CONTRACT

TABLES = list(CONTRACT.values())
ATIVOS = TABLES[0]


def args(**overrides) -> list[str]:
    values = {"JOB_NAME": "b3-refine", "bucket": "b3-lake", "database": "b3_refined"}
    values.update({"dates": "2025-07-14,2025-07-11,2025-07-14"}, **overrides)
    argv = ["refine_job.py"]
    for name, value in values.items():
        argv += [f"--{name}", value]
    return argv


def test_arguments_parse_without_awsglue() -> None:
    parsed = resolve_args([*args(), "--additional-python-modules", "dagster-pipes==1"])
    assert parsed.dates == (date(2025, 7, 11), date(2025, 7, 14))
    assert (parsed.bucket, parsed.database, parsed.glue_prefix) == (
        "b3-lake",
        "b3_refined",
        "glue/",
    )
    assert parsed.staging_dir is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"dates": "2025-02-30"}, "not a real date"),
        ({"dates": "14/07/2025"}, "not a YYYY-MM-DD date"),
        ({"dates": "2025-07-14,../../etc"}, "not a YYYY-MM-DD date"),
        ({"dates": " , "}, "--dates is empty"),
        ({"bucket": "s3://b3-lake"}, "not an S3 bucket name"),
        ({"bucket": "../other"}, "not an S3 bucket name"),
        ({"database": "b3; DROP"}, "not a Glue database name"),
        ({"glue_prefix": "/etc/"}, "relative key prefix"),
        ({"glue_prefix": "glue/../../"}, "relative key prefix"),
    ],
)
def test_bad_arguments_are_refused_by_name(override, message) -> None:
    with pytest.raises(JobArgumentError, match=message):
        resolve_args(args(**override))


def test_missing_arguments_are_listed() -> None:
    with pytest.raises(JobArgumentError, match="missing job argument.*--bucket.*--dates"):
        resolve_args(["refine_job.py", "--JOB_NAME", "x", "--database", "d"])


def test_too_many_dates() -> None:
    many = ",".join(f"20{y:02d}-01-{d:02d}" for y in range(10, 99) for d in range(1, 29))
    with pytest.raises(JobArgumentError, match="at most 2000"):
        parse_dates(many)


def test_table_input_has_the_contract_types_and_parquet_serde() -> None:
    table = refine_job.table_input(ATIVOS, "s3://b3-lake/refined/ativos/")
    assert [k["Name"] for k in table["PartitionKeys"]] == ["data", "acao"]
    assert table["PartitionKeys"][0]["Type"] == "date"
    columns = dict((c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"])
    assert columns["participacao_pct"] == "decimal(7,3)"
    assert columns["data_coleta"] == "timestamp"
    assert "data" not in columns and "acao" not in columns
    serde = table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert serde.endswith("ParquetHiveSerDe")


def test_catalog_sync_adds_keeps_and_removes_partitions(aws) -> None:
    glue = aws_mod.client("glue")
    glue.create_database(DatabaseInput={"Name": "b3_refined"})
    location = "s3://b3-lake/refined/ativos/"
    day = date(2025, 7, 14)
    assert refine_job.upsert_table(glue, "b3_refined", ATIVOS, location) == "created"
    assert refine_job.upsert_table(glue, "b3_refined", ATIVOS, location) == "unchanged"
    first = {("2025-07-14", "PETR4"), ("2025-07-14", "VALE3"), ("2025-07-14", "OLD3")}
    assert refine_job.sync_partitions(glue, "b3_refined", ATIVOS, location, [day], first) == {
        "added": 3,
        "removed": 0,
        "kept": 0,
    }
    other_day = {("2025-07-11", "PETR4")}
    refine_job.sync_partitions(glue, "b3_refined", ATIVOS, location, [date(2025, 7, 11)], other_day)
    second = {("2025-07-14", "PETR4"), ("2025-07-14", "VALE3"), ("2025-07-14", "NEW3")}
    assert refine_job.sync_partitions(glue, "b3_refined", ATIVOS, location, [day], second) == {
        "added": 1,
        "removed": 1,
        "kept": 2,
    }
    values = {
        tuple(p["Values"])
        for p in glue.get_partitions(DatabaseName="b3_refined", TableName="ibov_ativos")[
            "Partitions"
        ]
    }
    assert values == second | other_day  # the other date is untouched
    partition = glue.get_partition(
        DatabaseName="b3_refined", TableName="ibov_ativos", PartitionValues=["2025-07-14", "NEW3"]
    )["Partition"]
    assert partition["StorageDescriptor"]["Location"] == (
        "s3://b3-lake/refined/ativos/data=2025-07-14/acao=NEW3/"
    )


def test_replace_publishes_new_files_and_removes_what_the_dates_no_longer_have(
    aws, tmp_path
) -> None:
    s3 = aws_mod.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    old = [
        "refined/ativos/data=2025-07-14/acao=PETR4/part-old.parquet",
        "refined/ativos/data=2025-07-14/acao=OLD3/part-old.parquet",
        "refined/ativos/data=2025-07-11/acao=OLD3/part-old.parquet",  # another date: kept
    ]
    for key in old:
        s3.put_object(Bucket=aws.bucket, Key=key, Body=b"old")
    out = tmp_path / "out" / "refined" / "ativos" / "data=2025-07-14"
    for ticker in ("PETR4", "VALE3"):
        (out / f"acao={ticker}").mkdir(parents=True)
        (out / f"acao={ticker}" / "part-new.parquet").write_bytes(b"new")
    lake = refine_job.Lake(s3, aws.bucket, str(tmp_path))
    written = {("2025-07-14", "PETR4"), ("2025-07-14", "VALE3")}
    assert lake.replace(ATIVOS, [date(2025, 7, 14)], written) == (2, 2)
    assert sorted(lake.keys("refined/")) == [
        "refined/ativos/data=2025-07-11/acao=OLD3/part-old.parquet",
        "refined/ativos/data=2025-07-14/acao=PETR4/part-new.parquet",
        "refined/ativos/data=2025-07-14/acao=VALE3/part-new.parquet",
    ]
    head = s3.head_object(
        Bucket=aws.bucket, Key="refined/ativos/data=2025-07-14/acao=VALE3/part-new.parquet"
    )
    assert head["ServerSideEncryption"] == "AES256"
