"""The local Glue runner's own failure: a job that was never deployed."""

import pytest

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.clients import AwsError
from b3_assets.testing.glue_local import LocalGlueJobRuns


def test_a_job_that_is_not_deployed_says_to_deploy(aws) -> None:
    runs = LocalGlueJobRuns(aws_mod.client("glue"), aws_mod.client("s3"))
    with pytest.raises(AwsError, match="Glue job 'b3-refine' does not exist; run `b3 deploy`"):
        runs.start_job_run(JobName="b3-refine", Arguments={"--units": "IBOV/2025-07-14"})
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


def test_the_job_imports_b3_contract_from_its_extra_py_files(aws, tmp_path) -> None:
    """As on Glue: the deployed b3_contract.zip comes first on the job's path, so the job runs
    the contract that was deployed with it, not whatever is installed here."""
    import time

    from b3_assets.aws.deploy import CONTRACT_ZIP, Target, deploy

    target = Target(aws.bucket, "b3_refined", "b3-refine", "b3-lake-glue", "us-east-1")
    clients = {name: aws_mod.client(name) for name in ("s3", "glue", "iam", "sts")}
    deploy(clients, target)  # uploads the zip and sets --extra-py-files on the job
    probe = b"import b3_contract.tables as t\nprint('CONTRACT', t.__file__, len(t.TABLES))\n"
    clients["s3"].put_object(Bucket=aws.bucket, Key="glue/refine_job.py", Body=probe)
    runs = LocalGlueJobRuns(clients["glue"], clients["s3"], keep_logs=tmp_path)
    run_id = runs.start_job_run(JobName="b3-refine", Arguments={"--units": "IBOV/2025-07-14"})[
        "JobRunId"
    ]
    deadline = time.monotonic() + 60
    while (state := runs.get_job_run("b3-refine", run_id)["JobRun"]["JobRunState"]) == "RUNNING":
        assert time.monotonic() < deadline
    assert state == "SUCCEEDED"
    [line] = [x for x in (tmp_path / f"{run_id}.log").read_text().splitlines() if "CONTRACT" in x]
    assert f"{CONTRACT_ZIP.rsplit('/', 1)[1]}/b3_contract/tables.py 3" in line
