"""The local Glue runner's own failure: a job that was never deployed."""

import pytest

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.clients import AwsError
from b3_assets.testing.glue_local import LocalGlueJobRuns


def test_a_job_that_is_not_deployed_says_to_deploy(aws) -> None:
    runs = LocalGlueJobRuns(aws_mod.client("glue"), aws_mod.client("s3"))
    with pytest.raises(AwsError, match="Glue job 'b3-refine' does not exist; run `b3 deploy`"):
        runs.start_job_run(JobName="b3-refine", Arguments={"--dates": "2025-07-14"})
    assert runs.runs == {}


def test_a_script_outside_s3_is_refused(aws) -> None:
    glue = aws_mod.client("glue")
    glue.create_job(
        Name="b3-refine",
        Role="arn:aws:iam::123456789012:role/x",
        Command={"Name": "glueetl", "ScriptLocation": "file:///etc/passwd"},
    )
    runs = LocalGlueJobRuns(glue, aws_mod.client("s3"))
    with pytest.raises(AwsError, match="is not on S3"):
        runs.start_job_run(JobName="b3-refine")
