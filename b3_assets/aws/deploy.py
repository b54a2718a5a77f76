"""`b3 deploy`: what the AWS path needs in an account, created or updated idempotently.

The bucket (public access blocked, encrypted), the Glue job script, refine, analytic and preview
SQL and table contract under s3://BUCKET/glue/, the Glue database and its eleven tables
(carteira_* with the three analytic ones and the preview's two for every index, ibov_* for IBOV;
b3_contract.glue_tables, the definition the Glue job keeps them to), the job's IAM role (unless
an ARN is given) and the Glue job (installing only the dagster-pipes pinned in
b3_contract.glue_job: B3's sessions ship as data in b3_contract.zip). Running it again changes
nothing that is already as wanted.

infra/template.yaml is the full deployment (it adds the Lambda trigger, the Athena workgroup and
the bucket policy, and declares the same tables). CloudFormation cannot upload files, so after
the stack `deploy_code` (`b3 deploy --code-only`) uploads the job code and checks the stack's job
runs it.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

import b3_contract
from b3_assets.aws.clients import AwsError, aws_errors, error_code
from b3_assets.lake.s3 import S3Lake
from b3_assets.refine import engine as refine
from b3_contract.glue_job import additional_python_modules
from b3_contract.glue_tables import all_table_inputs
from b3_contract.refine_manifest import MANIFEST_PREFIX
from b3_contract.tables import CATALOG_TABLES

JOB_SCRIPT = refine.GLUE_DIR / "refine_job.py"
LAMBDA_HANDLER = refine.GLUE_DIR.parent / "lambda_fn" / "handler.py"
LAMBDA_PACKAGE_DIR = refine.GLUE_DIR.parent / "build" / "lambda"  # infra/template.yaml's CodeUri
GLUE_PREFIX = "glue/"
CONTRACT_ZIP = GLUE_PREFIX + "b3_contract.zip"  # the job's --extra-py-files
GLUE_VERSION = "5.0"
WORKER_TYPE = "G.1X"
WORKERS = 2
MAX_CONCURRENT_RUNS = 3
JOB_TIMEOUT_MINUTES = 60
DESCRIPTION = (
    "b3-lake refine: raw/INDEX/DATE/dados_originais.parquet -> refined tables "
    "(--refine previews: previa/raw/ -> the preview's tables)"
)


@dataclass(frozen=True)
class Step:
    what: str
    state: str  # created, updated, unchanged, uploaded


@dataclass(frozen=True)
class Target:
    bucket: str
    database: str
    job_name: str
    role: str  # a role name to create, or the ARN of an existing role
    region: str


def contract_sources() -> dict[str, bytes]:
    """b3_contract's modules by their path in a package: what the Lambda and Glue import."""
    root = Path(b3_contract.__file__).parent
    return {f"b3_contract/{path.name}": path.read_bytes() for path in sorted(root.glob("*.py"))}


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip of the files with fixed timestamps: the same sources always give the same bytes,
    so a second deploy finds the object unchanged."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def glue_files() -> dict[str, tuple[bytes, str]]:
    """Key under the bucket -> (bytes, content type) of everything the job reads at run time."""
    files = {
        GLUE_PREFIX + "refine_job.py": (JOB_SCRIPT.read_bytes(), "text/x-python"),
        CONTRACT_ZIP: (zip_bytes(contract_sources()), "application/zip"),
    }
    for table in CATALOG_TABLES.values():  # the refine and the analytic SQL
        files[f"{GLUE_PREFIX}sql/{table.sql_file}"] = (refine.spark_sql(table).encode(), "text/sql")
    return files


def lambda_files() -> dict[str, bytes]:
    """The Lambda's deployment package: its handler and the b3_contract it imports."""
    return {"handler.py": LAMBDA_HANDLER.read_bytes(), **contract_sources()}


def write_lambda_package(target_dir: Path) -> list[Path]:
    """Lays out the Lambda's package in a folder (infra/template.yaml's CodeUri zips it);
    anything else in the folder is removed, so nothing stale ships."""
    if target_dir.exists():
        shutil.rmtree(target_dir)
    written = []
    for name, data in lambda_files().items():
        path = target_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


def job_definition(target: Target, role_arn: str) -> dict[str, Any]:
    return {
        "Description": DESCRIPTION,
        "Role": role_arn,
        "Command": {
            "Name": "glueetl",
            "ScriptLocation": f"s3://{target.bucket}/{GLUE_PREFIX}refine_job.py",
            "PythonVersion": "3",
        },
        "DefaultArguments": {
            "--job-language": "python",
            "--bucket": target.bucket,
            "--database": target.database,
            "--glue_prefix": GLUE_PREFIX,
            "--extra-py-files": f"s3://{target.bucket}/{CONTRACT_ZIP}",
            "--additional-python-modules": additional_python_modules(),
            "--TempDir": f"s3://{target.bucket}/{GLUE_PREFIX}tmp/",
            "--enable-metrics": "true",
        },
        "ExecutionProperty": {"MaxConcurrentRuns": MAX_CONCURRENT_RUNS},
        "MaxRetries": 0,
        "Timeout": JOB_TIMEOUT_MINUTES,
        "GlueVersion": GLUE_VERSION,
        "WorkerType": WORKER_TYPE,
        "NumberOfWorkers": WORKERS,
    }


