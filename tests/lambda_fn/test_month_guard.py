"""Two S3 events of different dates of one month: the second Lambda invocation must not start a
Glue run beside the first one's, which rewrites the same carteira_historico month file. It waits
for that run while it has time, then starts; out of time, it starts nothing for that unit and
fails, so S3 retries the event.

The runs are real processes (the local runner's run registry, a job script that sleeps), so a
run ends when it is stopped, as on Glue."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from conftest import create_sleeping_job

from b3_assets.aws import clients as aws_mod
from b3_assets.testing.glue_local import LocalGlueJobRuns
from b3_contract.lake_keys import Unit, raw_object_key
from lambda_fn import handler

JOB = "b3-refine"
FIRST, SECOND = Unit.parse("IBOV/2025-07-11"), Unit.parse("IBOV/2025-07-14")


def event_for(bucket: str, unit: Unit) -> dict:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": now,
        "s3": {"bucket": {"name": bucket}, "object": {"key": raw_object_key(unit)}},
    }
    return {"Records": [record]}


@dataclass
class ClockedContext:
    """A Lambda context with the runtime's clock of the invocation's remaining time."""

    seconds: float
    aws_request_id: str = "month-guard"

    def __post_init__(self) -> None:
        self.end = time.monotonic() + self.seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.end - time.monotonic()) * 1000)


@pytest.fixture
def local_glue(aws, monkeypatch, tmp_path):
    """The job on moto whose runs are local processes that sleep, as the Lambda's Glue client."""
    s3, glue = aws_mod.client("s3"), aws_mod.client("glue")
    create_sleeping_job(s3, glue, aws.bucket, JOB, seconds=120)
    runs = LocalGlueJobRuns(glue, s3, poll_wait=0, registry=tmp_path / "runs")
    monkeypatch.setenv("B3_GLUE_JOB", JOB)
    monkeypatch.setattr(handler, "_clients", {"glue": runs})
    monkeypatch.setattr(handler, "WAIT_POLL_SECONDS", 0.2)
    yield runs
    active = [
        r["Id"] for r in runs.get_job_runs(JobName=JOB)["JobRuns"] if r["JobRunState"] == "RUNNING"
    ]
    runs.batch_stop_job_run(JobName=JOB, JobRunIds=active)


def units_of(runs: LocalGlueJobRuns) -> dict[str, str]:
    return {r["Id"]: r["Arguments"]["--units"] for r in runs.get_job_runs(JobName=JOB)["JobRuns"]}


def test_a_second_date_of_the_month_gets_no_run_while_the_first_is_running(aws, local_glue):
    first = handler.lambda_handler(event_for(aws.bucket, FIRST), ClockedContext(0))
    [started] = first["started"]
    with pytest.raises(handler.StartFailed) as refused:
        handler.lambda_handler(event_for(aws.bucket, SECOND), ClockedContext(0))
    assert str(refused.value) == (
        f"no Glue run started for {SECOND}: an active run rewrites their partitions "
        f"({started['job_run_id']} ({SECOND}: month IBOV/2025-07 of carteira_historico)); "
        "S3 retries the event"
    )
    assert units_of(local_glue) == {started["job_run_id"]: str(FIRST)}


def test_the_second_date_waits_for_the_first_run_then_starts(aws, local_glue):
    first = handler.lambda_handler(event_for(aws.bucket, FIRST), ClockedContext(0))
    [running] = first["started"]
    stopper = threading.Timer(
        1.5,
        local_glue.batch_stop_job_run,
        kwargs={"JobName": JOB, "JobRunIds": [running["job_run_id"]]},
    )
    stopper.start()
    began = time.monotonic()
    second = handler.lambda_handler(
        event_for(aws.bucket, SECOND), ClockedContext(handler.WAIT_MARGIN_SECONDS + 30)
    )
    stopper.join()
    assert time.monotonic() - began >= 1.5  # it waited for the stop
    [started] = second["started"]
    assert started["units"] == [str(SECOND)] and second["waiting"] == []
    runs = {r["Id"]: r for r in local_glue.get_job_runs(JobName=JOB)["JobRuns"]}
    first_run, second_run = runs[running["job_run_id"]], runs[started["job_run_id"]]
    assert first_run["JobRunState"] == "STOPPED"
    assert second_run["StartedOn"] >= first_run["CompletedOn"]  # never side by side


def test_another_month_of_the_index_starts_at_once(aws, local_glue):
    """2025-06-30 and 2025-07-11 are not neighbours (sessions between) and not one month."""
    handler.lambda_handler(event_for(aws.bucket, FIRST), ClockedContext(0))
    other = handler.lambda_handler(
        event_for(aws.bucket, Unit.parse("IBOV/2025-06-30")), ClockedContext(0)
    )
    assert [run["units"] for run in other["started"]] == [["IBOV/2025-06-30"]]
    assert sorted(units_of(local_glue).values()) == ["IBOV/2025-06-30", str(FIRST)]
