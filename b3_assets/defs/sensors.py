"""The two ways new raw data gets refined without anyone pressing a button (docs/automation.md).

- `ibov_raw_objects_sensor` (B3_TRIGGER=dagster, and always locally): watches the lake's raw/
  prefix and requests the refine for each new or replaced object's date.
- `ibov_glue_job_runs_sensor` (B3_TRIGGER=lambda on AWS): Dagster launches no Glue; it watches the
  runs the Lambda started and records the refined partitions they wrote, with run id and state.

Both are always defined, so the UI shows them, but only the one of the environment's trigger acts:
the other says why it is idle. Glue is never launched twice for one object.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import dagster as dg

from b3_assets.defs.jobs import ibov_catalog_job, ibov_refine_job
from b3_assets.defs.partitions import contiguous_ranges, range_tags, trading_date_partitions
from b3_assets.defs.resources import LakeResource
from b3_assets.defs.resources.glue_runs import GlueJobRunsResource
from b3_assets.lake.local import StoredObject
from b3_assets.refine.watermark import Watermark
from b3_assets.settings import Settings
from b3_contract.glue_runs import TERMINAL_STATES, glue_run_dates, started_by_dagster
from b3_contract.lake_keys import RAW_PREFIX, raw_key_date
from b3_contract.tables import TABLES

REFINED_PROBE = dg.AssetKey("ibov_ativos")  # every refine writes all three tables together


def _status(active: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if active else dg.DefaultSensorStatus.STOPPED


def refined_after(instance: dg.DagsterInstance, day: date, moment: datetime) -> bool:
    """Whether the date's refined partition was materialized after `moment` (by any run)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=REFINED_PROBE, asset_partitions=[day.isoformat()]),
        limit=1,
    ).records
    return bool(records) and records[0].timestamp >= moment.timestamp()


def refine_requests(versions: dict[date, str]) -> list[dg.RunRequest]:
    """One run per range of consecutive partitions (a single-run backfill, so one Glue run).

    The run key names the objects' versions: if the cursor is lost after a request, the same
    objects make the same key and Dagster does not launch it again; a replaced object makes a
    new one.
    """
    requests = []
    for first, last in contiguous_ranges(list(versions)):
        span = [versions[day] for day in sorted(versions) if first <= day <= last]
        digest = hashlib.sha256("\n".join(span).encode()).hexdigest()[:16]
        tags = {"b3/trigger": "raw-object"}
        if first == last:
            key = f"raw-object:{first}:{digest}"
            requests.append(dg.RunRequest(run_key=key, partition_key=str(first), tags=tags))
        else:
            key = f"raw-object:{first}..{last}:{digest}"
            tags |= range_tags(first, last)
            requests.append(dg.RunRequest(run_key=key, tags=tags))
    return requests


def build_raw_objects_sensor(settings: Settings) -> dg.SensorDefinition:
    active = not settings.lambda_refines

    @dg.sensor(
        name="ibov_raw_objects_sensor",
        target=ibov_refine_job,
        minimum_interval_seconds=60,
        default_status=_status(active),
    )
    def ibov_raw_objects_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource
    ) -> dg.SensorResult | dg.SkipReason:
        """Refines each raw/DATE/*.parquet that is new or replaced since the last look, unless a
        run already refined that date after the object was written (a full pipeline run)."""
        if not active:
            return dg.SkipReason(
                "B3_TRIGGER=lambda: the Lambda starts the Glue job for new raw objects "
                "(ibov_glue_job_runs_sensor records its runs); set B3_TRIGGER=dagster to use this"
            )
        objects = lake.list_objects(RAW_PREFIX)
        fresh, watermark = Watermark.parse(context.cursor).select(
            objects, lambda o: o.last_modified, lambda o: o.ident
        )
        newest: dict[date, StoredObject] = {}
        ignored = []
        for item in fresh:
            day = raw_key_date(item.key)
            if day is None or not trading_date_partitions.has_partition_key(str(day)):
                ignored.append(item.key)
                continue
            newest[day] = item
        if ignored:
            context.log.warning(f"not raw objects of a trading date, ignored: {ignored}")
        pending = {
            day: item.ident
            for day, item in sorted(newest.items())
            if not refined_after(context.instance, day, item.last_modified)
        }
        if len(pending) < len(newest):
            done = sorted(set(newest) - set(pending))
            context.log.info(f"already refined after their raw object was written: {done}")
        cursor = watermark.serialize()
        if not pending:
            skip = f"no new raw objects to refine ({len(objects)} in raw/)"
            return dg.SensorResult(skip_reason=skip, cursor=cursor)
        return dg.SensorResult(run_requests=refine_requests(pending), cursor=cursor)

    return ibov_raw_objects_sensor


