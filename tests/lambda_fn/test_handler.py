"""The Lambda trigger: real-shaped S3 events in, exactly one Glue run per bucket out, covering
every distinct (index, date) unit of the event that no active run is refining."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from b3_contract.lake_keys import Unit
from lambda_fn import handler

EVENTS = Path(__file__).parent / "events"
JOB = "b3-refine"
IBOV = Unit.parse("IBOV/2025-07-14")
IBXX = Unit.parse("IBXX/2025-07-14")
NOT_A_RAW_KEY = "not a raw/INDEX/YYYY-MM-DD"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_plan_decodes_keys_and_keeps_one_run_for_the_valid_key():
    plan = handler.plan_runs(load_event("s3_put_one_date_among_junk.json"), "b3-lake-test")
    assert [(run.bucket, run.units) for run in plan.runs] == [("b3-lake-test", [IBOV])]
    assert plan.runs[0].keys == ["raw/IBOV/2025-07-14/dados_originais.parquet"]
    reasons = {skip["key"]: skip["reason"] for skip in plan.skipped}
    assert len(reasons) == 11
    # the refine reads only dados_originais.parquet: a copy beside it starts nothing
    assert NOT_A_RAW_KEY in reasons["raw/IBOV/2025-07-14/dados originais (cópia).parquet"]
    assert NOT_A_RAW_KEY in reasons["raw/IBOV/2025-07-14/../../../glue/refine_job.parquet"]
    assert NOT_A_RAW_KEY in reasons["raw/IBOV/latest/dados_originais.parquet"]
    assert (
        NOT_A_RAW_KEY
        in reasons["refined/ativos/indice=IBOV/data=2025-07-14/acao=PETR4/part-0.parquet"]
    )
    # the earlier IBOV-only layout (the upgrade moves it) and a lower-case index start nothing
    assert NOT_A_RAW_KEY in reasons["raw/2025-07-14/dados_originais.parquet"]
    assert NOT_A_RAW_KEY in reasons["raw/ibov/2025-07-14/dados_originais.parquet"]
    assert "ObjectRemoved:Delete" in reasons["raw/IBOV/2025-07-11/dados_originais.parquet"]
    assert "someone-elses-bucket" in reasons["raw/IBOV/2025-07-10/dados_originais.parquet"]


def test_plan_of_two_indices_is_one_run_with_both_units_once():
    plan = handler.plan_runs(load_event("s3_put_two_indices.json"), "b3-lake-test")
    [run] = plan.runs
    assert (run.bucket, run.units) == ("b3-lake-test", [IBXX, IBOV])  # in the event's order
    assert run.keys == [
        "raw/IBXX/2025-07-14/dados_originais.parquet",
        "raw/IBOV/2025-07-14/dados_originais.parquet",
        "raw/IBXX/2025-07-14/dados_originais.parquet",
    ]
    assert run.first_event == datetime(2025, 7, 14, 21, 10, 1, tzinfo=UTC)  # the earliest
    assert plan.skipped == []


@pytest.mark.parametrize("event", [None, [], {}, {"Records": "x"}, {"Records": [1, {"s3": 2}]}])
def test_plan_of_a_malformed_event_skips_instead_of_raising(event):
    plan = handler.plan_runs(event)
    assert plan.runs == [] and plan.skipped


def runs_of(glue) -> list[dict]:
    return glue.get_job_runs(JobName=JOB)["JobRuns"]


def test_one_glue_run_for_one_valid_key_among_junk(glue_job, capsys, lambda_context):
    result = handler.lambda_handler(load_event("s3_put_one_date_among_junk.json"), lambda_context)
    runs = runs_of(glue_job)
    assert len(runs) == 1
    assert runs[0]["Arguments"]["--units"] == "IBOV/2025-07-14"
    assert runs[0]["Arguments"]["--bucket"] == "b3-lake-test"
    assert [item["job_run_id"] for item in result["started"]] == [runs[0]["Id"]]
    assert result["started"][0]["units"] == ["IBOV/2025-07-14"]
    assert len(result["skipped"]) == 11
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {entry["message"] for entry in logs} == {"skipped", "started the Glue run", "done"}
    assert all(
        entry["request_id"] == lambda_context.aws_request_id
        for entry in logs
        if entry["message"] != "started the Glue run"
    )


def test_two_dates_start_one_run_for_both(glue_job, lambda_context):
    result = handler.lambda_handler(load_event("s3_put_two_dates.json"), lambda_context)
    [run] = runs_of(glue_job)
    assert run["Arguments"]["--units"] == "IBOV/2025-07-14,IBOV/2025-07-15"
    assert result["started"][0]["units"] == ["IBOV/2025-07-14", "IBOV/2025-07-15"]


def test_an_event_of_two_indices_starts_one_run_covering_both(glue_job, lambda_context):
    result = handler.lambda_handler(load_event("s3_put_two_indices.json"), lambda_context)
    [run] = runs_of(glue_job)
    assert run["Arguments"]["--units"] == "IBOV/2025-07-14,IBXX/2025-07-14"  # sorted, once each
    assert run["Arguments"]["--bucket"] == "b3-lake-test"
    [started] = result["started"]
    assert started["job_run_id"] == run["Id"]
    assert sorted(started["units"]) == ["IBOV/2025-07-14", "IBXX/2025-07-14"]
    assert result["already_running"] == [] and result["failed"] == []


def test_a_retried_event_does_not_start_the_same_units_twice(
    glue_job, glue_runs_stay_running, lambda_context
):
    event = load_event("s3_put_two_indices.json")
    first = handler.lambda_handler(event, lambda_context)
    again = handler.lambda_handler(event, lambda_context)
    assert len(first["started"]) == 1 and again["started"] == []
    [running] = again["already_running"]
    assert running["job_run_id"] == first["started"][0]["job_run_id"]
    assert running["units"] == ["IBOV/2025-07-14", "IBXX/2025-07-14"]
    assert len(runs_of(glue_job)) == 1


def test_a_unit_being_refined_is_not_started_again_while_the_other_is(
    aws, glue_job, glue_runs_stay_running, lambda_context
):
    busy = glue_job.start_job_run(
        JobName=JOB, Arguments={"--units": "IBOV/2025-07-14", "--bucket": aws.bucket}
    )["JobRunId"]
    result = handler.lambda_handler(load_event("s3_put_two_indices.json"), lambda_context)
    assert result["already_running"] == [
        {
            "units": ["IBOV/2025-07-14"],
            "bucket": aws.bucket,
            "refine": "daily",
            "keys": [
                "raw/IBXX/2025-07-14/dados_originais.parquet",
                "raw/IBOV/2025-07-14/dados_originais.parquet",
                "raw/IBXX/2025-07-14/dados_originais.parquet",
            ],
            "job_run_id": busy,
        }
    ]
    [started] = result["started"]
    assert started["units"] == ["IBXX/2025-07-14"]
    arguments = {run["Id"]: run["Arguments"]["--units"] for run in runs_of(glue_job)}
    assert arguments == {busy: "IBOV/2025-07-14", started["job_run_id"]: "IBXX/2025-07-14"}


def test_a_run_that_started_before_the_event_does_not_cover_it_but_holds_it_back(
    aws, glue_job, glue_runs_stay_running, lambda_context
):
    """A run that began before the object was written read the old file, so it does not cover
    the unit; but it is still writing the unit's partitions, so no second run of that unit starts
    beside it (the invocation fails and S3 retries it). A run of another bucket writes
    elsewhere: it stops nothing."""
    old = glue_job.start_job_run(
        JobName=JOB, Arguments={"--units": "IBOV/2025-07-14", "--bucket": aws.bucket}
    )["JobRunId"]
    glue_job.start_job_run(
        JobName=JOB, Arguments={"--units": "IBXX/2025-07-14", "--bucket": "another-bucket"}
    )
    event = load_event("s3_put_two_indices.json")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    for record in event["Records"]:
        record["eventTime"] = later
    with pytest.raises(
        handler.StartFailed,
        match=rf"IBOV/2025-07-14: an active run .*{old} \(IBOV/2025-07-14: the same",
    ):
        handler.lambda_handler(event, lambda_context)
    started = [run for run in runs_of(glue_job) if run["Id"] != old]
    units = sorted((r["Arguments"]["--bucket"], r["Arguments"]["--units"]) for r in started)
    assert units == [("another-bucket", "IBXX/2025-07-14"), (aws.bucket, "IBXX/2025-07-14")]


class FlakyGlue:
    """Glue that refuses to start a run for one bucket."""

    def __init__(self, glue, refuse: str):
        self.glue, self.refuse = glue, refuse

    def get_job_runs(self, **kwargs):
        return self.glue.get_job_runs(**kwargs)

    def start_job_run(self, **kwargs):
        if kwargs["Arguments"]["--bucket"] == self.refuse:
            raise RuntimeError("ConcurrentRunsExceededException: Job b3-refine already running")
        return self.glue.start_job_run(**kwargs)


def test_a_glue_error_for_one_bucket_does_not_lose_the_others(
    glue_job, capsys, lambda_context, monkeypatch
):
    """Without B3_BUCKET the Lambda serves any bucket: one run per bucket, each on its own."""
    monkeypatch.delenv("B3_BUCKET")
    event = load_event("s3_put_two_indices.json")
    event["Records"][0]["s3"]["bucket"]["name"] = "b3-lake-other"  # IBXX's first key
    handler._clients["glue"] = FlakyGlue(glue_job, refuse="b3-lake-test")
    with pytest.raises(
        handler.StartFailed, match="no Glue run started for IBOV/2025-07-14, IBXX/2025-07-14"
    ):
        handler.lambda_handler(event, lambda_context)
    [run] = runs_of(glue_job)
    assert (run["Arguments"]["--bucket"], run["Arguments"]["--units"]) == (
        "b3-lake-other",
        "IBXX/2025-07-14",
    )
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["bucket"], e["units"]) for e in errors if e["level"] == "ERROR"] == [
        ("b3-lake-test", ["IBOV/2025-07-14", "IBXX/2025-07-14"])
    ]


def test_a_missing_job_fails_the_invocation_with_glues_reason(aws, monkeypatch, lambda_context):
    monkeypatch.setenv("B3_GLUE_JOB", "not-deployed")
    monkeypatch.setattr(handler, "_clients", {})
    with pytest.raises(handler.StartFailed, match="EntityNotFoundException"):
        handler.lambda_handler(load_event("s3_put_two_indices.json"), lambda_context)


def test_clients_are_created_only_when_a_run_is_needed(monkeypatch, lambda_context):
    monkeypatch.setattr(handler, "_clients", {})
    monkeypatch.setenv("B3_BUCKET", "b3-lake-test")

    def no_client(*args, **kwargs):
        raise AssertionError("a client was created")

    monkeypatch.setattr("boto3.client", no_client)
    event = {"Records": load_event("s3_put_one_date_among_junk.json")["Records"][2:]}
    result = handler.lambda_handler(event, lambda_context)
    assert result["started"] == [] and len(result["skipped"]) == 10
    assert handler._clients == {}
