"""The S3 lake against moto: checksummed, encrypted uploads that skip identical bytes."""

from pathlib import Path

import pytest

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.clients import AwsError
from b3_assets.lake.s3 import S3Lake
from b3_contract.lake_keys import Unit, raw_object_key


@pytest.fixture
def lake(aws) -> S3Lake:
    client = aws_mod.client("s3")
    client.create_bucket(Bucket=aws.bucket)
    return S3Lake(client, aws.bucket)


def test_upload_then_identical_reupload_is_a_no_op(lake, tmp_path: Path) -> None:
    source = tmp_path / "dados_originais.parquet"
    source.write_bytes(b"PAR1 first version PAR1")
    first = lake.put_file("raw/IBOV/2025-07-14/dados_originais.parquet", source)
    assert first.changed and first.size == source.stat().st_size
    assert first.uri == "s3://b3-lake-test/raw/IBOV/2025-07-14/dados_originais.parquet"
    again = lake.put_file("raw/IBOV/2025-07-14/dados_originais.parquet", source)
    assert not again.changed and again.etag == first.etag
    head = lake.client.head_object(Bucket=lake.bucket, Key=first.key, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"]["sha256"] == lake_sha(source)
    source.write_bytes(b"PAR1 second version PAR1")
    changed = lake.put_file("raw/IBOV/2025-07-14/dados_originais.parquet", source)
    assert changed.changed and changed.etag != first.etag


def lake_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_exists(lake, tmp_path: Path) -> None:
    assert not lake.exists("raw/IBOV/2025-07-14/dados_originais.parquet")
    lake.put_bytes("raw/IBOV/2025-07-14/dados_originais.parquet", b"x", "application/octet-stream")
    assert lake.exists("raw/IBOV/2025-07-14/dados_originais.parquet")
    assert lake.keys("raw/") == ["raw/IBOV/2025-07-14/dados_originais.parquet"]


def test_two_indices_of_one_date_are_two_objects(lake) -> None:
    units = [Unit.parse("IBOV/2025-07-14"), Unit.parse("IBXX/2025-07-14")]
    for unit in units:
        lake.put_bytes(raw_object_key(unit), str(unit).encode(), "application/octet-stream")
    assert lake.keys("raw/") == [
        "raw/IBOV/2025-07-14/dados_originais.parquet",
        "raw/IBXX/2025-07-14/dados_originais.parquet",
    ]
    assert lake.keys("raw/IBXX/") == ["raw/IBXX/2025-07-14/dados_originais.parquet"]
    body = lake.client.get_object(Bucket=lake.bucket, Key=raw_object_key(units[1]))["Body"]
    assert body.read() == b"IBXX/2025-07-14"


def test_missing_bucket_says_to_deploy(aws) -> None:
    lake = S3Lake(aws_mod.client("s3"), "no-such-bucket")
    with pytest.raises(AwsError, match="bucket 'no-such-bucket' does not exist; run `b3 deploy`"):
        lake.exists("raw/IBOV/2025-07-14/dados_originais.parquet")
    with pytest.raises(AwsError, match="does not exist; run `b3 deploy`"):
        lake.put_bytes("raw/x.parquet", b"x", "application/octet-stream")


def test_missing_credentials_are_named(aws, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    lake = S3Lake(aws_mod.client("s3"), aws.bucket)
    with pytest.raises(AwsError, match="no AWS credentials found"):
        lake.exists("raw/x.parquet")
