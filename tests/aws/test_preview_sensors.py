"""The sensors and B3's quadrimester preview: with B3_TRIGGER=dagster the raw-object sensor also
watches previa/raw/ and requests the preview's tables (never the daily ones) for those units; with
B3_TRIGGER=lambda the Glue runs sensor records a finished preview-mode run as materializations of
the preview's tables (never the daily ones)."""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from b3_assets.defs.assets import PREVIEW_REFINE_STAGES, REFINE_STAGES, asset_key, stage_keys
from b3_assets.defs.jobs import build_jobs
from b3_assets.defs.resources import LocalLakeResource
from b3_assets.defs.resources.glue_runs import GlueJobRunsResource
from b3_assets.defs.sensors import build_glue_job_runs_sensor, build_raw_objects_sensor
from b3_assets.refine.watermark import Watermark
from b3_assets.settings import Settings
from b3_contract.tables import PORTFOLIO_TABLES, PREVIEW_TABLES

warnings.filterwarnings("ignore", category=dg.BetaWarning)
DAGSTER = Settings(env="aws", bucket="b3-lake-test", trigger="dagster")
LAMBDA = Settings(env="aws", bucket="b3-lake-test", trigger="lambda")
INDICES = ("IBOV", "IBXX")
START = datetime(2025, 8, 29, 22, tzinfo=UTC)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def put(lake_root, key: str, at: datetime) -> None:
    path = lake_root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PAR1")
    os.utime(path, (at.timestamp(), at.timestamp()))


def keys_of(request: dg.RunRequest) -> list[str]:
    return sorted(key.to_user_string() for key in request.asset_selection or [])


def stage_names(indices, stages) -> list[str]:
    return sorted(key.to_user_string() for key in stage_keys(indices, *stages))


def evaluate(sensor, instance, cursor, **resources):
    return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))


def test_raw_sensor_requests_the_preview_refine_for_new_preview_objects(tmp_path, instance):
    lake_root = tmp_path / "lake"
    lake = LocalLakeResource(root=str(lake_root))
    sensor = build_raw_objects_sensor(DAGSTER, build_jobs(DAGSTER, INDICES), INDICES)
    put(lake_root, "raw/IBOV/2025-08-28/dados_originais.parquet", START)
    put(lake_root, "previa/raw/IBOV/2025-08-29/dados_originais.parquet", START)
    put(lake_root, "previa/raw/IBXX/2025-08-29/dados_originais.parquet", START)
    put(lake_root, "previa/raw/IBOV/2025-08-29/copia.parquet", START)  # not the preview's object
    put(lake_root, "previa/raw/IBOV/2025-08-30/dados_originais.parquet", START)  # a Saturday

    first = evaluate(sensor, instance, None, lake=lake)
    requests = {r.tags["b3/trigger"]: r for r in first.run_requests}
    assert set(requests) == {"raw-object", "preview-object"}
    daily, preview = requests["raw-object"], requests["preview-object"]
    assert (daily.partition_key, keys_of(daily)) == (
        "2025-08-28",
        stage_names(["IBOV"], REFINE_STAGES),
    )
    assert (preview.partition_key, keys_of(preview)) == (
        "2025-08-29",
        stage_names(["IBOV", "IBXX"], PREVIEW_REFINE_STAGES),  # one run for both indices
    )
    assert not set(keys_of(preview)) & set(stage_names(INDICES, PORTFOLIO_TABLES))
    assert preview.run_key.startswith("preview-object:IBOV+IBXX:2025-08-29:")
    assert Watermark.parse(first.cursor).since == START  # one watermark for both prefixes

    again = evaluate(sensor, instance, first.cursor, lake=lake)
    assert again.run_requests == []
    assert "1 in raw/, 4 in previa/raw/" in again.skip_reason.skip_message

    # replaced, but the preview of IBOV was refined after it was written: only IBXX's is asked
    later = START + timedelta(minutes=5)
    put(lake_root, "previa/raw/IBOV/2025-08-29/dados_originais.parquet", later)
    put(lake_root, "previa/raw/IBXX/2025-08-29/dados_originais.parquet", later)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset_key("IBOV", "carteira_previa"), partition="2025-08-29")
    )
    replaced = evaluate(sensor, instance, again.cursor, lake=lake)
    (request,) = replaced.run_requests
    assert keys_of(request) == stage_names(["IBXX"], PREVIEW_REFINE_STAGES)


def finish(glue) -> None:
    for _ in range(3):  # moto moves each run STARTING -> RUNNING -> SUCCEEDED as it is read
        glue.get_job_runs(JobName="b3-refine")


def test_glue_sensor_records_a_preview_run_as_the_preview_tables_only(glue_job, instance):
    sensor = build_glue_job_runs_sensor(LAMBDA, build_jobs(LAMBDA, INDICES), INDICES)
    runs = GlueJobRunsResource(job_name="b3-refine")
    preview_run = glue_job.start_job_run(
        JobName="b3-refine",
        Arguments={
            "--units": "IBOV/2025-08-29,IBXX/2025-08-29",
            "--bucket": "b3-lake-test",
            "--refine": "previews",
        },
    )["JobRunId"]
    daily_run = glue_job.start_job_run(
        JobName="b3-refine",
        Arguments={"--units": "IBOV/2025-08-28", "--bucket": "b3-lake-test", "--refine": "daily"},
    )["JobRunId"]
    glue_job.start_job_run(  # a mode this code does not know: named, not recorded
        JobName="b3-refine",
        Arguments={"--units": "IBOV/2025-08-27", "--bucket": "b3-lake-test", "--refine": "x"},
    )
    finish(glue_job)

    tick = evaluate(sensor, instance, None, glue_job_runs=runs)
    by_run: dict[str, set] = {}
    for event in tick.asset_events:
        assert isinstance(event, dg.AssetMaterialization)
        run_id = event.metadata["glue_job_run_id"].value
        by_run.setdefault(run_id, set()).add((event.asset_key.to_user_string(), event.partition))
    assert by_run[preview_run] == {
        (f"{index}/{table}", "2025-08-29") for index in INDICES for table in PREVIEW_TABLES
    }
    assert by_run[daily_run] == {(f"IBOV/{table}", "2025-08-28") for table in PORTFOLIO_TABLES}
    assert set(by_run) == {preview_run, daily_run}
    modes = {
        e.metadata["glue_job_run_id"].value: e.metadata["glue_refine"].value
        for e in tick.asset_events
    }
    assert modes == {preview_run: "previews", daily_run: "daily"}
    # the catalog check covers the daily tables: asked for the daily run only
    (request,) = tick.run_requests
    assert request.tags["b3/glue_job_run_id"] == daily_run
    assert request.partition_key == "2025-08-28"