def role_policy(target: Target, account: str) -> dict[str, Any]:
    """Least privilege for the job: read raw/, previa/raw/ (the preview mode's input) and glue/,
    read and write refined/ (the analytics and the preview's changes read stored sessions), this
    database only."""
    bucket = f"arn:aws:s3:::{target.bucket}"
    glue = f"arn:aws:glue:{target.region}:{account}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadInputsAndCode",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [
                    f"{bucket}/raw/*",
                    f"{bucket}/previa/raw/*",  # --refine previews
                    f"{bucket}/glue/*",
                    f"{bucket}/pipes/*",
                    f"{bucket}/refined/*",  # the stored sessions read
                    f"{bucket}/{MANIFEST_PREFIX}*",  # what each unit was built from
                ],
            },
            {
                "Sid": "WriteRefinedAndPipes",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": [
                    f"{bucket}/refined/*",
                    f"{bucket}/{MANIFEST_PREFIX}*",
                    f"{bucket}/pipes/*",
                    f"{bucket}/glue/tmp/*",
                ],
            },
            {
                "Sid": "ListTheLake",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket],
                "Condition": {
                    "StringLike": {
                        "s3:prefix": [
                            "raw/*",
                            "previa/raw/*",
                            "refined/*",
                            f"{MANIFEST_PREFIX}*",
                            "glue/*",
                            "pipes/*",
                        ]
                    }
                },
            },
            {
                "Sid": "CatalogOfThisDatabase",
                "Effect": "Allow",
                "Action": [
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:GetPartitions",
                    "glue:BatchCreatePartition",
                    "glue:BatchDeletePartition",
                ],
                "Resource": [
                    f"{glue}:catalog",
                    f"{glue}:database/{target.database}",
                    f"{glue}:table/{target.database}/*",
                ],
            },
            {
                "Sid": "JobLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"arn:aws:logs:{target.region}:{account}:log-group:/aws-glue/*"],
            },
        ],
    }


GLUE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "glue.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def ensure_bucket(s3: Any, target: Target) -> Step:
    with aws_errors(f"checking bucket {target.bucket}"):
        try:
            s3.head_bucket(Bucket=target.bucket)
            return Step(f"bucket s3://{target.bucket}", "unchanged")
        except ClientError as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
    with aws_errors(f"creating bucket {target.bucket}"):
        params: dict[str, Any] = {"Bucket": target.bucket}
        if target.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": target.region}
        s3.create_bucket(**params)
        s3.put_public_access_block(
            Bucket=target.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_lifecycle_configuration(
            Bucket=target.bucket,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "expire-pipes-messages",
                        "Filter": {"Prefix": "pipes/"},
                        "Status": "Enabled",
                        "Expiration": {"Days": 7},
                    }
                ]
            },
        )
        s3.put_bucket_encryption(
            Bucket=target.bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
    return Step(f"bucket s3://{target.bucket}", "created")


def upload_glue_files(s3: Any, target: Target) -> list[Step]:
    lake = S3Lake(s3, target.bucket)
    steps = []
    for key, (data, content_type) in glue_files().items():
        put = lake.put_bytes(key, data, content_type)
        steps.append(Step(put.uri, "uploaded" if put.changed else "unchanged"))
    return steps


def ensure_database(glue: Any, target: Target) -> Step:
    what = f"glue database {target.database}"
    with aws_errors(f"creating Glue database {target.database}"):
        try:
            glue.get_database(Name=target.database)
            return Step(what, "unchanged")
        except ClientError as exc:
            if error_code(exc) != "EntityNotFoundException":
                raise
        glue.create_database(
            DatabaseInput={
                "Name": target.database,
                "Description": "b3-lake refined tables of B3's index portfolios "
                "(carteira_*, ibov_*)",
                "LocationUri": f"s3://{target.bucket}/refined/",
            }
        )
    return Step(what, "created")


def _table_differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether the catalog's table is not the wanted one. What Glue adds by itself (CreateTime,
    other parameters, other storage fields) does not count."""
    nested = ("Parameters", "StorageDescriptor")
    return any(
        current.get(key) != value for key, value in wanted.items() if key not in nested
    ) or any(_differs(current.get(key) or {}, wanted[key]) for key in nested)


def ensure_tables(glue: Any, target: Target) -> list[Step]:
    """Every table of the catalog, before any run: the Glue job upserts the same definitions, so
    Athena can query (and the catalog asset check) a table before its first partition."""
    steps = []
    for wanted in all_table_inputs(target.bucket):
        name = wanted["Name"]
        what = f"glue table {target.database}.{name}"
        with aws_errors(f"creating Glue table {target.database}.{name}"):
            try:
                current = glue.get_table(DatabaseName=target.database, Name=name)["Table"]
            except ClientError as exc:
                if error_code(exc) != "EntityNotFoundException":
                    raise
                glue.create_table(DatabaseName=target.database, TableInput=wanted)
                steps.append(Step(what, "created"))
                continue
            if not _table_differs(current, wanted):
                steps.append(Step(what, "unchanged"))
                continue
            glue.update_table(DatabaseName=target.database, TableInput=wanted)
        steps.append(Step(what, "updated"))
    return steps


def ensure_role(iam: Any, sts: Any, target: Target) -> tuple[str, Step]:
    if target.role.startswith("arn:"):
        return target.role, Step(f"iam role {target.role}", "given")
    with aws_errors("reading the AWS account id"):
        account = sts.get_caller_identity()["Account"]
    policy = json.dumps(role_policy(target, account), sort_keys=True)
    with aws_errors(f"creating IAM role {target.role}"):
        try:
            arn = iam.get_role(RoleName=target.role)["Role"]["Arn"]
            state = "unchanged"
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            arn = iam.create_role(
                RoleName=target.role,
                AssumeRolePolicyDocument=json.dumps(GLUE_TRUST),
                Description="b3-lake Glue refine job",
            )["Role"]["Arn"]
            state = "created"
        try:
            current = iam.get_role_policy(RoleName=target.role, PolicyName="b3-lake-refine")
            document = current["PolicyDocument"]
            if isinstance(document, str):  # some endpoints return it URL-encoded
                document = json.loads(unquote(document))
            same = json.dumps(document, sort_keys=True) == policy
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            same = False
        if not same:
            iam.put_role_policy(
                RoleName=target.role, PolicyName="b3-lake-refine", PolicyDocument=policy
            )
            state = "updated" if state == "unchanged" else state
    return arn, Step(f"iam role {arn}", state)


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return any(current.get(key) != value for key, value in wanted.items())


def ensure_job(glue: Any, target: Target, role_arn: str) -> Step:
    wanted = job_definition(target, role_arn)
    what = f"glue job {target.job_name}"
    with aws_errors(f"creating Glue job {target.job_name}"):
        try:
            current = glue.get_job(JobName=target.job_name)["Job"]
        except ClientError as exc:
            if error_code(exc) != "EntityNotFoundException":
                raise
            glue.create_job(Name=target.job_name, **wanted)
            return Step(what, "created")
        if not _differs(current, wanted):
            return Step(what, "unchanged")
        glue.update_job(JobName=target.job_name, JobUpdate=wanted)
    return Step(what, "updated")


def deploy(clients: dict[str, Any], target: Target) -> list[Step]:
    """Bucket, code, database, tables, role and job, in the order each needs the one before."""
    steps = [ensure_bucket(clients["s3"], target)]
    steps += upload_glue_files(clients["s3"], target)
    steps.append(ensure_database(clients["glue"], target))
    steps += ensure_tables(clients["glue"], target)
    role_arn, role_step = ensure_role(clients["iam"], clients["sts"], target)
    steps.append(role_step)
    steps.append(ensure_job(clients["glue"], target, role_arn))
    return steps


def deploy_code(clients: dict[str, Any], target: Target) -> list[Step]:
    """The job code only, for a deployment whose bucket and job another tool owns."""
    S3Lake(clients["s3"], target.bucket).check_bucket()
    script = job_definition(target, "")["Command"]["ScriptLocation"]
    with aws_errors(f"reading Glue job {target.job_name}"):
        try:
            job = clients["glue"].get_job(JobName=target.job_name)["Job"]
        except ClientError as exc:
            if error_code(exc) != "EntityNotFoundException":
                raise
            raise AwsError(
                f"Glue job {target.job_name} does not exist: deploy infra/template.yaml "
                "(or run `b3 deploy` without --code-only)"
            ) from None
    if job["Command"]["ScriptLocation"] != script:
        raise AwsError(
            f"Glue job {target.job_name} runs {job['Command']['ScriptLocation']}, not {script}: "
            "is B3_BUCKET the stack's bucket?"
        )
    steps = upload_glue_files(clients["s3"], target)
    return [*steps, Step(f"glue job {target.job_name} (runs {script})", "checked")]
