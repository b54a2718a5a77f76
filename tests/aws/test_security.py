"""Security: no credentials in code, run events, logs or metadata; every object we write to S3
is server-side encrypted. (The template's IAM is reviewed in tests/infra/test_template.py.)"""

import json
import re
import subprocess
import warnings
from pathlib import Path

import dagster as dg
import pytest

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.deploy import Target, deploy
from b3_assets.defs.assets import CAPTURE_STAGES, build_assets, stage_keys
from b3_assets.defs.checks import build_checks
from b3_assets.defs.resources import resources_for
from b3_assets.settings import Settings

warnings.filterwarnings("ignore", category=dg.BetaWarning)
ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIAB3LAKETESTKEY123"
SECRET_KEY = "b3lake/Secret+Key/NeverLogged0123456789ab"
SESSION_TOKEN = "b3lakeSessionTokenNeverLogged"
INDICES = ["IBOV"]
ALL_DEFINITIONS = [*build_assets(INDICES), *build_checks(INDICES)]
CAPTURE_KEYS = stage_keys(INDICES, *CAPTURE_STAGES)

CREDENTIAL_PATTERNS = [
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}"),
    re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----"),
]


def test_no_credentials_in_the_code() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(files) > 50
    leaks = [
        f"{name}: {match.group(0)[:12]}..."
        for name in files
        if (ROOT / name).is_file() and name != "tests/aws/test_security.py"
        for pattern in CREDENTIAL_PATTERNS
        if (match := pattern.search((ROOT / name).read_text(errors="ignore")))
    ]
    assert leaks == []


@pytest.fixture
def secret_aws(aws, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    return aws


def assert_no_secret(text: str) -> None:
    for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        assert secret not in text


def test_no_credentials_in_run_events_metadata_or_resource_config(
    secret_aws, data_dir, b3_server, capsys
) -> None:
    settings = Settings(
        env="aws", data_dir=data_dir, api_url=b3_server.api_url, bucket=secret_aws.bucket
    )
    secret_aws.client("s3").create_bucket(Bucket=secret_aws.bucket)
    resources = resources_for(settings)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        ALL_DEFINITIONS,
        selection=CAPTURE_KEYS,
        resources=resources,
        partition_key="2025-07-14",
        instance=instance,
    )
    assert result.success
    records = instance.get_records_for_run(result.run_id).records
    assert len(records) > 20
    texts = [repr(record.event_log_entry) for record in records]
    texts += [repr(resource) for resource in resources.values()]
    out, err = capsys.readouterr()
    assert_no_secret("\n".join([*texts, out, err]))
    # and a failing call: the error names the problem, not the keys
    failed = dg.materialize(
        ALL_DEFINITIONS,
        selection=CAPTURE_KEYS,
        resources=resources_for(settings.model_copy(update={"bucket": "no-such-bucket"})),
        partition_key="2025-07-14",
        raise_on_error=False,
    )
    assert not failed.success
    assert_no_secret("\n".join(repr(e) for e in failed.all_events))


def test_lambda_logs_carry_no_credentials(secret_aws, capsys, lambda_context, monkeypatch) -> None:
    from lambda_fn import handler

    event = json.loads((ROOT / "tests/lambda_fn/events/s3_put_two_dates.json").read_text())
    for record in event["Records"]:
        record["s3"]["bucket"]["name"] = secret_aws.bucket
    monkeypatch.setenv("B3_BUCKET", secret_aws.bucket)
    handler._clients.clear()
    with pytest.raises(handler.StartFailed):
        handler.lambda_handler(event, lambda_context)  # no Glue job on moto: it fails, logged
    out, err = capsys.readouterr()
    assert "StartJobRun" in out or "EntityNotFound" in out, out
    assert_no_secret(out + err)


def test_every_object_written_to_s3_is_encrypted(secret_aws, data_dir, b3_server) -> None:
    clients = {name: aws_mod.client(name) for name in ("s3", "glue", "iam", "sts")}
    target = Target(secret_aws.bucket, "b3_refined", "b3-refine", "b3-lake-glue", "us-east-1")
    list(deploy(clients, target))
    s3 = clients["s3"]
    rule = s3.get_bucket_encryption(Bucket=secret_aws.bucket)["ServerSideEncryptionConfiguration"]
    assert rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    settings = Settings(
        env="aws", data_dir=data_dir, api_url=b3_server.api_url, bucket=secret_aws.bucket
    )
    result = dg.materialize(
        ALL_DEFINITIONS,
        selection=CAPTURE_KEYS,
        resources=resources_for(settings),
        partition_key="2025-07-14",
    )
    assert result.success
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=secret_aws.bucket)["Contents"]]
    assert "raw/IBOV/2025-07-14/dados_originais.parquet" in keys and len(keys) >= 5
    for key in keys:
        head = s3.head_object(Bucket=secret_aws.bucket, Key=key)
        assert head.get("ServerSideEncryption") == "AES256", key
