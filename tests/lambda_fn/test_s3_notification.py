"""End to end: moto delivers the real S3 notifications to SQS (it cannot invoke a Lambda without
Docker) and the handler consumes exactly what S3 sent, as the Lambda would."""

from __future__ import annotations

import json

from lambda_fn import handler

# The notification filter of infra/template.yaml: only raw/ and .parquet reach the Lambda.
RAW_FILTER = {
    "Key": {
        "FilterRules": [
            {"Name": "prefix", "Value": "raw/"},
            {"Name": "suffix", "Value": ".parquet"},
        ]
    }
}


JOB = "b3-refine"


def test_s3_notifications_start_one_run_per_date(
    aws, glue_job, glue_runs_stay_running, lambda_context
):
    s3, sqs = aws.client("s3"), aws.client("sqs")
    glue = glue_job
    s3.create_bucket(Bucket=aws.bucket)
    queue_url = sqs.create_queue(QueueName="b3-lake-raw-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=aws.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"], "Filter": RAW_FILTER}
            ]
        },
    )
    sqs.purge_queue(QueueUrl=queue_url)  # moto's s3:TestEvent
    for key in (
        "raw/2025-07-14/dados_originais.parquet",
        "raw/2025-07-14/dados originais (cópia)+1.parquet",  # S3 sends it URL-encoded
        "raw/2025-02-30/dados_originais.parquet",
        "raw/notes/readme.parquet",
        "refined/ativos/data=2025-07-14/acao=PETR4/part-0.parquet",
        "raw/2025-07-15/dados_originais.txt",
    ):
        s3.put_object(Bucket=aws.bucket, Key=key, Body=b"PAR1")

    events = []
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages"):
        for message in messages:
            body = json.loads(message["Body"])
            if "Records" in body:
                events.append(body)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    sent_keys = [record["s3"]["object"]["key"] for event in events for record in event["Records"]]
    assert len(sent_keys) == 4  # the filter kept raw/ + .parquet only
    assert any("dados+originais+%28c%C3%B3pia%29%2B1.parquet" in key for key in sent_keys)

    results = [handler.lambda_handler(event, lambda_context) for event in events]
    runs = glue.get_job_runs(JobName=JOB)["JobRuns"]
    assert [run["Arguments"]["--dates"] for run in runs] == ["2025-07-14"]
    started_keys = [key for r in results for item in r["started"] for key in item["keys"]]
    running_keys = [key for r in results for item in r["already_running"] for key in item["keys"]]
    assert sorted(started_keys + running_keys) == [
        "raw/2025-07-14/dados originais (cópia)+1.parquet",
        "raw/2025-07-14/dados_originais.parquet",
    ]
    skipped = [skip["key"] for r in results for skip in r["skipped"]]
    assert skipped == ["raw/2025-02-30/dados_originais.parquet", "raw/notes/readme.parquet"]
