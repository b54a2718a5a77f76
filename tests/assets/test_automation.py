"""Schedules and sensors through build_sensor_context / build_schedule_context: the run requests,
the cursor, no duplicates, and restart safety (the testing ladder of dagster_testing)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from conftest import import_csvs

from b3_assets.definitions import build_definitions
from b3_assets.defs.assets import REFINE_STAGES, asset_key, stage_keys
from b3_assets.defs.jobs import CAPTURING, REFINING, build_jobs
from b3_assets.defs.resources import B3ApiResource, LocalLakeResource
from b3_assets.defs.resources.glue_runs import GlueJobRunsResource
from b3_assets.defs.schedules import DAILY_CRON, build_daily_schedule, daily_request
from b3_assets.defs.sensors import (
    build_glue_job_runs_sensor,
    build_raw_objects_sensor,
    glue_run_events,
)
from b3_assets.refine.watermark import Watermark
from b3_assets.settings import Settings
from b3_assets.source.trading_calendar import B3_TIMEZONE, trading_days
from b3_contract.lake_keys import Unit
from b3_contract.tables import PORTFOLIO_TABLES

warnings.filterwarnings("ignore", category=dg.BetaWarning)
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

LOCAL = Settings()
LAMBDA = Settings(env="aws", bucket="b3-lake-test", trigger="lambda")
DAGSTER_ON_AWS = Settings(env="aws", bucket="b3-lake-test", trigger="dagster")
INDICES = ("IBOV",)


def raw_sensor(settings: Settings = LOCAL, indices=INDICES):
    return build_raw_objects_sensor(settings, build_jobs(settings, indices), indices)


def glue_sensor(settings: Settings = LAMBDA, indices=INDICES):
    return build_glue_job_runs_sensor(settings, build_jobs(settings, indices), indices)


def selected(request: dg.RunRequest) -> list[str]:
    return sorted(key.to_user_string() for key in request.asset_selection or [])


def refine_keys(*indices: str) -> list[str]:
    return sorted(key.to_user_string() for key in stage_keys(indices, *REFINE_STAGES))


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def put_raw(lake_root, key: str, data: bytes = b"PAR1", at: datetime | None = None) -> None:
    path = lake_root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if at is not None:
        os.utime(path, (at.timestamp(), at.timestamp()))


def evaluate(sensor, instance, cursor, **resources):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return sensor(context)


# ---- definitions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "active", "scheduled_job"),
    [
        (LOCAL, "raw_objects_sensor", "pipeline"),
        (DAGSTER_ON_AWS, "raw_objects_sensor", "pipeline"),
        (LAMBDA, "glue_job_runs_sensor", "capture"),
    ],
)
def test_definitions_have_the_schedule_both_sensors_and_one_active(
    settings, active, scheduled_job, tmp_path
):
    settings = settings.model_copy(update={"data_dir": tmp_path, "indices": "IBOV,SMLL"})
    defs = build_definitions(settings)
    repo = defs.get_repository_def()
    jobs = {"capture", "refine", "catalog_check", "freshness_check"}
    assert set(repo.job_names) - {"__ASSET_JOB"} == jobs | (
        set() if settings.lambda_refines else {"pipeline"}
    )
    schedule, freshness = sorted(repo.schedule_defs, key=lambda s: s.name != "daily_schedule")
    assert freshness.name == "freshness_schedule"
    assert freshness.job_name == "freshness_check"
    assert schedule.name == "daily_schedule" and schedule.job_name == scheduled_job
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.execution_timezone == "America/Sao_Paulo"
    statuses = {sensor.name: sensor.default_status for sensor in repo.sensor_defs}
    assert statuses == {
        "raw_objects_sensor": dg.DefaultSensorStatus.STOPPED,
        "glue_job_runs_sensor": dg.DefaultSensorStatus.STOPPED,
    } | {active: dg.DefaultSensorStatus.RUNNING}
    capture = repo.get_job("capture")
    assert {k.to_user_string() for k in capture.asset_layer.executable_asset_keys} == {
        f"{index}/{name}"
        for index in ("IBOV", "SMLL")
        for name in CAPTURING  # the daily portfolio's and the preview's capture stages
    }


# ---- schedule --------------------------------------------------------------------------------


class ServesTheDay(B3ApiResource):
    """B3 as it behaves on a trading morning: serving that day's portfolio."""

    day: str = ""

    def served_date(self, index: str = "IBOV") -> date:
        return date.fromisoformat(self.day)


