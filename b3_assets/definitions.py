"""The one Definitions object the workspace loads (`dagster dev -w workspace.yaml`)."""

from __future__ import annotations

import dagster as dg

from b3_assets.defs.assets import ALL_ASSETS
from b3_assets.defs.resources import resources_for
from b3_assets.settings import Settings

ibov_pipeline_job = dg.define_asset_job(
    "ibov_pipeline",
    selection=dg.AssetSelection.assets(*ALL_ASSETS),
    description="B3 -> raw -> bronze -> lake -> refined tables -> catalog for trading dates.",
)


def build_definitions(settings: Settings | None = None, offline: bool = False) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        jobs=[ibov_pipeline_job],
        resources=resources_for(settings or Settings(), offline=offline),
    )


defs = build_definitions()