def glue_run_events(
    job_run: dict, dates: list[date]
) -> list[dg.AssetMaterialization | dg.AssetObservation]:
    """The refined partitions a finished run wrote (materializations), or, when it failed, an
    observation per date carrying its state and error."""
    state = job_run["JobRunState"]
    metadata = {
        "glue_job_run_id": job_run["Id"],
        "glue_job_run_state": state,
        "glue_job_name": job_run.get("JobName", ""),
        "started_on": str(job_run.get("StartedOn", "")),
        "completed_on": str(job_run.get("CompletedOn", "")),
        "execution_time_s": job_run.get("ExecutionTime", 0),
        "trigger": "lambda",
    }
    if state != "SUCCEEDED":
        metadata["error"] = job_run.get("ErrorMessage", "")
    kind = dg.AssetMaterialization if state == "SUCCEEDED" else dg.AssetObservation
    return [
        kind(asset_key=name, partition=str(day), metadata=metadata)
        for day in dates
        for name in TABLES
    ]


def build_glue_job_runs_sensor(settings: Settings) -> dg.SensorDefinition:
    active = settings.lambda_refines

    @dg.sensor(
        name="ibov_glue_job_runs_sensor",
        target=ibov_catalog_job,
        minimum_interval_seconds=60,
        default_status=_status(active),
    )
    def ibov_glue_job_runs_sensor(
        context: dg.SensorEvaluationContext, glue_job_runs: GlueJobRunsResource
    ) -> dg.SensorResult | dg.SkipReason:
        """Records each refine run the Lambda started once it finishes: the refined partitions
        of its dates (run id and state as metadata), then checks the catalog for them."""
        if not active:
            return dg.SkipReason(
                "B3_TRIGGER=lambda on AWS only: here Dagster's own runs refine new raw objects "
                "(ibov_raw_objects_sensor), so there are no Lambda-started runs to record"
            )
        watermark = Watermark.parse(context.cursor)
        finished = [
            run
            for run in glue_job_runs.runs_since(watermark.since)
            if run.get("JobRunState") in TERMINAL_STATES and run.get("CompletedOn")
        ]
        fresh, watermark = watermark.select(finished, lambda r: r["CompletedOn"], lambda r: r["Id"])
        events, requests = [], []
        for job_run in fresh:
            if started_by_dagster(job_run):
                continue  # its Dagster run recorded the materializations itself
            try:
                dates = [
                    day
                    for day in glue_run_dates(job_run)
                    if trading_date_partitions.has_partition_key(str(day))
                ]
            except ValueError as exc:
                context.log.warning(str(exc))
                continue
            events += glue_run_events(job_run, dates)
            if job_run["JobRunState"] == "SUCCEEDED":
                requests += [
                    dg.RunRequest(
                        run_key=f"glue-run:{job_run['Id']}:{day}",
                        partition_key=str(day),
                        tags={"b3/trigger": "lambda", "b3/glue_job_run_id": job_run["Id"]},
                    )
                    for day in dates
                ]
            else:
                context.log.warning(
                    f"Glue run {job_run['Id']} for {dates} ended {job_run['JobRunState']}: "
                    f"{job_run.get('ErrorMessage', '')}"
                )
        return dg.SensorResult(
            run_requests=requests,
            asset_events=events,
            cursor=watermark.serialize(),
            skip_reason=None if events else "no finished refine runs started outside Dagster",
        )

    return ibov_glue_job_runs_sensor


def build_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    return [build_raw_objects_sensor(settings), build_glue_job_runs_sensor(settings)]
