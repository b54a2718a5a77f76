"""Resources, one interface each, with the implementation picked per environment in one place."""

from __future__ import annotations

from b3_assets.defs.resources.glue_runs import GlueJobRunsResource
from b3_assets.defs.resources.interfaces import (
    B3ApiResource,
    CaptureStoreResource,
    CatalogResource,
    LakeResource,
    QueryResource,
    RefinerResource,
)
from b3_assets.defs.resources.local import (
    DuckDBCatalogResource,
    DuckDBQueryResource,
    DuckDBRefinerResource,
    LocalLakeResource,
)
from b3_assets.settings import Settings, SettingsError

__all__ = [
    "B3ApiResource",
    "CaptureStoreResource",
    "CatalogResource",
    "DuckDBCatalogResource",
    "DuckDBQueryResource",
    "DuckDBRefinerResource",
    "LakeResource",
    "LocalLakeResource",
    "QueryResource",
    "RefinerResource",
    "SettingsError",
    "b3_api_resource",
    "resources_for",
]


def b3_api_resource(settings: Settings, offline: bool = False) -> B3ApiResource:
    return B3ApiResource(
        api_url=settings.api_url,
        segment=settings.segment,
        page_size=settings.page_size,
        timeout=settings.http_timeout,
        retries=settings.http_retries,
        offline=offline,
    )


def require_bucket(settings: Settings) -> str:
    if not settings.bucket:
        raise SettingsError("B3_ENV=aws needs B3_BUCKET (the lake's bucket name)")
    return settings.bucket


def resources_for(settings: Settings, offline: bool = False) -> dict[str, object]:
    """The resources of an environment; asset bodies never branch on it."""
    data_dir = str(settings.data_path)
    common = {
        "b3_api": b3_api_resource(settings, offline),
        "capture_store": CaptureStoreResource(data_dir=data_dir),
        # only the sensor of B3_TRIGGER=lambda calls it; everywhere so every definition loads
        "glue_job_runs": GlueJobRunsResource(job_name=settings.glue_job),
    }
    if settings.env == "local":
        catalog = str(settings.data_path / "catalog.duckdb")
        return {
            **common,
            "lake": LocalLakeResource(root=str(settings.data_path / "lake")),
            "refiner": DuckDBRefinerResource(),
            "catalog": DuckDBCatalogResource(path=catalog),
            "queries": DuckDBQueryResource(path=catalog),
        }
    from dagster_aws.s3 import S3Resource

    from b3_assets.aws.clients import region
    from b3_assets.defs.resources.aws import (
        AthenaResource,
        GlueCatalogResource,
        GlueRefinerResource,
        S3LakeResource,
    )

    bucket = require_bucket(settings)
    s3 = S3Resource(region_name=region() or "us-east-1")
    return {
        **common,
        "lake": S3LakeResource(s3=s3, bucket=bucket),
        "refiner": GlueRefinerResource(
            s3=s3,
            bucket=bucket,
            job_name=settings.glue_job,
            database=settings.glue_database,
            runner=settings.glue_runner,
        ),
        "catalog": GlueCatalogResource(bucket=bucket, database=settings.glue_database),
        "queries": AthenaResource(
            workgroup=settings.athena_workgroup,
            database=settings.glue_database,
            output_location=settings.athena_output,
        ),
    }
