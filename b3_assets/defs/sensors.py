"""The two ways new raw data gets refined without anyone pressing a button (docs/automation.md).

- `raw_objects_sensor` (B3_TRIGGER=dagster, and always locally): watches the lake's raw/ prefix
  and requests the refine for each new or replaced object's (index, date); and previa/raw/
  (B3's quadrimester preview), requesting the preview's tables for each (index, capture session).
- `glue_job_runs_sensor` (B3_TRIGGER=lambda on AWS): Dagster launches no Glue; it watches the
  runs the Lambda started and records the refined partitions they wrote, with run id and state
  (a preview-mode run: the preview's tables, never the daily ones).

Both are always defined, so the UI shows them, but only the one of the environment's trigger acts:
the other says why it is idle. Glue is never launched twice for one object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import dagster as dg

from b3_assets.defs.assets import (
    CATALOG,
    PREVIEW_REFINE_STAGES,
    REFINE_STAGES,
    asset_key,
    stage_keys,
)
from b3_assets.defs.jobs import Jobs
from b3_assets.defs.lake_quality import REFINED_RULES
from b3_assets.defs.partitions import range_tags, trading_date_partitions, unit_runs
from b3_assets.defs.resources import LakeResource
from b3_assets.defs.resources.glue_runs import GlueJobRunsResource
from b3_assets.lake.local import StoredObject
from b3_assets.refine.watermark import Watermark
from b3_assets.settings import Settings
from b3_contract.glue_runs import (
    DAILY,
    PREVIEWS,
    TERMINAL_STATES,
    glue_run_mode,
    glue_run_units,
    started_by_dagster,
)
from b3_contract.lake_keys import (
    PREVIEW_RAW_PREFIX,
    RAW_PREFIX,
    Unit,
    preview_key_unit,
    raw_key_unit,
)
from b3_contract.tables import PORTFOLIO_TABLES, PREVIEW_TABLES


@dataclass(frozen=True)
class Refine:
    """One kind of refine a lake object asks for: where its objects live, which key rule they
    follow, which stages refine them, and the table whose materialization says it is done."""

    prefix: str
    key_unit: Callable[[str], Unit | None]
    stages: tuple[str, ...]
    probe: str  # every refine of the kind writes this table with the others
    run_key: str  # the run key's prefix, and the b3/trigger tag


REFINES = {
    DAILY: Refine(RAW_PREFIX, raw_key_unit, REFINE_STAGES, "carteira_ativos", "raw-object"),
    PREVIEWS: Refine(
        PREVIEW_RAW_PREFIX,
        preview_key_unit,
        PREVIEW_REFINE_STAGES,
        "carteira_previa",
        "preview-object",
    ),
}
REFINED_PROBE = REFINES[DAILY].probe
GLUE_RUN_TABLES = {DAILY: tuple(PORTFOLIO_TABLES), PREVIEWS: tuple(PREVIEW_TABLES)}
"""The tables a finished Glue run of each `--refine` mode wrote."""


def object_unit(key: str) -> tuple[str, Unit | None]:
    """The refine a lake key asks for and its unit; (DAILY, None) for any other key."""
    for mode, refine in REFINES.items():
        unit = refine.key_unit(key)
        if unit is not None:
            return mode, unit
    return DAILY, None


def _status(active: bool) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if active else dg.DefaultSensorStatus.STOPPED


def refined_after(
    instance: dg.DagsterInstance, unit: Unit, moment: datetime, probe: str = REFINED_PROBE
) -> bool:
    """Whether the unit's refined partition (of the `probe` table) was materialized after
    `moment` (by any run)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=asset_key(unit.index, probe), asset_partitions=[str(unit.day)]
        ),
        limit=1,
    ).records
    return bool(records) and records[0].timestamp >= moment.timestamp()


