"""End to end: moto delivers the real S3 notifications to SQS (it cannot invoke a Lambda without
Docker) and the handler consumes exactly what S3 sent, as the Lambda would."""

from __future__ import annotations

from urllib.parse import unquote_plus

from conftest import RAW_FILTER, drain_events, notify_queue

from lambda_fn import handler

JOB = "b3-refine"
# infra/template.yaml's second notification (tests/infra/test_template.py checks they agree)
PREVIEW_FILTER = {
    "Key": {
        "FilterRules": [
            {"Name": "prefix", "Value": "previa/raw/"},
            {"Name": "suffix", "Value": "dados_originais.parquet"},
        ]
    }
}


def test_s3_notifications_start_one_run_per_event(
    aws, glue_job, glue_runs_stay_running, lambda_context
):
    """S3 sends one record per object: each index's new raw object gets its own run, a second
    upload of an object being refined starts nothing, and every other key is skipped."""
    s3, sqs = aws.client("s3"), aws.client("sqs")
    glue = glue_job
    s3.create_bucket(Bucket=aws.bucket)
    queue_url = notify_queue(s3, sqs, aws.bucket)
    for key in (
        "raw/IBOV/2025-07-14/dados_originais.parquet",
        "raw/IBXX/2025-07-14/dados_originais.parquet",
        "raw/IBOV/2025-07-14/dados_originais.parquet",  # uploaded again while it is refined
        "raw/IBOV/2025-07-14/dados originais (cópia)+1.parquet",  # S3 sends it URL-encoded
        "raw/IBOV/2025-02-30/dados_originais.parquet",
        "raw/2025-07-14/dados_originais.parquet",  # the earlier IBOV-only layout
        "raw/notes/readme.parquet",
        "refined/ativos/indice=IBOV/data=2025-07-14/acao=PETR4/part-0.parquet",
        "raw/IBOV/2025-07-15/dados_originais.txt",
    ):
        s3.put_object(Bucket=aws.bucket, Key=key, Body=b"PAR1")

    events = drain_events(sqs, queue_url)
    sent_keys = [record["s3"]["object"]["key"] for event in events for record in event["Records"]]
    assert len(sent_keys) == 7  # the filter kept raw/ + .parquet only
    assert any("dados+originais+%28c%C3%B3pia%29%2B1.parquet" in key for key in sent_keys)

    results = [handler.lambda_handler(event, lambda_context) for event in events]
    runs = glue.get_job_runs(JobName=JOB)["JobRuns"]
    assert sorted(run["Arguments"]["--units"] for run in runs) == [
        "IBOV/2025-07-14",
        "IBXX/2025-07-14",
    ]
    started_keys = [key for r in results for item in r["started"] for key in item["keys"]]
    running_keys = [key for r in results for item in r["already_running"] for key in item["keys"]]
    assert sorted(started_keys) == [
        "raw/IBOV/2025-07-14/dados_originais.parquet",
        "raw/IBXX/2025-07-14/dados_originais.parquet",
    ]
    assert running_keys == ["raw/IBOV/2025-07-14/dados_originais.parquet"]
    skipped = [skip["key"] for r in results for skip in r["skipped"]]
    assert sorted(skipped) == [
        "raw/2025-07-14/dados_originais.parquet",
        "raw/IBOV/2025-02-30/dados_originais.parquet",
        "raw/IBOV/2025-07-14/dados originais (cópia)+1.parquet",  # the refine never reads it
        "raw/notes/readme.parquet",
    ]


def test_preview_notifications_start_preview_runs_and_daily_ones_daily_runs(
    aws, glue_job, glue_runs_stay_running, lambda_context
):
    """Both of the template's notifications to one queue: a preview object reaches the handler
    by its own filter and starts a `--refine previews` run, a daily one a daily run; the
    preview's other files never reach it."""
    s3, sqs = aws.client("s3"), aws.client("sqs")
    s3.create_bucket(Bucket=aws.bucket)
    queue_url = notify_queue(s3, sqs, aws.bucket)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=aws.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": rules,
                }
                for rules in (RAW_FILTER, PREVIEW_FILTER)
            ]
        },
    )
    drain_events(sqs, queue_url)
    for key in (
        "previa/raw/IBOV/2025-08-29/dados_originais.parquet",
        "previa/raw/IBOV/2025-08-29/previa_IBOV.json",  # what the filter keeps out
        "previa/bronze/IBOV/2025-08-29/dados_originais.parquet",
        "raw/IBOV/2025-08-29/dados_originais.parquet",
    ):
        s3.put_object(Bucket=aws.bucket, Key=key, Body=b"PAR1")

    events = drain_events(sqs, queue_url)
    sent = sorted(
        unquote_plus(record["s3"]["object"]["key"]) for e in events for record in e["Records"]
    )
    assert sent == [
        "previa/raw/IBOV/2025-08-29/dados_originais.parquet",
        "raw/IBOV/2025-08-29/dados_originais.parquet",
    ]
    results = [handler.lambda_handler(event, lambda_context) for event in events]
    runs = glue_job.get_job_runs(JobName=JOB)["JobRuns"]
    assert sorted((run["Arguments"]["--refine"], run["Arguments"]["--units"]) for run in runs) == [
        ("daily", "IBOV/2025-08-29"),
        ("previews", "IBOV/2025-08-29"),
    ]
    started = sorted((item["refine"], item["keys"][0]) for r in results for item in r["started"])
    assert started == [
        ("daily", "raw/IBOV/2025-08-29/dados_originais.parquet"),
        ("previews", "previa/raw/IBOV/2025-08-29/dados_originais.parquet"),
    ]
