"""The assets with B3_ENV=aws resources, through dagster.materialize against moto."""

import warnings
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.deploy import Target, ensure_database, ensure_tables
from b3_assets.defs.assets import (
    CAPTURE_STAGES,
    CATALOG,
    REFINE_STAGES,
    build_assets,
    stage_keys,
)
from b3_assets.defs.resources import SettingsError, resources_for
from b3_assets.defs.results import materialized_metadata, step_failures
from b3_assets.settings import Settings
from b3_contract.lake_keys import Unit, raw_object_key
from b3_contract.tables import TABLES

warnings.filterwarnings("ignore", category=dg.BetaWarning)
DAY = date(2025, 7, 14)
INDICES = ["IBOV", "IBXX"]


def aws_settings(data_dir, bucket, server=None) -> Settings:
    api = {"api_url": server.api_url} if server else {}
    return Settings(env="aws", data_dir=data_dir, bucket=bucket, http_retries=1, **api)


def test_lake_objects_are_uploaded_once_per_index_with_uri_size_and_etag(
    aws, data_dir, b3_both
) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    resources = resources_for(aws_settings(data_dir, aws.bucket, b3_both))
    keys = stage_keys(INDICES, *CAPTURE_STAGES)
    first = dg.materialize(
        build_assets(INDICES), selection=keys, resources=resources, partition_key=DAY.isoformat()
    )
    out = materialized_metadata(first)
    for index in INDICES:
        meta = out[f"{index}/lake_raw_object"]
        key = f"raw/{index}/2025-07-14/dados_originais.parquet"
        assert meta["uri"] == f"s3://{aws.bucket}/{key}"
        head = s3.head_object(Bucket=aws.bucket, Key=key)
        assert meta["size_bytes"] == head["ContentLength"]
        assert meta["etag"] == head["ETag"].strip('"')
        assert meta["objects_uploaded"] == 1
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket)["Contents"]) == [
        "raw/IBOV/2025-07-14/dados_originais.parquet",
        "raw/IBXX/2025-07-14/dados_originais.parquet",
    ]
    again = materialized_metadata(
        dg.materialize(
            build_assets(INDICES),
            selection=keys,
            resources=resources,
            partition_key=DAY.isoformat(),
        )
    )
    for index in INDICES:
        meta = again[f"{index}/lake_raw_object"]
        assert (meta["objects_uploaded"], meta["objects_unchanged"]) == (0, 1)


def local_lake(tmp_path: Path) -> Path:
    """IBOV's 2025-07-14 raw object and refined partitions, as the embedded default writes
    them (the offline sample, refined by DuckDB): the bucket's layout, in a folder."""
    settings = Settings(env="local", data_dir=tmp_path / "local")
    result = dg.materialize(
        build_assets(["IBOV"]),
        selection=stage_keys(["IBOV"], *CAPTURE_STAGES, *TABLES),
        resources=resources_for(settings, offline=True),
        partition_key=DAY.isoformat(),
    )
    assert result.success
    return settings.data_path / "lake"


def upload_tree(s3, bucket: str, root: Path) -> list[str]:
    keys = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        s3.upload_file(str(path), bucket, key)
        keys.append(key)
    return keys


def catalog_failure(aws, data_dir) -> str:
    resources = resources_for(aws_settings(data_dir, aws.bucket))
    result = dg.materialize(
        build_assets(["IBOV"]),
        selection=stage_keys(["IBOV"], CATALOG),
        resources=resources,
        partition_key=DAY.isoformat(),
        raise_on_error=False,
    )
    assert not result.success
    [message] = step_failures(result)
    return message


def test_catalog_asset_fails_clearly_without_the_glue_tables(aws, data_dir, tmp_path) -> None:
    aws.client("glue").create_database(DatabaseInput={"Name": "b3_refined"})
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    keys = upload_tree(s3, aws.bucket, local_lake(tmp_path))
    assert raw_object_key(Unit("IBOV", DAY)) in keys
    assert any(k.startswith("refined/ativos/indice=IBOV/data=2025-07-14/acao=") for k in keys)
    message = catalog_failure(aws, data_dir)
    assert "b3_refined.carteira_ativos is not in the Glue Data Catalog" in message


def test_catalog_asset_refuses_a_unit_the_glue_job_has_not_refined(aws, data_dir, tmp_path) -> None:
    """After `b3 deploy` the tables exist before any run; a unit with its raw object but no
    refined rows is refused by the catalog's rules, not counted as registered."""
    target = Target(aws.bucket, "b3_refined", "b3-refine", "b3-lake-glue", "us-east-1")
    glue = aws_mod.client("glue")
    ensure_database(glue, target)
    ensure_tables(glue, target)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    key = raw_object_key(Unit("IBOV", DAY))
    s3.upload_file(str(local_lake(tmp_path) / key), aws.bucket, key)
    message = catalog_failure(aws, data_dir)
    assert "refined data fails its checks, not registered" in message
    assert "2025-07-14" in message


def test_aws_without_a_bucket_is_refused(data_dir) -> None:
    with pytest.raises(SettingsError, match="B3_ENV=aws needs B3_BUCKET"):
        resources_for(Settings(env="aws", data_dir=data_dir, bucket=None))


def test_a_second_refine_of_a_unit_being_refined_is_refused(
    aws, data_dir, glue_job, glue_runs_stay_running
) -> None:
    """Two Glue runs of one unit would interleave their S3 writes: the second one never starts."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    s3.put_object(Bucket=aws.bucket, Key=raw_object_key(Unit("IBOV", DAY)), Body=b"x")
    running = glue_job.start_job_run(
        JobName="b3-refine",
        Arguments={"--units": "IBOV/2025-07-11,IBOV/2025-07-14", "--bucket": aws.bucket},
    )["JobRunId"]
    resources = resources_for(aws_settings(data_dir, aws.bucket))
    result = dg.materialize(
        build_assets(["IBOV"]),
        selection=stage_keys(["IBOV"], *REFINE_STAGES),
        resources=resources,
        partition_key=DAY.isoformat(),
        raise_on_error=False,
    )
    assert not result.success
    [message] = step_failures(result)
    assert f"already refining these units: {running} (IBOV/2025-07-14)" in message
    runs = glue_job.get_job_runs(JobName="b3-refine")["JobRuns"]
    assert [run["Id"] for run in runs] == [running]