def unit_requests(
    versions: dict[Unit, str],
    stages: Sequence[str],
    prefix: str,
    tags: dict[str, str],
    with_checks: bool = False,
) -> list[dg.RunRequest]:
    """Runs covering exactly these units: dates that want the same indices are grouped into
    ranges of consecutive partitions, each one run (a single-run backfill: one engine run) of
    `stages` for those indices.

    The run key names the objects' versions: if the cursor is lost after a request, the same
    objects make the same key and Dagster does not launch it again; a replaced object makes a
    new one.
    """
    requests = []
    for indices, first, last in unit_runs(versions):
        span = [
            f"{unit}:{versions[unit]}"
            for unit in sorted(versions)
            if unit.index in indices and first <= unit.day <= last
        ]
        digest = hashlib.sha256("\n".join(span).encode()).hexdigest()[:16]
        what = f"{'+'.join(indices)}:{first}" + ("" if first == last else f"..{last}")
        checks = (
            [
                dg.AssetCheckKey(asset_key(index, table), rule)
                for index in indices
                for table, rules in REFINED_RULES.items()
                for rule in rules
            ]
            if with_checks
            else None
        )
        requests.append(
            dg.RunRequest(
                run_key=f"{prefix}:{what}:{digest}",
                partition_key=str(first) if first == last else None,
                asset_selection=stage_keys(indices, *stages),
                asset_check_keys=checks,
                tags=tags if first == last else tags | range_tags(first, last),
            )
        )
    return requests


