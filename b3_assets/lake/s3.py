"""The lake on S3: s3://$B3_BUCKET/ laid out exactly like the local lake folder.

Objects are written with a SHA-256 checksum that S3 verifies on receipt, server-side encryption,
and the hex digest in the object's metadata, so a re-upload of identical bytes is skipped.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from b3_assets.aws.clients import aws_errors, error_code
from b3_assets.capture.files import sha256_file
from b3_assets.lake.local import LakeObject, StoredObject

SHA256_METADATA = "sha256"


class S3Lake:
    def __init__(self, client: Any, bucket: str):
        self.client = client
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def head(self, key: str) -> dict[str, Any] | None:
        with aws_errors(f"reading {self.uri(key)}", self.bucket):
            try:
                return self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                    self.check_bucket()
                    return None
                raise

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def read_bytes(self, key: str) -> bytes:
        with aws_errors(f"reading {self.uri(key)}", self.bucket):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def check_bucket(self) -> None:
        with aws_errors(f"checking bucket {self.bucket}", self.bucket):
            self.client.head_bucket(Bucket=self.bucket)

    def put_bytes(self, key: str, data: bytes, content_type: str) -> LakeObject:
        return self._put(key, data, hashlib.sha256(data).hexdigest(), content_type)

    def put_file(self, key: str, source: Path) -> LakeObject:
        return self._put(key, source, sha256_file(source), "application/vnd.apache.parquet")

    def _put(self, key: str, body: bytes | Path, sha256: str, content_type: str) -> LakeObject:
        size = len(body) if isinstance(body, bytes) else body.stat().st_size
        current = self.head(key)
        if current is not None and current.get("Metadata", {}).get(SHA256_METADATA) == sha256:
            return LakeObject(key, self.uri(key), size, current["ETag"].strip('"'), False)
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
        with aws_errors(f"uploading {self.uri(key)}", self.bucket):
            data = body if isinstance(body, bytes) else body.read_bytes()
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ChecksumSHA256=checksum,
                Metadata={SHA256_METADATA: sha256},
                ServerSideEncryption="AES256",
                ContentType=content_type,
            )
        return LakeObject(key, self.uri(key), size, response["ETag"].strip('"'), True)

    def keys(self, prefix: str) -> list[str]:
        return [item.key for item in self.list_objects(prefix)]

    def list_objects(self, prefix: str) -> list[StoredObject]:
        found: list[StoredObject] = []
        with aws_errors(f"listing {self.uri(prefix)}", self.bucket):
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                found.extend(
                    StoredObject(item["Key"], item["LastModified"], item["ETag"].strip('"'))
                    for item in page.get("Contents", [])
                )
        return found
