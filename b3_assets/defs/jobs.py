"""The jobs: the whole chain, its capture half and its refine half, over every index of the
definitions. Schedules, sensors and the CLI pick one, and the indices of a run by its asset
selection, so a run never covers more than its trigger should."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from b3_assets.defs.assets import (
    CAPTURE_STAGES,
    CATALOG,
    PREVIEW_CAPTURE_STAGES,
    PREVIEW_REFINE_STAGES,
    REFINE_STAGES,
    stage_keys,
)
from b3_assets.settings import Settings

# The preview rides with the daily portfolio: captured with it, refined with it (after it).
CAPTURING = CAPTURE_STAGES + PREVIEW_CAPTURE_STAGES
REFINING = REFINE_STAGES + PREVIEW_REFINE_STAGES

PIPELINE, CAPTURE, REFINE, CATALOG_CHECK, FRESHNESS = (
    "pipeline",
    "capture",
    "refine",
    "catalog_check",
    "freshness_check",
)


@dataclass(frozen=True)
class Jobs:
    """The jobs of one set of definitions, by role."""

    pipeline: dg.UnresolvedAssetJobDefinition
    capture: dg.UnresolvedAssetJobDefinition
    refine: dg.UnresolvedAssetJobDefinition
    catalog_check: dg.UnresolvedAssetJobDefinition
    freshness: dg.UnresolvedAssetJobDefinition
    settings: Settings

    def all(self) -> list[dg.UnresolvedAssetJobDefinition]:
        """With B3_TRIGGER=lambda there is no whole-chain job: its upload would make the Lambda
        start Glue while its refine step started Glue too."""
        capture_and_refine = [] if self.settings.lambda_refines else [self.pipeline]
        return [*capture_and_refine, self.capture, self.refine, self.catalog_check, self.freshness]

    @property
    def daily(self) -> dg.UnresolvedAssetJobDefinition:
        """What a new trading day runs: everything, or up to the lake when the Lambda refines."""
        return self.capture if self.settings.lambda_refines else self.pipeline

    @property
    def daily_stages(self) -> tuple[str, ...]:
        return CAPTURING if self.settings.lambda_refines else CAPTURING + REFINING


def build_jobs(settings: Settings, indices: Sequence[str]) -> Jobs:
    def assets(*stages: str) -> dg.AssetSelection:
        return dg.AssetSelection.assets(*stage_keys(indices, *stages))

    return Jobs(
        pipeline=dg.define_asset_job(
            PIPELINE,
            selection=assets(*CAPTURING, *REFINING),
            description="B3 -> raw -> bronze -> lake -> refined tables -> catalog, for the "
            "selected indices and trading dates.",
        ),
        capture=dg.define_asset_job(
            CAPTURE,
            selection=assets(*CAPTURING),
            description="B3 -> raw -> bronze -> raw object in the lake (B3_TRIGGER=lambda "
            "refines it).",
        ),
        refine=dg.define_asset_job(
            REFINE,
            selection=assets(*REFINING),
            description="The lake's raw objects -> refined tables -> catalog (one engine run per "
            "range, all its indices together).",
        ),
        catalog_check=dg.define_asset_job(
            CATALOG_CHECK,
            selection=assets(CATALOG)
            | dg.AssetSelection.checks_for_assets(
                *stage_keys(indices, *REFINE_STAGES[:-1], "carteira_previa")
            ),
            description="Checks the refined tables of a refine that Dagster did not launch (the "
            "Lambda's), then registers them in the catalog.",
        ),
        freshness=dg.define_asset_job(
            FRESHNESS,
            selection=dg.AssetSelection.checks_for_assets(
                *stage_keys(settings.index_codes, "lake_raw_object")
            ),
            description="Warns when the lake has no raw object of a configured index for the "
            "previous B3 session.",
        ),
        settings=settings,
    )