@dataclass
class Tick:
    run_requests: list[dg.RunRequest]
    skip_message: str | None


def run_schedule(day: date, b3_api: B3ApiResource, settings: Settings = LOCAL):
    schedule = build_daily_schedule(settings, build_jobs(settings, settings.index_codes))
    moment = datetime(day.year, day.month, day.day, 9, tzinfo=B3_TIMEZONE)
    context = dg.build_schedule_context(
        scheduled_execution_time=moment, resources={"b3_api": b3_api}
    )
    result = schedule(context)
    if isinstance(result, dg.SkipReason):
        return Tick([], result.skip_message)
    return Tick([result], None)


def test_the_schedule_runs_on_every_2025_session_and_never_on_a_holiday():
    assert DAILY_CRON.split()[-1] == "1-5"  # weekends are never even evaluated
    requested, skipped = [], {}
    day = date(2025, 1, 1)
    while day.year == 2025:
        if day.weekday() < 5:  # the schedule's decision, without a Dagster tick per day
            result = daily_request(day, ServesTheDay(day=day.isoformat()).served_date)
            if isinstance(result, dg.RunRequest):
                requested.append(date.fromisoformat(result.partition_key))
                assert result.run_key == f"daily:{day}"
            else:
                skipped[day] = result.skip_message
        day += timedelta(days=1)
    for day in (date(2025, 7, 14), date(2025, 11, 20)):  # and the tick calls that decision
        tick = run_schedule(day, ServesTheDay(day=day.isoformat()))
        expected = daily_request(day, lambda day=day: day)
        assert [r.run_key for r in tick.run_requests] == (
            [expected.run_key] if isinstance(expected, dg.RunRequest) else []
        )
    assert requested == trading_days(date(2025, 1, 1), date(2025, 12, 31))
    assert len(requested) == 250
    for holiday in ("2025-11-20", "2025-03-03", "2025-03-04", "2025-12-25"):
        assert "B3 holiday" in skipped[date.fromisoformat(holiday)]
    assert date(2025, 3, 5) in requested  # Ash Wednesday trades from 13:00


def test_the_schedule_asks_b3_which_date_it_serves(b3_server):
    api = B3ApiResource(api_url=b3_server.api_url, retries=0, timeout=5)
    tick = run_schedule(date(2025, 7, 11), api)  # a Friday; B3 already serves Monday's
    (request,) = tick.run_requests
    assert request.partition_key == "2025-07-14"
    assert request.tags["b3/scheduled_for"] == "2025-07-11"
    assert selected(request) == sorted(
        k.to_user_string() for k in stage_keys(["IBOV"], *CAPTURING, *REFINING)
    )


def test_the_schedule_captures_every_configured_index_in_one_run():
    """B3_INDICES, and only those (not every index the definitions hold), in one run."""
    settings = Settings(indices="IBOV,SMLL,IDIV")
    tick = run_schedule(date(2025, 7, 14), ServesTheDay(day="2025-07-14"), settings)
    (request,) = tick.run_requests
    assert request.partition_key == "2025-07-14"
    wanted = stage_keys(["IBOV", "SMLL", "IDIV"], *CAPTURING, *REFINING)
    assert selected(request) == sorted(k.to_user_string() for k in wanted)


def test_the_schedule_still_requests_the_session_when_b3_is_down():
    api = B3ApiResource(api_url="http://127.0.0.1:9/indexProxy/indexCall", retries=0, timeout=2)
    tick = run_schedule(date(2025, 7, 14), api)
    (request,) = tick.run_requests  # the run then fails with B3's error, visibly
    assert request.partition_key == "2025-07-14"


