"""The assets with B3_ENV=aws resources, through dagster.materialize against moto."""

import warnings

import dagster as dg
import pytest

from b3_assets.defs.assets import (
    ibov_catalog,
    ibov_lake_raw_object,
    ibov_portfolio_bronze,
    ibov_portfolio_raw,
)
from b3_assets.defs.resources import SettingsError, resources_for
from b3_assets.defs.results import step_failures
from b3_assets.settings import Settings

warnings.filterwarnings("ignore", category=dg.BetaWarning)


def aws_settings(data_dir, server, bucket) -> Settings:
    return Settings(
        env="aws", data_dir=data_dir, api_url=server.api_url, bucket=bucket, http_retries=1
    )


def test_lake_object_is_uploaded_once_with_uri_size_and_etag(aws, data_dir, b3_server) -> None:
    aws.client("s3").create_bucket(Bucket=aws.bucket)
    resources = resources_for(aws_settings(data_dir, b3_server, aws.bucket))
    assets = [ibov_portfolio_raw, ibov_portfolio_bronze, ibov_lake_raw_object]
    first = dg.materialize(assets, resources=resources, partition_key="2025-07-14")
    meta = {
        k: v.value
        for k, v in first.asset_materializations_for_node("ibov_lake_raw_object")[
            0
        ].metadata.items()
    }
    assert meta["uri"] == f"s3://{aws.bucket}/raw/2025-07-14/dados_originais.parquet"
    head = aws.client("s3").head_object(
        Bucket=aws.bucket, Key="raw/2025-07-14/dados_originais.parquet"
    )
    assert meta["size_bytes"] == head["ContentLength"]
    assert meta["etag"] == head["ETag"].strip('"')
    assert meta["objects_uploaded"] == 1
    again = dg.materialize(assets, resources=resources, partition_key="2025-07-14")
    meta = again.asset_materializations_for_node("ibov_lake_raw_object")[0].metadata
    assert meta["objects_uploaded"].value == 0 and meta["objects_unchanged"].value == 1


def test_catalog_asset_fails_clearly_before_the_glue_job_has_run(aws, data_dir) -> None:
    aws.client("glue").create_database(DatabaseInput={"Name": "b3_refined"})
    aws.client("s3").create_bucket(Bucket=aws.bucket)
    resources = resources_for(Settings(env="aws", data_dir=data_dir, bucket=aws.bucket))
    result = dg.materialize(
        [ibov_catalog], resources=resources, partition_key="2025-07-14", raise_on_error=False
    )
    assert not result.success
    [message] = step_failures(result)
    assert "b3_refined.ibov_ativos is not in the Glue Data Catalog" in message


def test_aws_without_a_bucket_is_refused(data_dir) -> None:
    with pytest.raises(SettingsError, match="B3_ENV=aws needs B3_BUCKET"):
        resources_for(Settings(env="aws", data_dir=data_dir, bucket=None))


def test_a_second_refine_of_a_date_being_refined_is_refused(
    aws, data_dir, glue_job, glue_runs_stay_running
) -> None:
    """Two Glue runs of one date would interleave their S3 writes: the second one never starts."""
    from b3_assets.defs.assets import ibov_refined_tables

    s3 = aws.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    s3.put_object(Bucket=aws.bucket, Key="raw/2025-07-14/dados_originais.parquet", Body=b"x")
    running = glue_job.start_job_run(
        JobName="b3-refine",
        Arguments={"--dates": "2025-07-11,2025-07-14", "--bucket": aws.bucket},
    )["JobRunId"]
    resources = resources_for(Settings(env="aws", data_dir=data_dir, bucket=aws.bucket))
    result = dg.materialize(
        [ibov_refined_tables], resources=resources, partition_key="2025-07-14", raise_on_error=False
    )
    assert not result.success
    [message] = step_failures(result)
    assert f"already refining these dates: {running} (2025-07-14)" in message
    runs = glue_job.get_job_runs(JobName="b3-refine")["JobRuns"]
    assert [run["Id"] for run in runs] == [running]
