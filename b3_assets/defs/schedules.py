"""The daily capture: an unattended `dagster dev` builds history one trading day at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import dagster as dg

from b3_assets.defs.assets import stage_keys
from b3_assets.defs.jobs import Jobs
from b3_assets.defs.partitions import trading_date_partitions
from b3_assets.defs.resources import B3ApiResource
from b3_assets.settings import Settings
from b3_assets.source.b3_client import B3ApiError
from b3_assets.source.trading_calendar import B3_TIMEZONE, is_trading_day

# 09:00 in São Paulo, before the session opens at 10:00: B3 already serves that day's portfolio.
DAILY_CRON = "0 9 * * 1-5"


def build_daily_schedule(settings: Settings, jobs: Jobs) -> dg.ScheduleDefinition:
    indices = settings.index_codes
    selection = stage_keys(indices, *jobs.daily_stages)

    @dg.schedule(
        name="daily_schedule",
        cron_schedule=DAILY_CRON,
        execution_timezone=str(B3_TIMEZONE),
        job=jobs.daily,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def daily_schedule(
        context: dg.ScheduleEvaluationContext, b3_api: B3ApiResource
    ) -> dg.RunRequest | dg.SkipReason:
        """On each B3 trading day, captures the portfolios of B3_INDICES that B3 is serving, in
        one run, into their own date's partition (asked of B3, so a late switch-over never
        files them under the wrong date)."""
        today = context.scheduled_execution_time.astimezone(B3_TIMEZONE).date()
        return daily_request(
            today, lambda: b3_api.served_date(indices[0]), context.log.warning, selection
        )

    return daily_schedule


def daily_request(
    today: date,
    served_date: Callable[[], date],
    warn: Callable[[str], object] = print,
    asset_selection: list[dg.AssetKey] | None = None,
) -> dg.RunRequest | dg.SkipReason:
    """What the schedule does on `today`: the capture of the date B3 serves (for the indices of
    `asset_selection`), or why none."""
    try:
        trading = is_trading_day(today)
    except ValueError as exc:  # past the end of the known calendar
        return dg.SkipReason(str(exc))
    if not trading:
        return dg.SkipReason(f"{today} is a B3 holiday: no session, no new portfolio")
    try:
        served = served_date()
    except B3ApiError as exc:
        # the run then fails with B3's error in the UI, instead of a silently skipped day
        warn(f"could not ask B3 which date it serves ({exc}); using {today}")
        served = today
    if not trading_date_partitions.has_partition_key(served.isoformat()):
        return dg.SkipReason(f"B3 serves {served}, which is not a trading-date partition")
    return dg.RunRequest(
        run_key=f"daily:{served}",
        partition_key=served.isoformat(),
        asset_selection=asset_selection,
        tags={"b3/trigger": "schedule", "b3/scheduled_for": today.isoformat()},
    )


def build_freshness_schedule(jobs: Jobs) -> dg.ScheduleDefinition:
    """Noon in São Paulo on weekdays: the morning capture has had three hours. A check that ran
    only inside capture runs could not notice that the captures stopped."""
    return dg.ScheduleDefinition(
        name="freshness_schedule",
        cron_schedule="0 12 * * 1-5",
        execution_timezone=str(B3_TIMEZONE),
        job=jobs.freshness,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