def test_in_lambda_mode_the_schedule_runs_only_the_capture():
    tick = run_schedule(date(2025, 7, 14), ServesTheDay(day="2025-07-14"), LAMBDA)
    (request,) = tick.run_requests
    assert build_daily_schedule(LAMBDA, build_jobs(LAMBDA, INDICES)).job_name == "capture"
    assert request.partition_key == "2025-07-14"
    assert selected(request) == sorted(
        k.to_user_string() for k in stage_keys(["IBOV"], *CAPTURING)
    )  # the Lambda refines: nothing past the lake objects


# ---- the raw/ sensor -------------------------------------------------------------------------


def test_raw_sensor_starts_no_refine_for_an_object_the_refine_does_not_read(tmp_path, instance):
    """The refine reads raw/INDEX/DATE/dados_originais.parquet only: another file beside it (a
    copy, a stray upload, the old layout's key) would start a run that fails, so it starts none
    (as in the Lambda)."""
    lake_root = tmp_path / "lake"
    start = datetime(2025, 7, 14, 12, tzinfo=UTC)
    put_raw(lake_root, "raw/IBOV/2025-07-15/dados originais (cópia).parquet", at=start)
    put_raw(lake_root, "raw/IBOV/2025-07-16/part-0.parquet", at=start)
    put_raw(lake_root, "raw/2025-07-17/dados_originais.parquet", at=start)  # no index
    lake = LocalLakeResource(root=str(lake_root))
    result = evaluate(raw_sensor(), instance, None, lake=lake)
    assert result.run_requests == [] and "no new raw objects" in result.skip_reason.skip_message
    put_raw(lake_root, "raw/IBOV/2025-07-15/dados_originais.parquet", at=start + timedelta(1))
    result = evaluate(raw_sensor(), instance, result.cursor, lake=lake)
    assert [r.partition_key for r in result.run_requests] == ["2025-07-15"]


def test_raw_sensor_requests_each_new_object_once_and_survives_a_restart(tmp_path, instance):
    lake_root = tmp_path / "lake"
    lake = LocalLakeResource(root=str(lake_root))
    sensor = raw_sensor()
    start = datetime(2025, 7, 14, 12, tzinfo=UTC)
    for offset, day in enumerate(["2025-07-10", "2025-07-11", "2025-07-14", "2025-07-16"]):
        put_raw(
            lake_root,
            f"raw/IBOV/{day}/dados_originais.parquet",
            at=start + timedelta(seconds=offset),
        )
    put_raw(lake_root, "raw/IBOV/2025-07-13/dados_originais.parquet", at=start)  # a Sunday
    put_raw(lake_root, "raw/IBOV/2025-07-14/.dados_originais.parquet.x.tmp", at=start)  # mid-write
    put_raw(lake_root, "raw/notes.txt", at=start)

    first = evaluate(sensor, instance, None, lake=lake)
    ranges = [
        (r.partition_key, r.tags.get(RANGE_START), r.tags.get(RANGE_END))
        for r in first.run_requests
    ]
    # consecutive sessions in one run (one Glue run); 07-15 has no object, so 07-16 is its own
    assert ranges == [(None, "2025-07-10", "2025-07-14"), ("2025-07-16", None, None)]
    assert Watermark.parse(first.cursor).since == start + timedelta(seconds=3)

    again = evaluate(sensor, instance, first.cursor, lake=lake)
    assert again.run_requests == [] and "no new raw objects" in again.skip_reason.skip_message

    restarted = evaluate(sensor, instance, None, lake=lake)  # the cursor was lost
    assert [r.run_key for r in restarted.run_requests] == [r.run_key for r in first.run_requests]

    put_raw(
        lake_root, "raw/IBOV/2025-07-11/dados_originais.parquet", b"PAR1 new", start + timedelta(1)
    )
    replaced = evaluate(sensor, instance, again.cursor, lake=lake)
    (request,) = replaced.run_requests
    assert request.partition_key == "2025-07-11"
    assert request.run_key not in {r.run_key for r in first.run_requests}


