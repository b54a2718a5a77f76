"""infra/template.yaml: valid for cfn-lint, least privilege, and the same Glue job, role and
tables as `b3 deploy` creates (so the two ways to deploy cannot drift apart)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode
from conftest import RAW_FILTER

from b3_assets.aws import deploy
from b3_contract.glue_job import JOB_MODULES
from b3_contract.glue_tables import all_table_inputs
from b3_contract.lake_keys import (
    RAW_FILE,
    Unit,
    preview_key_unit,
    preview_object_key,
    raw_key_unit,
    raw_object_key,
)
from b3_contract.tables import ALL_TABLE_NAMES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
ACCOUNT, REGION = "123456789012", "sa-east-1"
PARAMS = {"BucketName": "my-b3-lake"}
LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/b3-lake-trigger:*"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, errors = decode(str(TEMPLATE))
    assert not errors, errors
    return parsed


def resolve(value: Any, template: dict[str, Any]) -> Any:
    """The template's values with Ref and Sub of parameters and pseudo parameters resolved."""
    known = {
        **{name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()},
        **PARAMS,
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "TriggerLogGroup.Arn": LOG_GROUP,
    }
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in known:
            return known[value["Ref"]]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}]+)\}", lambda m: known.get(m[1], m[0]), value["Fn::Sub"])
        return {key: resolve(item, template) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, template) for item in value]
    return value


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def policy_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of every identity policy (inline or managed) in the template."""
    statements = []
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            documents.append(props["PolicyDocument"])
        for document in documents:
            statements += [{**s, "_owner": name} for s in document["Statement"]]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_cfn_lint_finds_nothing_in_two_regions():
    matches = lint_file(TEMPLATE, config=ManualArgs(regions=["us-east-1", "sa-east-1"]))
    assert [str(match) for match in matches] == []


def test_no_full_access_managed_policy_and_no_wildcard_grants(template):
    text = TEMPLATE.read_text()
    assert "FullAccess" not in text and "ManagedPolicyArns" not in text
    for statement in policy_statements(template):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), (statement["_owner"], action)
        for arn in as_list(resolve(statement["Resource"], template)):
            scoped = arn.startswith("arn:aws:s3:::my-b3-lake") or f":{REGION}:{ACCOUNT}:" in arn
            assert scoped and "*" not in arn.rsplit("/", 1)[0], (statement["_owner"], arn)


def test_bucket_is_private_encrypted_tls_only_and_notifies_the_lambda(template):
    bucket = template["Resources"]["LakeBucket"]
    props = bucket["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert set(props["PublicAccessBlockConfiguration"]) == {
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    }
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert bucket["DeletionPolicy"] == "Retain"
    (tls,) = template["Resources"]["LakeBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    daily, previews = props["NotificationConfiguration"]["LambdaConfigurations"]
    for notification in (daily, previews):  # both to the one Lambda
        assert notification["Event"] == "s3:ObjectCreated:*"
        assert notification["Function"] == {"Fn::GetAtt": ["TriggerFunction", "Arn"]}
    rules = filter_rules(daily)
    assert rules == {"prefix": "raw/", "suffix": ".parquet"}
    # the moto notification tests (conftest.RAW_FILTER) deliver what this filter delivers
    assert rules == {r["Name"]: r["Value"] for r in RAW_FILTER["Key"]["FilterRules"]}
    # and tests/lambda_fn/test_s3_notification.py's PREVIEW_FILTER what the preview's delivers
    assert filter_rules(previews) == {"prefix": "previa/raw/", "suffix": RAW_FILE}
    permission = template["Resources"]["TriggerPermission"]["Properties"]
    assert permission["Principal"] == "s3.amazonaws.com"
    assert resolve(permission["SourceArn"], template) == "arn:aws:s3:::my-b3-lake"


def filter_rules(notification: dict[str, Any]) -> dict[str, str]:
    return {r["Name"]: r["Value"] for r in notification["Filter"]["S3Key"]["Rules"]}


def s3_filter_passes(rules: dict[str, str], key: str) -> bool:
    return key.startswith(rules["prefix"]) and key.endswith(rules["suffix"])


def test_the_trigger_filter_lets_every_indexs_raw_object_through(template):
    """Every raw object key (raw/INDEX/DATE/dados_originais.parquet) reaches the Lambda, which
    then applies the key rule itself: what the filter also lets through starts nothing. The
    preview's filter lets its objects through, and no daily key (each kind reaches the Lambda
    once, by its own filter)."""
    bucket = template["Resources"]["LakeBucket"]["Properties"]
    daily, previews = map(filter_rules, bucket["NotificationConfiguration"]["LambdaConfigurations"])
    rules = daily
    units = [Unit.parse(u) for u in ("IBOV/2025-07-14", "IBXX/2000-01-03", "SMLL/2024-10-22")]
    for unit in units:
        key = raw_object_key(unit)
        assert key.endswith("/" + RAW_FILE) and s3_filter_passes(rules, key), key
        assert raw_key_unit(key) == unit and preview_key_unit(key) is None
        assert not s3_filter_passes(previews, key), key
        preview = preview_object_key(unit)
        assert s3_filter_passes(previews, preview) and not s3_filter_passes(daily, preview)
        assert preview_key_unit(preview) == unit and raw_key_unit(preview) is None
    for key in ("previa/raw/IBOV/2025-07-14/previa_IBOV.json", "previa/bronze/IBOV/x.parquet"):
        assert not s3_filter_passes(previews, key), key
    for key in (
        "raw/2025-07-14/dados_originais.parquet",  # the earlier layout, moved by `b3 upgrade`
        "raw/IBOV/2025-07-14/copia.parquet",
        "raw/ibov/2025-07-14/dados_originais.parquet",
    ):
        assert s3_filter_passes(rules, key) and raw_key_unit(key) is None, key
    for key in ("refined/ativos/indice=IBOV/data=2025-07-14/p.parquet", "glue/refine_job.py"):
        assert not s3_filter_passes(rules, key), key


def test_glue_job_is_the_one_b3_deploy_creates(template):
    target = deploy.Target("my-b3-lake", "b3_refined", "b3-refine", "b3-lake-glue", REGION)
    wanted = deploy.job_definition(target, role_arn="ROLE")
    job = resolve(template["Resources"]["GlueJob"]["Properties"], template)
    assert job.pop("Name") == target.job_name
    assert job.pop("Role") == {"Fn::GetAtt": ["GlueJobRole", "Arn"]}
    wanted.pop("Role")
    assert job == wanted
    # the pins are the contract's (the lock's versions), never the environment running the test
    # one module, dagster-pipes: B3's sessions ship as data in b3_contract.zip (docs/aws.md)
    assert job["DefaultArguments"]["--additional-python-modules"].split(",") == [
        f"dagster-pipes=={JOB_MODULES['dagster-pipes']}",
    ]
    assert not [v for v in job["DefaultArguments"].values() if "exchange_calendars" in str(v)]
    parameters = template["Parameters"]
    assert parameters["DagsterPipesVersion"]["Default"] == JOB_MODULES["dagster-pipes"]
    assert not [name for name in parameters if "Calendar" in name]


def test_glue_role_policy_is_the_one_b3_deploy_creates(template):
    target = deploy.Target("my-b3-lake", "b3_refined", "b3-refine", "b3-lake-glue", REGION)
    role = template["Resources"]["GlueJobRole"]["Properties"]
    (policy,) = role["Policies"]
    assert resolve(policy["PolicyDocument"], template) == deploy.role_policy(target, ACCOUNT)
    assert role["AssumeRolePolicyDocument"] == deploy.GLUE_TRUST


def test_glue_tables_are_the_ones_b3_deploy_and_the_glue_job_create(template):
    """Names, columns and their types, partition keys, locations and SerDe: the template's eleven
    tables are b3_contract's, in the stack's database (created before them)."""
    declared = resources(template, "AWS::Glue::Table")
    tables = {}
    for name, resource in declared.items():
        props = resolve(resource["Properties"], template)
        assert props["DatabaseName"] == {"Ref": "GlueDatabase"}, name
        assert props["CatalogId"] == ACCOUNT, name
        tables[props["TableInput"]["Name"]] = props["TableInput"]
    # 6 of the daily portfolio, 2 of the preview, 3 ibov_*
    assert len(tables) == len(declared) == len(ALL_TABLE_NAMES) == 11
    wanted = {table["Name"]: table for table in all_table_inputs(PARAMS["BucketName"])}
    assert set(tables) == set(wanted) == set(ALL_TABLE_NAMES)
    for name, table in tables.items():
        expected = wanted[name]
        assert table["PartitionKeys"] == expected["PartitionKeys"], name
        columns = table["StorageDescriptor"]["Columns"]
        assert columns == expected["StorageDescriptor"]["Columns"], name
        location = table["StorageDescriptor"]["Location"]
        assert location == expected["StorageDescriptor"]["Location"], name
        assert table == expected, name  # and the rest: type, parameters, description, SerDe
    assert tables["ibov_ativos"]["StorageDescriptor"]["Location"] == (
        "s3://my-b3-lake/refined/ativos/indice=IBOV/"
    )
    assert [k["Name"] for k in tables["carteira_ativos"]["PartitionKeys"]] == [
        "indice",
        "data",
        "acao",
    ]
    for name, prefix in (
        ("carteira_previa", "previa"),
        ("carteira_previa_mudancas", "previa_mudancas"),
    ):
        location = tables[name]["StorageDescriptor"]["Location"]
        assert location == f"s3://my-b3-lake/refined/{prefix}/"
        assert [k["Name"] for k in tables[name]["PartitionKeys"]] == ["indice", "data"]


def test_the_job_reads_the_preview_objects_and_the_pipeline_may_publish_them(template):
    """The preview mode reads previa/raw/ (and lists it); Dagster uploads the preview objects."""
    grants = {}
    for statement in policy_statements(template):
        for action in as_list(statement["Action"]):
            for arn in as_list(resolve(statement["Resource"], template)):
                grants.setdefault((statement["_owner"], action), set()).add(arn)
    preview = "arn:aws:s3:::my-b3-lake/previa/raw/*"
    assert preview in grants[("GlueJobRole", "s3:GetObject")]
    assert preview not in grants[("GlueJobRole", "s3:PutObject")]  # its input, never its output
    assert "arn:aws:s3:::my-b3-lake/refined/*" in grants[("GlueJobRole", "s3:PutObject")]
    assert preview in grants[("PipelineUserPolicy", "s3:PutObject")]
    role = template["Resources"]["GlueJobRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (listing,) = [s for s in role["Statement"] if s["Sid"] == "ListTheLake"]
    assert "previa/raw/*" in listing["Condition"]["StringLike"]["s3:prefix"]


def test_lambda_may_only_start_this_job_and_write_its_logs(template):
    role = template["Resources"]["TriggerFunctionRole"]["Properties"]
    (policy,) = role["Policies"]
    grants = {
        (action, arn)
        for statement in resolve(policy["PolicyDocument"], template)["Statement"]
        for action in statement["Action"]
        for arn in statement["Resource"]
    }
    job_arn = f"arn:aws:glue:{REGION}:{ACCOUNT}:job/b3-refine"
    assert grants == {
        ("glue:StartJobRun", job_arn),
        ("glue:GetJobRuns", job_arn),
        ("logs:CreateLogStream", LOG_GROUP),
        ("logs:PutLogEvents", LOG_GROUP),
    }
    function = template["Resources"]["TriggerFunction"]["Properties"]
    code = (TEMPLATE.parent / function["CodeUri"]).resolve()
    assert code == deploy.LAMBDA_PACKAGE_DIR.resolve()  # where `b3 package-lambda` writes
    module, _, name = function["Handler"].partition(".")
    assert (module, name) == ("handler", "lambda_handler")
    assert set(function["Environment"]["Variables"]) == {"B3_GLUE_JOB", "B3_BUCKET"}


def test_athena_workgroup_limits_scans_and_keeps_results_in_the_bucket(template):
    group = resolve(template["Resources"]["AthenaWorkgroup"]["Properties"], template)
    config = group["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert int(config["BytesScannedCutoffPerQuery"]) == 10 * 1024**3
    assert config["ResultConfiguration"]["OutputLocation"] == "s3://my-b3-lake/athena-results/"


def test_lambda_package_runs_on_its_own_files(tmp_path):
    """The package `b3 package-lambda` lays out imports with no site-packages (as on Lambda,
    where boto3 is the runtime's and b3_contract must be in the zip) and applies the key rule."""
    import subprocess
    import sys

    written = deploy.write_lambda_package(tmp_path / "lambda")
    assert sorted(p.relative_to(tmp_path / "lambda").as_posix() for p in written) == [
        "b3_contract/__init__.py",
        "b3_contract/analytics.py",
        "b3_contract/glue_job.py",
        "b3_contract/glue_runs.py",
        "b3_contract/glue_tables.py",
        "b3_contract/lake_keys.py",
        "b3_contract/origins.py",
        "b3_contract/previews.py",
        "b3_contract/sessions.py",
        "b3_contract/sessions_data.py",
        "b3_contract/tables.py",
        "handler.py",
    ]
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import handler; "
        "event = {'Records': [{'eventSource': 'aws:s3', 'eventName': 'ObjectCreated:Put', "
        "'s3': {'bucket': {'name': 'b'}, 'object': {'key': key}}} for key in "
        "('raw/IBOV/2025-07-14/dados_originais.parquet', 'raw/IBOV/2025-07-14/other.parquet',"
        " 'previa/raw/IBOV/2025-07-14/dados_originais.parquet',"
        " 'raw/IBXX/2025-07-14/dados_originais.parquet')]}; "
        "plan = handler.plan_runs(event); "
        "print(';'.join(r.mode + ':' + ','.join(map(str, r.units)) for r in plan.runs),"
        " len(plan.skipped), handler.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(tmp_path / "lambda")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert out[:3] == [
        "daily:IBOV/2025-07-14,IBXX/2025-07-14;previews:IBOV/2025-07-14",
        "1",
        str(tmp_path / "lambda" / "handler.py"),
    ]
