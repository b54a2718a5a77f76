"""The one Definitions object the workspace loads (`dagster dev -w workspace.yaml`)."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from b3_assets.defs.assets import build_assets
from b3_assets.defs.checks import build_checks
from b3_assets.defs.indices import indices_for
from b3_assets.defs.jobs import build_jobs
from b3_assets.defs.resources import resources_for
from b3_assets.defs.schedules import build_daily_schedule, build_freshness_schedule
from b3_assets.defs.sensors import build_sensors
from b3_assets.settings import Settings


def build_definitions(
    settings: Settings | None = None, offline: bool = False, extra_indices: Iterable[str] = ()
) -> dg.Definitions:
    """Everything for one environment and its indices (B3_INDICES, those held in the data dir,
    and `extra_indices`); the B3_TRIGGER mode decides which job the schedule runs and which
    sensor is active."""
    settings = settings or Settings()
    indices = indices_for(settings, extra_indices)
    jobs = build_jobs(settings, indices)
    return dg.Definitions(
        assets=build_assets(indices),
        asset_checks=build_checks(indices),
        jobs=jobs.all(),
        schedules=[build_daily_schedule(settings, jobs), build_freshness_schedule(jobs)],
        sensors=build_sensors(settings, jobs, indices),
        resources=resources_for(settings, offline=offline),
    )


defs = build_definitions()
