"""One refine per (index, date) unit at a time: the guard sees every active run of the job, and
looks at units, so a run of another index or date never blocks one.

Before, Dagster's guard and the Lambda read one page of job runs (50), so an active run behind
50 others went unseen, and under B3_GLUE_RUNNER=local the guard saw no run at all.
"""

from __future__ import annotations

import time
import warnings
from datetime import date

import dagster as dg
from conftest import create_sleeping_job

from b3_assets.aws import clients as aws_mod
from b3_assets.defs.assets import build_assets, stage_keys
from b3_assets.defs.resources import resources_for
from b3_assets.defs.results import step_failures
from b3_assets.settings import Settings
from b3_assets.testing.glue_local import LocalGlueJobRuns
from b3_contract.glue_runs import job_runs, runs_refining
from b3_contract.lake_keys import Unit, raw_object_key
from b3_contract.tables import TABLES
from lambda_fn import handler

warnings.filterwarnings("ignore", category=dg.BetaWarning)
JOB = "b3-refine"
DAY = date(2025, 7, 14)
UNIT = Unit("IBOV", DAY)


def refine_failure(aws, data_dir, indices=("IBOV",), **settings) -> str:
    """The refine of these indices on DAY (their raw objects in the bucket), which must fail."""
    s3 = aws.client("s3")
    for index in indices:
        s3.put_object(Bucket=aws.bucket, Key=raw_object_key(Unit(index, DAY)), Body=b"x")
    config = Settings(env="aws", data_dir=data_dir, bucket=aws.bucket, **settings)
    result = dg.materialize(
        build_assets(indices),
        selection=stage_keys(indices, *TABLES),
        resources=resources_for(config),
        partition_key=DAY.isoformat(),
        raise_on_error=False,
    )
    assert not result.success
    [message] = step_failures(result)
    return message


def test_an_active_run_behind_more_than_one_page_of_runs_is_seen(
    aws, data_dir, glue_runs_stay_running
) -> None:
    aws.client("s3").create_bucket(Bucket=aws.bucket)
    glue_job = aws.client("glue")
    glue_job.create_job(
        Name=JOB,
        Role="arn:aws:iam::123456789012:role/x",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{aws.bucket}/glue/refine_job.py"},
        ExecutionProperty={"MaxConcurrentRuns": 100},
    )
    for day in range(1, 61):  # 60 runs of other units (IBOV's other dates, IBXX's day)
        units = f"IBOV/2024-03-{day % 28 + 1:02d}" + (",IBXX/2025-07-14" if day % 2 else "")
        glue_job.start_job_run(JobName=JOB, Arguments={"--units": units, "--bucket": aws.bucket})
    running = glue_job.start_job_run(
        JobName=JOB, Arguments={"--units": str(UNIT), "--bucket": aws.bucket}
    )["JobRunId"]
    assert running not in {
        r["Id"] for r in glue_job.get_job_runs(JobName=JOB, MaxResults=50)["JobRuns"]
    }

    message = refine_failure(aws, data_dir)
    assert f"already refining these units: {running} (IBOV/2025-07-14)" in message
    lambda_run = handler.BucketRun(aws.bucket, [UNIT])
    assert handler.active_runs_for(glue_job, JOB, lambda_run) == {running: [UNIT]}
    assert len(list(job_runs(glue_job, JOB, page_size=25))) == 61  # three pages, all read


def test_a_refine_of_two_indices_names_the_unit_being_refined(
    aws, data_dir, glue_job, glue_runs_stay_running
) -> None:
    """Dagster refines its units in one run, so it waits for the whole run to end; the
    refusal names only the unit that is taken, and starts nothing."""
    aws.client("s3").create_bucket(Bucket=aws.bucket)
    running = glue_job.start_job_run(
        JobName=JOB,
        Arguments={"--units": "IBOV/2025-07-11,IBOV/2025-07-14", "--bucket": aws.bucket},
    )["JobRunId"]
    message = refine_failure(aws, data_dir, indices=("IBOV", "IBXX"))
    assert f"already refining these units: {running} (IBOV/2025-07-14)." in message
    assert "IBXX" not in message.split("Two runs")[0]
    assert [run["Id"] for run in glue_job.get_job_runs(JobName=JOB)["JobRuns"]] == [running]


def test_a_local_run_started_by_another_process_is_seen(aws, data_dir, tmp_path) -> None:
    """B3_GLUE_RUNNER=local: the runs live in processes, recorded where every process looks."""
    s3, glue = aws_mod.client("s3"), aws_mod.client("glue")
    create_sleeping_job(s3, glue, aws.bucket, JOB, seconds=60)
    other_process = LocalGlueJobRuns(glue, s3, poll_wait=0)  # as another `b3` would have it
    running = other_process.start_job_run(
        JobName=JOB, Arguments={"--units": str(UNIT), "--bucket": aws.bucket}
    )["JobRunId"]
    try:
        here = LocalGlueJobRuns(glue, s3)
        assert runs_refining(job_runs(here, JOB), [UNIT], aws.bucket) == {running: [UNIT]}
        message = refine_failure(aws, data_dir, glue_runner="local")
        assert f"already refining these units: {running} (IBOV/2025-07-14)" in message
    finally:
        other_process.batch_stop_job_run(JobName=JOB, JobRunIds=[running])
        deadline = time.monotonic() + 30
        while other_process.get_job_run(JOB, running)["JobRun"]["JobRunState"] != "STOPPED":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    ended = {run["Id"]: run for run in job_runs(LocalGlueJobRuns(glue, s3), JOB)}[running]
    assert ended["JobRunState"] == "STOPPED" and ended["CompletedOn"] >= ended["StartedOn"]
    assert runs_refining(job_runs(LocalGlueJobRuns(glue, s3), JOB), [UNIT], aws.bucket) == {}


def test_a_refine_of_another_date_of_a_month_being_refined_is_refused(
    aws, data_dir, glue_job, glue_runs_stay_running
) -> None:
    """carteira_historico is one file per index and month: a run of IBOV/2025-07-11 rewrites
    the file a refine of IBOV/2025-07-14 rewrites, so Dagster refuses it as for the same unit."""
    aws.client("s3").create_bucket(Bucket=aws.bucket)
    running = glue_job.start_job_run(
        JobName=JOB, Arguments={"--units": "IBOV/2025-07-11", "--bucket": aws.bucket}
    )["JobRunId"]
    message = refine_failure(aws, data_dir)
    assert (
        f"is rewriting what a refine of these units rewrites: {running} (IBOV/2025-07-14: month "
        "IBOV/2025-07 of carteira_historico)." in message
    )
    assert [run["Id"] for run in glue_job.get_job_runs(JobName=JOB)["JobRuns"]] == [running]