def build_raw_objects_sensor(settings: Settings, jobs: Jobs, indices: Sequence[str]):
    active = not settings.lambda_refines

    @dg.sensor(
        name="raw_objects_sensor",
        target=jobs.refine,
        minimum_interval_seconds=60,
        default_status=_status(active),
    )
    def raw_objects_sensor(
        context: dg.SensorEvaluationContext, lake: LakeResource
    ) -> dg.SensorResult | dg.SkipReason:
        """Refines each raw/INDEX/DATE/dados_originais.parquet (the daily tables) and each
        previa/raw/INDEX/DATE/dados_originais.parquet (the preview's) that is new or replaced
        since the last look, unless a run already refined that unit after the object was
        written. One watermark covers both prefixes."""
        if not active:
            return dg.SkipReason(
                "B3_TRIGGER=lambda: the Lambda starts the Glue job for new raw objects "
                "(glue_job_runs_sensor records its runs); set B3_TRIGGER=dagster to use this"
            )
        listed = {mode: lake.list_objects(refine.prefix) for mode, refine in REFINES.items()}
        objects = [item for items in listed.values() for item in items]
        fresh, watermark = Watermark.parse(context.cursor).select(
            objects, lambda o: o.last_modified, lambda o: o.ident
        )
        newest: dict[str, dict[Unit, StoredObject]] = {mode: {} for mode in REFINES}
        ignored = []
        for item in fresh:
            mode, unit = object_unit(item.key)
            if (
                unit is None
                or unit.index not in indices
                or not trading_date_partitions.has_partition_key(str(unit.day))
            ):
                ignored.append(item.key)
                continue
            newest[mode][unit] = item
        if ignored:
            context.log.warning(
                "not raw or preview objects of a trading date and an index of these definitions "
                f"(reload the code location for a new index), ignored: {ignored}"
            )
        requests = []
        for mode, refine in REFINES.items():
            pending = {
                unit: item.ident
                for unit, item in sorted(newest[mode].items())
                if not refined_after(context.instance, unit, item.last_modified, refine.probe)
            }
            if len(pending) < len(newest[mode]):
                done = [str(unit) for unit in sorted(set(newest[mode]) - set(pending))]
                context.log.info(
                    f"already refined after their {refine.prefix} object was written: {done}"
                )
            tags = {"b3/trigger": refine.run_key}
            requests += unit_requests(pending, refine.stages, refine.run_key, tags)
        cursor = watermark.serialize()
        if not requests:
            counts = ", ".join(f"{len(listed[m])} in {r.prefix}" for m, r in REFINES.items())
            skip = f"no new raw objects to refine ({counts})"
            return dg.SensorResult(skip_reason=skip, cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return raw_objects_sensor


def glue_run_events(
    job_run: dict, units: list[Unit]
) -> list[dg.AssetMaterialization | dg.AssetObservation]:
    """The refined partitions a finished run wrote (materializations), or, when it failed, an
    observation per unit carrying its state and error: the daily tables, or the preview's for a
    `--refine previews` run."""
    tables = GLUE_RUN_TABLES[glue_run_mode(job_run)]
    state = job_run["JobRunState"]
    metadata = {
        "glue_job_run_id": job_run["Id"],
        "glue_job_run_state": state,
        "glue_job_name": job_run.get("JobName", ""),
        "started_on": str(job_run.get("StartedOn", "")),
        "completed_on": str(job_run.get("CompletedOn", "")),
        "execution_time_s": job_run.get("ExecutionTime", 0),
        "trigger": "lambda",
        "glue_refine": glue_run_mode(job_run),
    }
    if state != "SUCCEEDED":
        metadata["error"] = job_run.get("ErrorMessage", "")
    kind = dg.AssetMaterialization if state == "SUCCEEDED" else dg.AssetObservation
    return [
        kind(asset_key=asset_key(unit.index, name), partition=str(unit.day), metadata=metadata)
        for unit in units
        for name in tables
    ]


def build_glue_job_runs_sensor(settings: Settings, jobs: Jobs, indices: Sequence[str]):
    active = settings.lambda_refines

    @dg.sensor(
        name="glue_job_runs_sensor",
        target=jobs.catalog_check,
        minimum_interval_seconds=60,
        default_status=_status(active),
    )
    def glue_job_runs_sensor(
        context: dg.SensorEvaluationContext, glue_job_runs: GlueJobRunsResource
    ) -> dg.SensorResult | dg.SkipReason:
        """Records each refine run the Lambda started once it finishes: the refined partitions
        of its units (run id and state as metadata), then, for a daily run, checks the catalog
        for them (a preview run registered its two tables itself)."""
        if not active:
            return dg.SkipReason(
                "B3_TRIGGER=lambda on AWS only: here Dagster's own runs refine new raw objects "
                "(raw_objects_sensor), so there are no Lambda-started runs to record"
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
                units = glue_run_units(job_run)
                mode = glue_run_mode(job_run)
            except ValueError as exc:
                context.log.warning(str(exc))
                continue
            unknown = [str(u) for u in units if u.index not in indices]
            if unknown:
                context.log.warning(
                    f"Glue run {job_run['Id']} refined units of indices these definitions do not "
                    f"hold (reload the code location): {unknown}"
                )
            units = [
                unit
                for unit in units
                if unit.index in indices
                and trading_date_partitions.has_partition_key(str(unit.day))
            ]
            events += glue_run_events(job_run, units)
            if job_run["JobRunState"] == "SUCCEEDED" and mode == PREVIEWS:
                continue  # the catalog check covers the daily tables
            if job_run["JobRunState"] == "SUCCEEDED":
                tags = {"b3/trigger": "lambda", "b3/glue_job_run_id": job_run["Id"]}
                requests += unit_requests(
                    {unit: job_run["Id"] for unit in units},
                    (CATALOG,),
                    f"glue-run:{job_run['Id']}",
                    tags,
                    with_checks=True,
                )
            else:
                context.log.warning(
                    f"Glue run {job_run['Id']} for {[str(u) for u in units]} ended "
                    f"{job_run['JobRunState']}: {job_run.get('ErrorMessage', '')}"
                )
        return dg.SensorResult(
            run_requests=requests,
            asset_events=events,
            cursor=watermark.serialize(),
            skip_reason=None if events else "no finished refine runs started outside Dagster",
        )

    return glue_job_runs_sensor


def build_sensors(
    settings: Settings, jobs: Jobs, indices: Sequence[str]
) -> list[dg.SensorDefinition]:
    return [
        build_raw_objects_sensor(settings, jobs, indices),
        build_glue_job_runs_sensor(settings, jobs, indices),
    ]