def test_raw_sensor_skips_a_date_refined_after_its_object_was_written(tmp_path, instance):
    lake_root = tmp_path / "lake"
    written = datetime.now(UTC) - timedelta(minutes=5)
    put_raw(lake_root, "raw/IBOV/2025-07-14/dados_originais.parquet", at=written)
    put_raw(lake_root, "raw/IBOV/2025-07-11/dados_originais.parquet", at=written)
    put_raw(lake_root, "raw/IBXX/2025-07-14/dados_originais.parquet", at=written)
    # the full pipeline run refined IBOV's 07-14 right after uploading it (not IBXX's)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=asset_key("IBOV", "carteira_ativos"), partition="2025-07-14"
        )
    )
    result = evaluate(
        raw_sensor(indices=("IBOV", "IBXX")),
        instance,
        None,
        lake=LocalLakeResource(root=str(lake_root)),
    )
    assert [(r.partition_key, selected(r)) for r in result.run_requests] == [
        ("2025-07-11", refine_keys("IBOV")),
        ("2025-07-14", refine_keys("IBXX")),
    ]


def test_raw_sensor_refines_several_indices_of_a_range_in_one_run(tmp_path, instance):
    """Units of dates that want the same indices make one run over those indices (one engine
    run); an index the definitions do not hold is ignored until the code location reloads."""
    lake_root = tmp_path / "lake"
    start = datetime(2025, 7, 14, 12, tzinfo=UTC)
    for index, days in {
        "IBOV": ["2025-07-10", "2025-07-11", "2025-07-14"],
        "IBXX": ["2025-07-10", "2025-07-11"],
        "SMLL": ["2025-07-10"],
    }.items():
        for day in days:
            put_raw(lake_root, f"raw/{index}/{day}/dados_originais.parquet", at=start)
    result = evaluate(
        raw_sensor(indices=("IBOV", "IBXX")),
        instance,
        None,
        lake=LocalLakeResource(root=str(lake_root)),
    )
    runs = [
        (selected(r), r.partition_key, r.tags.get(RANGE_START), r.tags.get(RANGE_END))
        for r in result.run_requests
    ]
    assert runs == [
        (refine_keys("IBOV"), "2025-07-14", None, None),
        (refine_keys("IBOV", "IBXX"), None, "2025-07-10", "2025-07-11"),
    ]


def test_raw_sensor_is_idle_when_the_lambda_refines(tmp_path, instance):
    result = evaluate(
        raw_sensor(LAMBDA), instance, None, lake=LocalLakeResource(root=str(tmp_path))
    )
    assert isinstance(result, dg.SkipReason) and "B3_TRIGGER=lambda" in result.skip_message


def test_a_raw_sensor_request_runs_the_refine_of_that_range(tmp_path, instance, csv_files):
    """Objects that reached the lake without a refine (a capture-only run); the sensor's range
    request, executed as the daemon would, refines both dates in one run."""
    data_dir = tmp_path / "data"
    import_csvs(data_dir, csv_files[:2])  # 2025-03-05 and 2025-03-06
    defs = build_definitions(Settings(data_dir=data_dir))
    capture = defs.resolve_job_def("capture")
    tags = {RANGE_START: "2025-03-05", RANGE_END: "2025-03-06"}
    assert capture.execute_in_process(instance=instance, tags=tags).success
    lake = LocalLakeResource(root=str(data_dir / "lake"))
    result = evaluate(raw_sensor(), instance, None, lake=lake)
    (request,) = result.run_requests
    assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("2025-03-05", "2025-03-06")
    refine = defs.resolve_job_def("refine")
    assert refine.execute_in_process(
        instance=instance, tags=request.tags, asset_selection=request.asset_selection
    ).success
    refined = instance.fetch_materializations(asset_key("IBOV", "carteira_ativos"), limit=10)
    assert sorted(r.partition_key for r in refined.records) == ["2025-03-05", "2025-03-06"]
    assert sorted(p.name for p in (data_dir / "lake/refined/header/indice=IBOV").iterdir()) == [
        "data=2025-03-05",
        "data=2025-03-06",
    ]
    after = evaluate(raw_sensor(), instance, None, lake=lake)
    assert after.run_requests == []  # refined after the objects were written: nothing to redo


# ---- the Glue job runs sensor (B3_TRIGGER=lambda) ----------------------------------------------


