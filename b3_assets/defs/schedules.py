"""The daily capture: an unattended `dagster dev` builds history one trading day at a time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import dagster as dg

from b3_assets.defs.jobs import daily_job, ibov_freshness_job
from b3_assets.defs.partitions import trading_date_partitions
from b3_assets.defs.resources import B3ApiResource
from b3_assets.settings import Settings
from b3_assets.source.b3_client import B3ApiError
from b3_assets.source.trading_calendar import B3_TIMEZONE, is_trading_day

# 09:00 in São Paulo, before the session opens at 10:00: B3 already serves that day's portfolio.
DAILY_CRON = "0 9 * * 1-5"


def build_daily_schedule(settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="ibov_daily_schedule",
        cron_schedule=DAILY_CRON,
        execution_timezone=str(B3_TIMEZONE),
        job=daily_job(settings),
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def ibov_daily_schedule(
        context: dg.ScheduleEvaluationContext, b3_api: B3ApiResource
    ) -> dg.RunRequest | dg.SkipReason:
        """On each B3 trading day, captures the portfolio B3 is serving, into its own date's
        partition (asked of B3, so a late switch-over never files it under the wrong date)."""
        today = context.scheduled_execution_time.astimezone(B3_TIMEZONE).date()
        return daily_request(today, b3_api.served_date, context.log.warning)

    return ibov_daily_schedule


def daily_request(
    today: date, served_date: Callable[[], date], warn: Callable[[str], object] = print
) -> dg.RunRequest | dg.SkipReason:
    """What the schedule does on `today`: the capture of the date B3 serves, or why none."""
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
        tags={"b3/trigger": "schedule", "b3/scheduled_for": today.isoformat()},
    )


# Noon in São Paulo on weekdays: the morning capture has had three hours. A check that ran only
# inside capture runs could not notice that the captures stopped.
ibov_freshness_schedule = dg.ScheduleDefinition(
    name="ibov_freshness_schedule",
    cron_schedule="0 12 * * 1-5",
    execution_timezone=str(B3_TIMEZONE),
    job=ibov_freshness_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
