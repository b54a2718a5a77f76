"""`b3 import` on AWS with B3_TRIGGER=lambda does what `b3 run` does there: capture and upload.

Before, it ran the whole chain: the upload fired the Lambda and Dagster also launched a Glue
refine of the same dates (two writers of one partition, or "already refining").
"""

from __future__ import annotations

from conftest import drain_events, notify_queue

from b3_assets import cli
from lambda_fn import handler


def test_import_with_the_lambda_trigger_uploads_and_leaves_the_refine_to_it(
    aws, glue_job, csv_files, fixtures_dir, data_dir, monkeypatch, capsys
):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for name, value in {
        "B3_ENV": "aws",
        "B3_TRIGGER": "lambda",
        "B3_DATA_DIR": str(data_dir),
    }.items():
        monkeypatch.setenv(name, value)
    s3, sqs = aws.client("s3"), aws.client("sqs")
    s3.create_bucket(Bucket=aws.bucket)
    queue_url = notify_queue(s3, sqs, aws.bucket)

    ibxx = fixtures_dir / "IBXXDia_20-06-25.csv"
    assert cli.main(["import", *map(str, csv_files[:2]), str(ibxx)]) == 0

    out = capsys.readouterr().out
    assert "imported IBOV 2025-03-05..2025-03-06: 2 raw object(s) uploaded" in out
    assert "imported IBXX 2025-06-20: 1 raw object(s) uploaded" in out
    assert "the Lambda refines" in out
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=aws.bucket)["Contents"])
    assert keys == [
        "raw/IBOV/2025-03-05/dados_originais.parquet",
        "raw/IBOV/2025-03-06/dados_originais.parquet",
        "raw/IBXX/2025-06-20/dados_originais.parquet",
    ]  # nothing under refined/: Dagster refined nothing
    assert glue_job.get_job_runs(JobName="b3-refine")["JobRuns"] == []
    events = drain_events(sqs, queue_url)
    plans = [handler.plan_runs(event, aws.bucket) for event in events]
    assert sorted(str(unit) for plan in plans for run in plan.runs for unit in run.units) == [
        "IBOV/2025-03-05",
        "IBOV/2025-03-06",
        "IBXX/2025-06-20",
    ]  # what the Lambda is handed: a refine of every imported unit