def finish(glue) -> list[dict]:
    for _ in range(3):  # moto moves each run STARTING -> RUNNING -> SUCCEEDED as it is read
        runs = glue.get_job_runs(JobName="b3-refine")["JobRuns"]
    return runs


def test_glue_sensor_records_the_lambdas_runs_once(glue_job, instance):
    glue = glue_job
    sensor = glue_sensor(indices=("IBOV", "IBXX"))
    runs = GlueJobRunsResource(job_name="b3-refine")
    lambda_run = glue.start_job_run(
        JobName="b3-refine",
        Arguments={"--units": "IBOV/2025-07-14,IBXX/2025-07-14", "--bucket": "b3-lake-test"},
    )["JobRunId"]
    glue.start_job_run(  # launched by Dagster through Pipes: it recorded its own result
        JobName="b3-refine",
        Arguments={"--units": "IBOV/2025-07-11", "--dagster-pipes-context": "e30="},
    )
    glue.start_job_run(JobName="b3-refine", Arguments={"--units": "../../x"})
    glue.start_job_run(JobName="b3-refine", Arguments={"--dates": "2025-07-10"})  # old argument
    finish(glue)

    first = evaluate(sensor, instance, None, glue_job_runs=runs)
    keys = sorted((e.asset_key.to_user_string(), e.partition) for e in first.asset_events)
    assert keys == [
        (f"{index}/{table}", "2025-07-14")
        for index in ("IBOV", "IBXX")
        for table in sorted(PORTFOLIO_TABLES)
    ]
    assert all(isinstance(e, dg.AssetMaterialization) for e in first.asset_events)
    meta = first.asset_events[0].metadata
    assert meta["glue_job_run_id"].value == lambda_run
    assert meta["glue_job_run_state"].value == "SUCCEEDED"
    (catalog,) = first.run_requests  # one catalog run for both indices of the Glue run
    assert (
        catalog.partition_key == "2025-07-14" and catalog.tags["b3/glue_job_run_id"] == lambda_run
    )
    assert selected(catalog) == ["IBOV/catalog", "IBXX/catalog"]
    assert {key.asset_key.path[0] for key in catalog.asset_check_keys} == {"IBOV", "IBXX"}

    again = evaluate(sensor, instance, first.cursor, glue_job_runs=runs)
    assert again.asset_events == [] and again.run_requests == []

    later = glue.start_job_run(
        JobName="b3-refine", Arguments={"--units": "IBOV/2025-07-15", "--bucket": "b3-lake-test"}
    )["JobRunId"]
    finish(glue)
    third = evaluate(sensor, instance, again.cursor, glue_job_runs=runs)
    assert {e.partition for e in third.asset_events} == {"2025-07-15"}
    assert [r.tags["b3/glue_job_run_id"] for r in third.run_requests] == [later]
    restarted = evaluate(sensor, instance, None, glue_job_runs=runs)
    assert sorted(r.run_key for r in restarted.run_requests) == sorted(
        r.run_key for r in first.run_requests + third.run_requests
    )


def test_a_failed_lambda_run_is_observed_with_its_error_not_materialized():
    events = glue_run_events(
        {
            "Id": "jr_1",
            "JobName": "b3-refine",
            "JobRunState": "FAILED",
            "ErrorMessage": "AnalysisException: nothing",
        },
        [Unit("IBOV", date(2025, 7, 14)), Unit("SMLL", date(2025, 7, 14))],
    )
    assert len(events) == 2 * len(PORTFOLIO_TABLES)
    assert all(isinstance(e, dg.AssetObservation) for e in events)
    assert {e.asset_key.path[0] for e in events} == {"IBOV", "SMLL"}
    assert events[0].metadata["error"].value == "AnalysisException: nothing"


def test_glue_sensor_is_idle_unless_the_lambda_refines(instance):
    result = evaluate(
        glue_sensor(LOCAL),
        instance,
        None,
        glue_job_runs=GlueJobRunsResource(job_name="b3-refine"),
    )
    assert (
        isinstance(result, dg.SkipReason) and "B3_TRIGGER=lambda on AWS only" in result.skip_message
    )
