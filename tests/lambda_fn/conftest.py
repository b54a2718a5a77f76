"""Fixtures of the Lambda tests: a context like the runtime's, and a Glue job on moto."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests

from lambda_fn import handler

JOB = "b3-refine"


@dataclass
class LambdaContext:
    function_name: str = "b3-lake-trigger"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:b3-lake-trigger"
    aws_request_id: str = "5b0ec3ab-0f6d-4a8b-9d4c-1c2f1d1e0a11"


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def glue_job(aws, monkeypatch):
    glue = aws.client("glue")
    glue.create_job(
        Name=JOB,
        Role="arn:aws:iam::123456789012:role/b3-lake-glue",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{aws.bucket}/glue/refine_job.py"},
        ExecutionProperty={"MaxConcurrentRuns": 3},
        DefaultArguments={"--bucket": aws.bucket, "--database": "b3_refined"},
    )
    monkeypatch.setenv("B3_GLUE_JOB", JOB)
    monkeypatch.setattr(handler, "_clients", {})
    return glue


@pytest.fixture
def glue_runs_stay_running(aws):
    """moto keeps job runs RUNNING until told otherwise (its state manager)."""
    url = f"{aws.endpoint}/moto-api/state-manager"
    requests.post(
        f"{url}/set-transition",
        json={
            "model_name": "glue::job_run",
            "transition": {"progression": "manual", "times": 1000},
        },
        timeout=10,
    ).raise_for_status()
    yield
    requests.post(
        f"{url}/unset-transition", json={"model_name": "glue::job_run"}, timeout=10
    ).raise_for_status()
