"""`b3 deploy`'s steps against moto: everything created once, nothing changed the second time."""

import io
import json
import zipfile

import pytest
import refine_job
from botocore.stub import Stubber

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.deploy import (
    CONTRACT_ZIP,
    Target,
    contract_sources,
    deploy,
    deploy_code,
    ensure_job,
    ensure_tables,
    glue_files,
    job_definition,
)
from b3_contract.glue_tables import all_table_inputs
from b3_contract.tables import ALL_TABLE_NAMES, CATALOG_TABLES, INDEX_TABLES, TABLES


def clients() -> dict:
    return {name: aws_mod.client(name) for name in ("s3", "glue", "iam", "sts")}


@pytest.fixture
def target(aws) -> Target:
    return Target(aws.bucket, "b3_refined", "b3-refine", "b3-lake-glue", "us-east-1")


def test_deploy_twice(target) -> None:
    first = {step.what: step.state for step in deploy(clients(), target)}
    assert first["bucket s3://b3-lake-test"] == "created"
    assert first["glue job b3-refine"] == "created"
    assert first["glue database b3_refined"] == "created"
    assert first["s3://b3-lake-test/glue/refine_job.py"] == "uploaded"
    tables = {what: state for what, state in first.items() if what.startswith("glue table ")}
    assert tables == {f"glue table b3_refined.{name}": "created" for name in ALL_TABLE_NAMES}
    second = deploy(clients(), target)
    assert {step.state for step in second} == {"unchanged"}, second

    glue, s3 = aws_mod.client("glue"), aws_mod.client("s3")
    job = glue.get_job(JobName="b3-refine")["Job"]
    assert job["GlueVersion"] == "5.0"
    assert (job["WorkerType"], job["NumberOfWorkers"]) == ("G.1X", 2)
    assert job["ExecutionProperty"]["MaxConcurrentRuns"] == 3
    assert job["Command"]["Name"] == "glueetl"
    assert job["Command"]["ScriptLocation"] == "s3://b3-lake-test/glue/refine_job.py"
    assert job["DefaultArguments"]["--database"] == "b3_refined"
    modules = job["DefaultArguments"]["--additional-python-modules"].split(",")
    assert [module.split("==")[0] for module in modules] == ["dagster-pipes"]  # nothing else
    assert not [v for v in job["DefaultArguments"].values() if "exchange_calendars" in v]
    assert job["Role"].endswith(":role/b3-lake-glue")
    assert glue.get_database(Name="b3_refined")["Database"]["LocationUri"] == (
        "s3://b3-lake-test/refined/"
    )
    block = s3.get_public_access_block(Bucket=target.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    deployed = {
        key: s3.get_object(Bucket=target.bucket, Key=key)["Body"].read() for key in glue_files()
    }
    assert deployed == {key: data for key, (data, _) in glue_files().items()}
    for sql in ("historico.sql", "mudancas.sql", "concentracao.sql"):  # the analytics' SQL too
        assert f"glue/sql/{sql}" in deployed
    with zipfile.ZipFile(io.BytesIO(deployed[CONTRACT_ZIP])) as archive:  # --extra-py-files
        shipped = {name: archive.read(name) for name in archive.namelist()}
    assert shipped == contract_sources() and "b3_contract/tables.py" in shipped
    job = aws_mod.client("glue").get_job(JobName=target.job_name)["Job"]
    assert job["DefaultArguments"]["--extra-py-files"] == f"s3://{target.bucket}/{CONTRACT_ZIP}"


def catalog_tables(glue) -> dict[str, dict]:
    return {t["Name"]: t for t in glue.get_tables(DatabaseName="b3_refined")["TableList"]}


def test_deploy_creates_the_six_tables_the_glue_job_keeps(target) -> None:
    """Before any run: the catalog holds every table as b3_contract defines it, and the Glue
    job's own upsert (the same definition) finds nothing to change."""
    deploy(clients(), target)
    glue = aws_mod.client("glue")
    found = catalog_tables(glue)
    assert set(found) == set(ALL_TABLE_NAMES)
    for wanted in all_table_inputs(target.bucket):
        table = found[wanted["Name"]]
        assert table["PartitionKeys"] == wanted["PartitionKeys"]
        assert table["StorageDescriptor"]["Columns"] == wanted["StorageDescriptor"]["Columns"]
        assert table["StorageDescriptor"]["Location"] == wanted["StorageDescriptor"]["Location"]
        assert table["TableType"] == "EXTERNAL_TABLE"
    assert found["ibov_header"]["StorageDescriptor"]["Location"] == (
        "s3://b3-lake-test/refined/header/indice=IBOV/"
    )
    for spec in [*TABLES.values(), *INDEX_TABLES.values()]:
        location = f"s3://{target.bucket}/{spec.prefix}/"
        assert refine_job.upsert_table(glue, "b3_refined", spec, location) == "unchanged"


def test_a_table_of_the_earlier_layout_is_updated_and_the_rest_left_alone(target) -> None:
    """ibov_ativos as the IBOV-only layout had it (at refined/ativos/, partitioned by data and
    acao, without `indice`) becomes the IBOV table over refined/ativos/indice=IBOV/."""
    deploy(clients(), target)
    glue = aws_mod.client("glue")
    [wanted] = [t for t in all_table_inputs(target.bucket) if t["Name"] == "ibov_ativos"]
    earlier = json.loads(json.dumps(wanted))
    earlier["StorageDescriptor"]["Location"] = f"s3://{target.bucket}/refined/ativos/"
    earlier["StorageDescriptor"]["Columns"] = earlier["StorageDescriptor"]["Columns"][1:]
    glue.update_table(DatabaseName="b3_refined", TableInput=earlier)
    states = {step.what: step.state for step in ensure_tables(glue, target)}
    assert states.pop("glue table b3_refined.ibov_ativos") == "updated"
    assert set(states.values()) == {"unchanged"} and len(states) == len(ALL_TABLE_NAMES) - 1
    table = catalog_tables(glue)["ibov_ativos"]
    assert table["StorageDescriptor"]["Location"] == wanted["StorageDescriptor"]["Location"]
    first = table["StorageDescriptor"]["Columns"][0]
    assert (first["Name"], first["Type"]) == ("indice", "string")
    assert first["Comment"] == INDEX_TABLES["ibov_ativos"].descriptions["indice"]
    assert {step.state for step in ensure_tables(glue, target)} == {"unchanged"}


def test_deploy_writes_the_contracts_descriptions_as_glue_column_comments(target) -> None:
    """What Athena's console shows beside each column: read back from the catalog `b3 deploy`
    wrote, every column and partition key of every table carries the contract's words."""
    deploy(clients(), target)
    glue = aws_mod.client("glue")
    for spec in [*CATALOG_TABLES.values(), *INDEX_TABLES.values()]:
        table = glue.get_table(DatabaseName="b3_refined", Name=spec.name)["Table"]
        entries = table["PartitionKeys"] + table["StorageDescriptor"]["Columns"]
        found = [(e["Name"], e["Type"], e.get("Comment")) for e in entries]
        assert sorted(found) == sorted(spec.described_columns), spec.name
    ativos = glue.get_table(DatabaseName="b3_refined", Name="carteira_ativos")["Table"]
    comments = {c["Name"]: c["Comment"] for c in ativos["StorageDescriptor"]["Columns"]}
    assert comments["participacao_pct"].startswith("the weight in the index")


def test_a_table_deployed_without_comments_gets_them(target) -> None:
    """A catalog deployed before the descriptions existed: `b3 deploy` adds the comments, and
    so does the Glue job's upsert."""
    deploy(clients(), target)
    glue = aws_mod.client("glue")
    [wanted] = [t for t in all_table_inputs(target.bucket) if t["Name"] == "carteira_header"]
    bare = json.loads(json.dumps(wanted))
    for entry in bare["PartitionKeys"] + bare["StorageDescriptor"]["Columns"]:
        del entry["Comment"]
    glue.update_table(DatabaseName="b3_refined", TableInput=bare)
    states = {step.what: step.state for step in ensure_tables(glue, target)}
    assert states["glue table b3_refined.carteira_header"] == "updated"
    table = glue.get_table(DatabaseName="b3_refined", Name="carteira_header")["Table"]
    assert table["StorageDescriptor"]["Columns"] == wanted["StorageDescriptor"]["Columns"]
    assert table["PartitionKeys"] == wanted["PartitionKeys"]
    header = TABLES["carteira_header"]
    location = f"s3://{target.bucket}/{header.prefix}/"
    assert refine_job.upsert_table(glue, "b3_refined", header, location) == "unchanged"
    # and the Glue job's own upsert adds them as well, when it meets such a table first
    glue.update_table(DatabaseName="b3_refined", TableInput=bare)
    assert refine_job.upsert_table(glue, "b3_refined", header, location) == "updated"
    table = glue.get_table(DatabaseName="b3_refined", Name="carteira_header")["Table"]
    assert table["StorageDescriptor"]["Columns"] == wanted["StorageDescriptor"]["Columns"]


def test_a_parameter_glue_adds_to_a_table_is_no_change(target) -> None:
    deploy(clients(), target)
    glue = aws_mod.client("glue")
    [wanted] = [t for t in all_table_inputs(target.bucket) if t["Name"] == "carteira_header"]
    extra = {**wanted, "Parameters": {**wanted["Parameters"], "transient_lastDdlTime": "1"}}
    glue.update_table(DatabaseName="b3_refined", TableInput=extra)
    assert {step.state for step in ensure_tables(glue, target)} == {"unchanged"}


def test_role_policy_is_scoped_to_this_bucket_and_database(target) -> None:
    deploy(clients(), target)
    iam = aws_mod.client("iam")
    policy = iam.get_role_policy(RoleName="b3-lake-glue", PolicyName="b3-lake-refine")
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    for statement in document["Statement"]:
        assert "*" not in statement["Action"]
        assert all(
            ":::b3-lake-test" in r
            or "b3_refined" in r
            or r.endswith(":catalog")
            or "log-group:/aws-glue/" in r
            for r in statement["Resource"]
        )


def test_a_changed_job_setting_is_updated(target) -> None:
    # moto has no UpdateJob, so the update call is checked on a stubbed client.
    glue = aws_mod.client("glue")
    role = "arn:aws:iam::123456789012:role/b3-lake-glue"
    wanted = job_definition(target, role)
    current = {**wanted, "Name": "b3-refine", "DefaultArguments": {"--database": "old_db"}}
    with Stubber(glue) as stub:
        stub.add_response("get_job", {"Job": current}, {"JobName": "b3-refine"})
        stub.add_response(
            "update_job", {"JobName": "b3-refine"}, {"JobName": "b3-refine", "JobUpdate": wanted}
        )
        assert ensure_job(glue, target, role).state == "updated"
        stub.add_response("get_job", {"Job": {**wanted, "Name": "b3-refine"}})
        assert ensure_job(glue, target, role).state == "unchanged"


def test_an_existing_role_arn_is_used_as_given(target, aws) -> None:
    arn = "arn:aws:iam::123456789012:role/platform-glue"
    given = Target(target.bucket, target.database, target.job_name, arn, target.region)
    states = {step.what: step.state for step in deploy(clients(), given)}
    assert states[f"iam role {arn}"] == "given"
    assert aws_mod.client("glue").get_job(JobName="b3-refine")["Job"]["Role"] == arn


def test_code_only_uploads_the_code_and_leaves_a_stack_owned_job_alone(target, aws) -> None:
    with pytest.raises(aws_mod.AwsError, match="does not exist"):
        deploy_code(clients(), target)
    s3, glue = aws.client("s3"), aws.client("glue")
    s3.create_bucket(Bucket=target.bucket)
    with pytest.raises(aws_mod.AwsError, match=r"deploy infra/template\.yaml"):
        deploy_code(clients(), target)
    # the job as the CloudFormation stack would have made it, with a setting of its own
    stack_job = {**job_definition(target, "arn:aws:iam::123456789012:role/stack-role")}
    stack_job["WorkerType"] = "G.2X"
    glue.create_job(Name=target.job_name, **stack_job)
    steps = deploy_code(clients(), target)
    assert [s.state for s in steps] == ["uploaded"] * len(glue_files()) + ["checked"]
    assert {s.state for s in deploy_code(clients(), target)} == {"unchanged", "checked"}
    job = glue.get_job(JobName=target.job_name)["Job"]
    assert (job["WorkerType"], job["Role"]) == ("G.2X", "arn:aws:iam::123456789012:role/stack-role")
    assert aws.client("iam").list_roles()["Roles"] == []


def test_code_only_refuses_a_job_that_runs_another_buckets_script(target, aws) -> None:
    aws.client("s3").create_bucket(Bucket=target.bucket)
    other = Target("other-bucket", "b3_refined", "b3-refine", "r", "us-east-1")
    aws.client("glue").create_job(
        Name="b3-refine", **job_definition(other, "arn:aws:iam::1:role/r")
    )
    with pytest.raises(aws_mod.AwsError, match="is B3_BUCKET the stack's bucket"):
        deploy_code(clients(), target)
