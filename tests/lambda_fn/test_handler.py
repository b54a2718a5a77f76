"""The Lambda trigger: real-shaped S3 events in, exactly one Glue run per distinct raw date out."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from lambda_fn import handler

EVENTS = Path(__file__).parent / "events"
JOB = "b3-refine"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_plan_decodes_keys_and_keeps_one_run_per_date():
    plan = handler.plan_runs(load_event("s3_put_one_date_among_junk.json"), "b3-lake-test")
    assert [(run.bucket, run.day) for run in plan.runs] == [("b3-lake-test", date(2025, 7, 14))]
    assert plan.runs[0].keys == ["raw/2025-07-14/dados_originais.parquet"]
    reasons = {skip["key"]: skip["reason"] for skip in plan.skipped}
    assert len(reasons) == 9
    # the refine reads only dados_originais.parquet: a copy beside it starts nothing
    assert "not a raw/YYYY-MM-DD" in reasons["raw/2025-07-14/dados originais (cópia).parquet"]
    assert "not a raw/YYYY-MM-DD" in reasons["raw/2025-07-14/../../glue/refine_job.parquet"]
    assert (
        "not a raw/YYYY-MM-DD"
        in reasons["refined/ativos/data=2025-07-14/acao=PETR4/part-0.parquet"]
    )
    assert "ObjectRemoved:Delete" in reasons["raw/2025-07-11/dados_originais.parquet"]
    assert "someone-elses-bucket" in reasons["raw/2025-07-10/dados_originais.parquet"]


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
    assert runs[0]["Arguments"]["--dates"] == "2025-07-14"
    assert runs[0]["Arguments"]["--bucket"] == "b3-lake-test"
    assert [item["job_run_id"] for item in result["started"]] == [runs[0]["Id"]]
    assert len(result["skipped"]) == 9
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {entry["message"] for entry in logs} == {"skipped", "started the Glue run", "done"}
    assert all(
        entry["request_id"] == lambda_context.aws_request_id
        for entry in logs
        if entry["message"] != "started the Glue run"
    )


def test_two_dates_start_two_runs(glue_job, lambda_context):
    handler.lambda_handler(load_event("s3_put_two_dates.json"), lambda_context)
    assert sorted(run["Arguments"]["--dates"] for run in runs_of(glue_job)) == [
        "2025-07-14",
        "2025-07-15",
    ]


def test_a_retried_event_does_not_start_the_same_date_twice(
    glue_job, glue_runs_stay_running, lambda_context
):
    event = load_event("s3_put_two_dates.json")
    first = handler.lambda_handler(event, lambda_context)
    again = handler.lambda_handler(event, lambda_context)
    assert len(first["started"]) == 2 and again["started"] == []
    assert {item["job_run_id"] for item in again["already_running"]} == {
        item["job_run_id"] for item in first["started"]
    }
    assert len(runs_of(glue_job)) == 2


class FlakyGlue:
    """Glue that refuses to start a run for one date."""

    def __init__(self, glue, refuse: str):
        self.glue, self.refuse = glue, refuse

    def get_job_runs(self, **kwargs):
        return self.glue.get_job_runs(**kwargs)

    def start_job_run(self, **kwargs):
        if kwargs["Arguments"]["--dates"] == self.refuse:
            raise RuntimeError("ConcurrentRunsExceededException: Job b3-refine already running")
        return self.glue.start_job_run(**kwargs)


def test_a_glue_error_for_one_date_does_not_lose_the_others(glue_job, capsys, lambda_context):
    handler._clients["glue"] = FlakyGlue(glue_job, refuse="2025-07-14")
    with pytest.raises(handler.StartFailed, match="no Glue run started for 2025-07-14"):
        handler.lambda_handler(load_event("s3_put_two_dates.json"), lambda_context)
    assert [run["Arguments"]["--dates"] for run in runs_of(glue_job)] == ["2025-07-15"]
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["date"] for e in errors if e["level"] == "ERROR"] == ["2025-07-14"]


def test_a_missing_job_fails_the_invocation_with_glues_reason(aws, monkeypatch, lambda_context):
    monkeypatch.setenv("B3_GLUE_JOB", "not-deployed")
    monkeypatch.setattr(handler, "_clients", {})
    with pytest.raises(handler.StartFailed, match="EntityNotFoundException"):
        handler.lambda_handler(load_event("s3_put_two_dates.json"), lambda_context)


def test_clients_are_created_only_when_a_run_is_needed(monkeypatch, lambda_context):
    monkeypatch.setattr(handler, "_clients", {})
    monkeypatch.setenv("B3_BUCKET", "b3-lake-test")

    def no_client(*args, **kwargs):
        raise AssertionError("a client was created")

    monkeypatch.setattr("boto3.client", no_client)
    event = {"Records": load_event("s3_put_one_date_among_junk.json")["Records"][2:]}
    result = handler.lambda_handler(event, lambda_context)
    assert result["started"] == [] and len(result["skipped"]) == 8
    assert handler._clients == {}
