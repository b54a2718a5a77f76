"""Resources, one interface each, with the implementation picked per environment in one place."""

from __future__ import annotations

from b3_assets.defs.resources.interfaces import (
    B3ApiResource,
    CaptureStoreResource,
    CatalogResource,
    LakeResource,
    RefinerResource,
)
from b3_assets.defs.resources.local import (
    DuckDBCatalogResource,
    DuckDBRefinerResource,
    LocalLakeResource,
)
from b3_assets.settings import Settings

__all__ = [
    "B3ApiResource",
    "CaptureStoreResource",
    "CatalogResource",
    "DuckDBCatalogResource",
    "DuckDBRefinerResource",
    "LakeResource",
    "LocalLakeResource",
    "RefinerResource",
    "b3_api_resource",
    "resources_for",
]


def b3_api_resource(settings: Settings, offline: bool = False) -> B3ApiResource:
    return B3ApiResource(
        api_url=settings.api_url,
        index=settings.index,
        segment=settings.segment,
        page_size=settings.page_size,
        timeout=settings.http_timeout,
        retries=settings.http_retries,
        offline=offline,
    )


def resources_for(settings: Settings, offline: bool = False) -> dict[str, object]:
    """The resources of an environment; asset bodies never branch on it."""
    if settings.env != "local":
        raise NotImplementedError(
            f"B3_ENV={settings.env!r}: the AWS path (S3 lake, Glue, Athena) is not built yet; "
            "use B3_ENV=local"
        )
    data_dir = str(settings.data_path)
    lake_root = str(settings.data_path / "lake")
    return {
        "b3_api": b3_api_resource(settings, offline),
        "capture_store": CaptureStoreResource(data_dir=data_dir, index=settings.index),
        "lake": LocalLakeResource(root=lake_root),
        "refiner": DuckDBRefinerResource(),
        "catalog": DuckDBCatalogResource(path=str(settings.data_path / "catalog.duckdb")),
    }
