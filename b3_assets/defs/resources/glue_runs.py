"""The refine job's runs, for the sensor of B3_TRIGGER=lambda. Apart from aws.py so that the
local environment, which defines the sensor too, does not import dagster-aws."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import dagster as dg

from b3_assets.aws import clients as aws


class GlueJobRunsResource(dg.ConfigurableResource):
    """The runs of the refine job, newest first: what the Lambda started, for the sensor that
    records it in Dagster."""

    job_name: str = "b3-refine"
    # Longer than the job's 60-minute timeout: a run started that long ago may finish now.
    lookback_minutes: int = 180

    def runs_since(self, since: datetime | None) -> list[dict[str, Any]]:
        """Every run that may have finished after `since` (all runs when it is None)."""
        horizon = since - timedelta(minutes=self.lookback_minutes) if since else None
        runs: list[dict[str, Any]] = []
        with aws.aws_errors(f"listing the runs of Glue job {self.job_name}"):
            pages = aws.client("glue").get_paginator("get_job_runs")
            for page in pages.paginate(JobName=self.job_name):
                runs += page["JobRuns"]
                started = [run["StartedOn"] for run in page["JobRuns"] if run.get("StartedOn")]
                if horizon and started and min(started) < horizon:
                    break
        return runs
