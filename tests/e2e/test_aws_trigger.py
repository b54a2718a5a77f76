"""B3_TRIGGER=lambda end to end against moto: `b3 run` stops at the raw object; S3 sends its
notification (to SQS: moto cannot invoke a Lambda without Docker); the Lambda handler starts one
Glue run; the deployed job refines (run here with the run's arguments, as Glue would); and the
Glue job runs sensor records it in Dagster and checks the catalog. A preview B3 serves takes the
same road in preview mode: its own notification, a `--refine previews` run, the preview's tables
recorded (never the daily ones)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from conftest import (
    MOTO_REQUESTS,
    by_spark,
    drain_events,
    fresh_moto_account,
    moto_client,
    notify_queue,
    run_refine_job,
    s3_requests,
)

from b3_assets.definitions import build_definitions
from b3_assets.defs.jobs import build_jobs
from b3_assets.defs.resources.glue_runs import GlueJobRunsResource
from b3_assets.defs.sensors import build_glue_job_runs_sensor
from b3_assets.settings import Settings
from b3_contract.tables import PORTFOLIO_TABLES, PREVIEW_TABLES
from lambda_fn import handler

pytestmark = [pytest.mark.e2e, pytest.mark.spark]  # the deployed Glue job runs on pyspark
ARGUMENTS_MARK = "job arguments read by awsglue.utils.getResolvedOptions: "

B3 = Path(sys.executable).parent / "b3"
BUCKET = "b3-lake-lambda"


@contextmanager
def b3_stack(moto_server, tmp_path, fixtures_dir, preview: bytes | None = None) -> Iterator[dict]:
    """A fresh moto account and B3 serving 2025-07-14 (and, if given, this preview)."""
    from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3

    account = fresh_moto_account(moto_server, tmp_path, BUCKET)
    fake = FakeB3(max_page_size=40)
    fake.serve_file(fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json", segment=2)
    if preview is not None:
        fake.serve_theoretical("preview", "IBOV", preview)
    with RunningFakeB3(fake) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "B3_"))},
            **account,
            "B3_ENV": "aws",  # B3_TRIGGER is left at its default: lambda
            "B3_DATA_DIR": str(tmp_path / "data"),
            "B3_API_URL": server.api_url,
            "B3_HTTP_RETRIES": "1",
        }
        env.pop("DAGSTER_HOME", None)
        yield env


@pytest.fixture
def stack(moto_server, tmp_path, fixtures_dir):
    with b3_stack(moto_server, tmp_path, fixtures_dir) as env:
        yield env


def b3(env: dict, *args: str) -> str:
    done = subprocess.run(
        [str(B3), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_lambda_mode_from_b3_run_to_recorded_refine(stack, monkeypatch, tmp_path, lambda_context):
    b3(stack, "deploy")
    s3, sqs, glue = (moto_client(stack, name) for name in ("s3", "sqs", "glue"))
    queue_url = notify_queue(s3, sqs, BUCKET)

    out = b3(stack, "run")
    assert "started by the Lambda on the S3 event (Glue job b3-refine)" in out
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="refined/")
    assert listed["KeyCount"] == 0
    assert glue.get_job_runs(JobName="b3-refine")["JobRuns"] == []  # Dagster launched no Glue

    # the Lambda, with the template's environment
    for name, value in stack.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("B3_GLUE_JOB", "b3-refine")
    monkeypatch.setenv("B3_BUCKET", BUCKET)
    monkeypatch.setattr(handler, "_clients", {})
    events = drain_events(sqs, queue_url)
    assert len(events) == 1
    result = handler.lambda_handler(events[0], lambda_context)
    assert [item["units"] for item in result["started"]] == [["IBOV/2025-07-14"]]
    (job_run,) = glue.get_job_runs(JobName="b3-refine")["JobRuns"]

    # Glue runs it: the deployed script with the run's arguments
    script = tmp_path / "refine_job.py"
    script.write_bytes(s3.get_object(Bucket=BUCKET, Key="glue/refine_job.py")["Body"].read())
    args = [item for pair in job_run["Arguments"].items() for item in pair]
    since = len(MOTO_REQUESTS)
    done = run_refine_job(script, stack, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    prefix = "refined/ativos/indice=IBOV/data=2025-07-14/"
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    assert sum(page["KeyCount"] for page in pages) == 84
    # as on Glue: Glue's parser read the arguments, Spark read raw/ and wrote refined/ itself
    assert ARGUMENTS_MARK + "1 unit(s), --refine daily, on the local runner (S3A)" in done.stdout
    raw_key = "raw/IBOV/2025-07-14/dados_originais.parquet"
    assert by_spark([r for r in s3_requests(since, BUCKET, raw_key) if r.method == "GET"])
    assert by_spark([r for r in s3_requests(since, BUCKET, "refined/") if r.method == "PUT"])

    # Dagster records what the Lambda's run wrote, then checks the catalog for that date
    settings = Settings(env="aws", bucket=BUCKET, data_dir=tmp_path / "data")
    with dg.instance_for_test() as instance:
        defs = build_definitions(settings)
        sensor = build_glue_job_runs_sensor(settings, build_jobs(settings, ["IBOV"]), ["IBOV"])
        context = dg.build_sensor_context(
            instance=instance, resources={"glue_job_runs": GlueJobRunsResource()}
        )
        for _ in range(3):  # moto moves the run to SUCCEEDED as it is read
            glue.get_job_runs(JobName="b3-refine")
        tick = sensor(context)
        assert {(e.asset_key.to_user_string(), e.partition) for e in tick.asset_events} == {
            (f"IBOV/{name}", "2025-07-14") for name in PORTFOLIO_TABLES
        }
        assert {e.metadata["glue_job_run_id"].value for e in tick.asset_events} == {job_run["Id"]}
        (request,) = tick.run_requests
        assert request.asset_selection == [dg.AssetKey(["IBOV", "catalog"])]
        job = defs.resolve_job_def(request.job_name or "catalog_check")
        checked = job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=request.tags
        )
        assert checked.success
        (catalog,) = checked.get_asset_materialization_events()
        counts = catalog.materialization.metadata["partitions_by_table_and_date"].value
        assert "| carteira_ativos | 2025-07-14 | 84 |" in counts
        assert "| ibov_ativos | 2025-07-14 | 84 |" in counts
        assert {
            (e.asset_key.to_user_string(), e.check_name, e.passed)
            for e in checked.get_asset_check_evaluations()
            if not e.passed
        } == set()

    again = b3(stack, "run")  # same bytes: nothing uploaded, so S3 sends nothing
    assert "the object was unchanged, so S3 sent no event" in again
    assert drain_events(sqs, queue_url) == []


# infra/template.yaml's two notifications (tests/infra/test_template.py checks them)
FILTERS = [
    {"Key": {"FilterRules": [{"Name": "prefix", "Value": p}, {"Name": "suffix", "Value": s}]}}
    for p, s in (("raw/", ".parquet"), ("previa/raw/", "dados_originais.parquet"))
]


def notify_both(s3, sqs) -> str:
    queue_url = notify_queue(s3, sqs, BUCKET)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": rules,
                }
                for rules in FILTERS
            ]
        },
    )
    drain_events(sqs, queue_url)
    return queue_url


def test_lambda_mode_refines_a_served_preview_in_preview_mode(
    moto_server, tmp_path, fixtures_dir, monkeypatch, lambda_context
):
    preview = (fixtures_dir / "theorical_portfolio_IBOV_pt-br.json").read_bytes()
    with b3_stack(moto_server, tmp_path, fixtures_dir, preview) as stack:
        b3(stack, "deploy")
        s3, sqs, glue = (moto_client(stack, name) for name in ("s3", "sqs", "glue"))
        queue_url = notify_both(s3, sqs)
        b3(stack, "run")
    preview_key = "previa/raw/IBOV/2025-07-14/dados_originais.parquet"
    assert s3.head_object(Bucket=BUCKET, Key=preview_key)["ContentLength"] > 0
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="refined/")["KeyCount"] == 0

    for name, value in stack.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("B3_GLUE_JOB", "b3-refine")
    monkeypatch.setenv("B3_BUCKET", BUCKET)
    monkeypatch.setattr(handler, "_clients", {})
    events = drain_events(sqs, queue_url)
    assert len(events) == 2  # S3 sends one event per object: the daily one and the preview's
    started = [
        item
        for event in events
        for item in handler.lambda_handler(event, lambda_context)["started"]
    ]
    assert sorted((item["refine"], tuple(item["units"])) for item in started) == [
        ("daily", ("IBOV/2025-07-14",)),
        ("previews", ("IBOV/2025-07-14",)),
    ]
    runs = {
        run["Arguments"]["--refine"]: run
        for run in glue.get_job_runs(JobName="b3-refine")["JobRuns"]
    }

    # Glue runs both, the daily one first (the preview compares with its portfolio)
    script = tmp_path / "refine_job.py"
    script.write_bytes(s3.get_object(Bucket=BUCKET, Key="glue/refine_job.py")["Body"].read())
    for mode in ("daily", "previews"):
        args = [item for pair in runs[mode]["Arguments"].items() for item in pair]
        done = run_refine_job(script, stack, *args)
        assert done.returncode == 0, done.stderr[-3000:]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="refined/previa/indice=IBOV/data=2025-07-14/")
    assert listed["KeyCount"] == 1
    changes = s3.list_objects_v2(
        Bucket=BUCKET, Prefix="refined/previa_mudancas/indice=IBOV/data=2025-07-14/"
    )
    assert changes["KeyCount"] == 1
    for table in PREVIEW_TABLES:
        partitions = glue.get_partitions(DatabaseName="b3_refined", TableName=table)["Partitions"]
        assert [p["Values"] for p in partitions] == [["IBOV", "2025-07-14"]], table

    # Dagster records each run as its own tables
    settings = Settings(env="aws", bucket=BUCKET, data_dir=tmp_path / "data")
    with dg.instance_for_test() as instance:
        sensor = build_glue_job_runs_sensor(settings, build_jobs(settings, ["IBOV"]), ["IBOV"])
        context = dg.build_sensor_context(
            instance=instance, resources={"glue_job_runs": GlueJobRunsResource()}
        )
        for _ in range(3):  # moto moves the runs to SUCCEEDED as they are read
            glue.get_job_runs(JobName="b3-refine")
        tick = sensor(context)
    recorded = {}
    for event in tick.asset_events:
        key = (event.asset_key.to_user_string(), event.partition)
        recorded.setdefault(event.metadata["glue_job_run_id"].value, set()).add(key)
    assert recorded == {
        runs["previews"]["Id"]: {(f"IBOV/{name}", "2025-07-14") for name in PREVIEW_TABLES},
        runs["daily"]["Id"]: {(f"IBOV/{name}", "2025-07-14") for name in PORTFOLIO_TABLES},
    }
    (request,) = tick.run_requests  # the catalog check, for the daily run
    assert request.tags["b3/glue_job_run_id"] == runs["daily"]["Id"]
