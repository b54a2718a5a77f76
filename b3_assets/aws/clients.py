"""boto3 clients for the AWS path, and the one place AWS failures become clear messages.

Clients honour the standard AWS variables (credentials, AWS_PROFILE, AWS_ENDPOINT_URL), so the
same code talks to an account, to LocalStack or to a moto server on loopback. AWS_REGION is read
here because botocore itself only reads AWS_DEFAULT_REGION.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

CLIENT_CONFIG = Config(
    retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=60
)


class AwsError(RuntimeError):
    """An AWS call that failed, said in one line with what to do about it."""


def region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


def endpoint_url() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL") or None


def client(service: str) -> Any:
    """A boto3 client with bounded retries and timeouts, in AWS_REGION (default us-east-1)."""
    return boto3.session.Session().client(
        service, region_name=region() or "us-east-1", config=CLIENT_CONFIG
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def explain(exc: Exception, action: str, bucket: str | None = None) -> AwsError:
    """The message a user can act on, for a botocore failure while doing `action`."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AwsError(
            f"{action}: no AWS credentials found. Set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (see `aws configure`)"
        )
    if isinstance(exc, NoRegionError):
        return AwsError(f"{action}: no AWS region; set AWS_REGION")
    if isinstance(exc, EndpointConnectionError):
        return AwsError(
            f"{action}: cannot reach {exc.kwargs.get('endpoint_url')}; "
            "check AWS_ENDPOINT_URL and the network"
        )
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        missing_bucket = code == "NoSuchBucket" or (code == "404" and "bucket" in action)
        if bucket and missing_bucket:
            return AwsError(f"{action}: bucket {bucket!r} does not exist; run `b3 deploy` first")
        if code in ("AccessDenied", "AccessDeniedException", "403", "UnrecognizedClientException"):
            return AwsError(
                f"{action}: access denied ({code}: {message or 'forbidden'}); the IAM user "
                "needs the permissions listed in the README, section 'Deploying to AWS'"
            )
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
            return AwsError(f"{action}: the AWS credentials were refused ({code}: {message})")
        return AwsError(f"{action}: {code}: {message}".rstrip(": "))
    return AwsError(f"{action}: {exc}")


@contextmanager
def aws_errors(action: str, bucket: str | None = None) -> Iterator[None]:
    """Turns botocore failures inside the block into an AwsError that names `action`."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise explain(exc, action, bucket) from exc
