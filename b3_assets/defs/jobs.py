"""The jobs: the whole chain, its capture half and its refine half. Schedules, sensors and the CLI
pick one of these, so a run never covers more than its trigger should."""

from __future__ import annotations

import dagster as dg

from b3_assets.defs.assets import (
    ALL_ASSETS,
    ibov_catalog,
    ibov_lake_raw_object,
    ibov_portfolio_bronze,
    ibov_portfolio_raw,
    ibov_refined_tables,
)
from b3_assets.defs.checks import ibov_freshness_check, ibov_refined_checks
from b3_assets.settings import Settings

CAPTURE_ASSETS = [ibov_portfolio_raw, ibov_portfolio_bronze, ibov_lake_raw_object]
REFINE_ASSETS = [ibov_refined_tables, ibov_catalog]

ibov_pipeline_job = dg.define_asset_job(
    "ibov_pipeline",
    selection=dg.AssetSelection.assets(*ALL_ASSETS),
    description="B3 -> raw -> bronze -> lake -> refined tables -> catalog for trading dates.",
)
ibov_capture_job = dg.define_asset_job(
    "ibov_capture",
    selection=dg.AssetSelection.assets(*CAPTURE_ASSETS),
    description="B3 -> raw -> bronze -> raw object in the lake (B3_TRIGGER=lambda refines it).",
)
ibov_refine_job = dg.define_asset_job(
    "ibov_refine",
    selection=dg.AssetSelection.assets(*REFINE_ASSETS),
    description="The lake's raw objects -> refined tables -> catalog (one engine run per range).",
)
ibov_catalog_job = dg.define_asset_job(
    "ibov_catalog_check",
    selection=dg.AssetSelection.assets(ibov_catalog)
    | dg.AssetSelection.checks(ibov_refined_checks),
    description=(
        "Checks the refined tables of a refine that Dagster did not launch (the Lambda's), "
        "then registers them in the catalog."
    ),
)

ibov_freshness_job = dg.define_asset_job(
    "ibov_freshness_check",
    selection=dg.AssetSelection.checks(ibov_freshness_check),
    description="Warns when the lake has no raw object for the previous B3 session.",
)


def jobs_for(settings: Settings) -> list[dg.UnresolvedAssetJobDefinition]:
    """With B3_TRIGGER=lambda there is no whole-chain job: its upload would make the Lambda
    start Glue while its refine step started Glue too."""
    capture_and_refine = [] if settings.lambda_refines else [ibov_pipeline_job]
    return [
        *capture_and_refine,
        ibov_capture_job,
        ibov_refine_job,
        ibov_catalog_job,
        ibov_freshness_job,
    ]


def daily_job(settings: Settings) -> dg.UnresolvedAssetJobDefinition:
    """What a new trading day runs: everything, or up to the lake when the Lambda refines."""
    return ibov_capture_job if settings.lambda_refines else ibov_pipeline_job


def daily_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return CAPTURE_ASSETS if settings.lambda_refines else ALL_ASSETS
