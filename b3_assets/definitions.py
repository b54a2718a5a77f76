"""The one Definitions object the workspace loads (`dagster dev -w workspace.yaml`)."""

from __future__ import annotations

import dagster as dg

from b3_assets.defs.assets import ALL_ASSETS
from b3_assets.defs.checks import ALL_CHECKS
from b3_assets.defs.jobs import jobs_for
from b3_assets.defs.resources import resources_for
from b3_assets.defs.schedules import build_daily_schedule, ibov_freshness_schedule
from b3_assets.defs.sensors import build_sensors
from b3_assets.settings import Settings


def build_definitions(settings: Settings | None = None, offline: bool = False) -> dg.Definitions:
    """Everything for one environment; the B3_TRIGGER mode decides which job the schedule runs
    and which sensor is active."""
    settings = settings or Settings()
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=jobs_for(settings),
        schedules=[build_daily_schedule(settings), ibov_freshness_schedule],
        sensors=build_sensors(settings),
        resources=resources_for(settings, offline=offline),
    )


defs = build_definitions()
