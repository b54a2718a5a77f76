"""The Lambda and B3's quadrimester preview: a previa/raw/INDEX/DATE/dados_originais.parquet object
starts a preview-mode run (`--refine previews`), a raw/ object a daily run, and neither ever the
other's; the busy-unit guard only counts runs of the same mode."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from b3_contract.glue_runs import DAILY, PREVIEWS, runs_refining
from b3_contract.lake_keys import Unit, preview_object_key, raw_object_key
from lambda_fn import handler

EVENTS = Path(__file__).parent / "events"
JOB = "b3-refine"
BUCKET = "b3-lake-test"
IBOV = Unit.parse("IBOV/2025-07-14")
IBXX = Unit.parse("IBXX/2025-07-14")


def event_of(*keys: str) -> dict:
    """A real-shaped S3 put event with one record per key (the stored event's record)."""
    stored = json.loads((EVENTS / "s3_put_two_indices.json").read_text())["Records"][0]
    records = []
    for key in keys:
        record = copy.deepcopy(stored)
        record["s3"]["object"]["key"] = key
        records.append(record)
    return {"Records": records}


def runs_of(glue) -> list[dict]:
    return glue.get_job_runs(JobName=JOB)["JobRuns"]


def test_plan_of_a_preview_key_is_a_preview_run_and_never_a_daily_one():
    plan = handler.plan_runs(event_of(preview_object_key(IBOV)), BUCKET)
    [run] = plan.runs
    assert (run.bucket, run.mode, run.units) == (BUCKET, PREVIEWS, [IBOV])
    assert run.keys == ["previa/raw/IBOV/2025-07-14/dados_originais.parquet"]
    assert plan.skipped == []


def test_plan_of_a_mixed_event_is_one_run_per_mode_with_its_own_units():
    keys = [
        raw_object_key(IBOV),
        preview_object_key(IBXX),
        preview_object_key(IBOV),
        raw_object_key(IBOV),  # twice: once in the run
    ]
    plan = handler.plan_runs(event_of(*keys), BUCKET)
    assert [(run.mode, run.units) for run in plan.runs] == [
        (DAILY, [IBOV]),
        (PREVIEWS, [IBXX, IBOV]),  # in the event's order
    ]
    daily, previews = plan.runs
    assert all(key.startswith("raw/") for key in daily.keys) and len(daily.keys) == 2
    assert all(key.startswith("previa/raw/") for key in previews.keys)


def test_plan_skips_other_preview_files_and_names_both_expected_keys():
    keys = [
        "previa/raw/IBOV/2025-07-14/previa_IBOV.json",  # the raw answer, not the lake object
        "previa/bronze/IBOV/2025-07-14/dados_originais.parquet",
        "previa/raw/ibov/2025-07-14/dados_originais.parquet",
        "previa/raw/IBOV/2025-02-30/dados_originais.parquet",
    ]
    plan = handler.plan_runs(event_of(*keys), BUCKET)
    assert plan.runs == []
    assert [skip["key"] for skip in plan.skipped] == keys
    for skip in plan.skipped:
        assert "raw/INDEX/YYYY-MM-DD/dados_originais.parquet" in skip["reason"]
        assert "previa/raw/INDEX/YYYY-MM-DD/dados_originais.parquet" in skip["reason"]


def test_a_preview_key_starts_a_preview_run_and_a_daily_key_a_daily_run(glue_job, lambda_context):
    preview = handler.lambda_handler(event_of(preview_object_key(IBOV)), lambda_context)
    [run] = runs_of(glue_job)
    assert run["Arguments"]["--refine"] == PREVIEWS
    assert run["Arguments"]["--units"] == "IBOV/2025-07-14"
    assert run["Arguments"]["--bucket"] == BUCKET
    assert preview["started"] == [
        {
            "units": ["IBOV/2025-07-14"],
            "bucket": BUCKET,
            "refine": PREVIEWS,
            "keys": [preview_object_key(IBOV)],
            "job_run_id": run["Id"],
        }
    ]
    daily = handler.lambda_handler(event_of(raw_object_key(IBOV)), lambda_context)
    [started] = daily["started"]
    arguments = {r["Id"]: r["Arguments"] for r in runs_of(glue_job)}[started["job_run_id"]]
    assert (arguments["--refine"], arguments["--units"]) == (DAILY, "IBOV/2025-07-14")
    assert started["refine"] == DAILY


def test_a_mixed_event_starts_two_runs(glue_job, lambda_context):
    event = event_of(raw_object_key(IBOV), preview_object_key(IBOV), preview_object_key(IBXX))
    result = handler.lambda_handler(event, lambda_context)
    runs = {r["Arguments"]["--refine"]: r["Arguments"]["--units"] for r in runs_of(glue_job)}
    assert runs == {DAILY: "IBOV/2025-07-14", PREVIEWS: "IBOV/2025-07-14,IBXX/2025-07-14"}
    assert sorted((item["refine"], tuple(item["units"])) for item in result["started"]) == [
        (DAILY, ("IBOV/2025-07-14",)),
        (PREVIEWS, ("IBOV/2025-07-14", "IBXX/2025-07-14")),
    ]
    assert result["already_running"] == [] and result["failed"] == []


def test_the_guard_counts_only_runs_of_the_same_mode(
    aws, glue_job, glue_runs_stay_running, lambda_context
):
    """A daily run of IBOV/2025-07-14 writes other tables: a preview of that session starts;
    a retried preview event then finds its own run and starts nothing."""
    daily = glue_job.start_job_run(
        JobName=JOB, Arguments={"--units": "IBOV/2025-07-14", "--bucket": aws.bucket}
    )["JobRunId"]  # started before --refine existed: a daily run
    event = event_of(preview_object_key(IBOV))
    first = handler.lambda_handler(event, lambda_context)
    [started] = first["started"]
    assert first["already_running"] == []
    again = handler.lambda_handler(event, lambda_context)
    assert again["started"] == []
    [running] = again["already_running"]
    assert (running["job_run_id"], running["refine"]) == (started["job_run_id"], PREVIEWS)
    runs = list(runs_of(glue_job))
    assert runs_refining(runs, [IBOV], aws.bucket) == {daily: [IBOV]}
    assert runs_refining(runs, [IBOV], aws.bucket, mode=PREVIEWS) == {started["job_run_id"]: [IBOV]}
    daily_again = handler.lambda_handler(event_of(raw_object_key(IBOV)), lambda_context)
    assert [item["job_run_id"] for item in daily_again["already_running"]] == [daily]
    assert daily_again["started"] == []
