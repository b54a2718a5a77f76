"""`b3 verify`, the first-deploy self-test, against moto: the green run and runs that fail mid-way
leave the bucket and the catalog exactly as they were, and a failure names its step.

moto does not execute Athena SQL: each test injects, through moto's results API, the rows the
local engine gives for the sample (or a changed row), in the order the self-test asks."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from b3_assets.aws import clients as aws_clients
from b3_assets.aws.athena import AthenaQueries
from b3_assets.aws.deploy import Target, deploy
from b3_assets.aws.verify import (
    COMPARED,
    RESERVED_INDEX,
    SAMPLE_DAY,
    UNIT,
    SelfTest,
    VerifyTarget,
    _owned,
    compare_rows,
    sample_bronze,
    verify_sql,
)
from b3_assets.refine.catalog import check_query
from b3_assets.refine.engine import refine_files
from b3_assets.testing.sample import sample_index_list, sample_portfolio
from b3_contract.glue_tables import partition_input
from b3_contract.lake_keys import check_index
from b3_contract.tables import CATALOG_TABLES, TABLES

B3 = Path(sys.executable).parent / "b3"
DATABASE = "b3_refined"
RESULTS = "athena-results/"
ATHENA_TYPES = {"string": "varchar", "int": "integer", "bigint": "bigint", "date": "date"}


# ---------------------------------------------------------------- helpers


def athena_cell(value: Any) -> dict[str, str]:
    """One value as Athena prints it in get_query_results."""
    if value is None:
        return {}
    if isinstance(value, datetime):
        value = value.astimezone(UTC).replace(tzinfo=None)
        return {"VarCharValue": value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]}
    return {"VarCharValue": str(value)}


def column_info(kind: str, name: str) -> dict[str, Any]:
    if kind.startswith("decimal("):
        precision, scale = kind[len("decimal(") : -1].split(",")
        scales = {"Precision": int(precision), "Scale": int(scale)}
        return {"Name": name, "Label": name, "Type": "decimal", **scales}
    return {"Name": name, "Label": name, "Type": ATHENA_TYPES.get(kind, kind)}


def local_rows(tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    """What the local engine gives for the sample, per compared table."""
    folder = tmp_path / "expected"
    folder.mkdir()
    bronze = sample_bronze(sample_portfolio(SAMPLE_DAY, 2, RESERVED_INDEX), folder)
    tables = refine_files([bronze])
    return {name: tables[name].to_pylist() for name in COMPARED}


def inject_athena(endpoint: str, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Athena's answers to the self-test's three queries, in its order, header row first."""
    results = []
    for name in COMPARED:
        columns = TABLES[name].columns
        header = {"Data": [{"VarCharValue": column} for column, _ in columns]}
        body = [{"Data": [athena_cell(row[c]) for c, _ in columns]} for row in rows[name]]
        results.append(
            {"rows": [header, *body], "column_info": [column_info(k, c) for c, k in columns]}
        )
    answer = requests.post(
        f"{endpoint}/moto-api/static/athena/query-results", json={"results": results}, timeout=10
    )
    assert answer.status_code == 201


def listing(aws) -> dict[str, Any]:
    """Every object (key and ETag) of the bucket and every partition of every table."""
    s3, glue = aws.client("s3"), aws.client("glue")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=aws.bucket)
    objects = {item["Key"]: item["ETag"] for page in pages for item in page.get("Contents", [])}
    partitions = {}
    for table in glue.get_tables(DatabaseName=DATABASE)["TableList"]:
        pages = glue.get_paginator("get_partitions").paginate(
            DatabaseName=DATABASE, TableName=table["Name"]
        )
        partitions[table["Name"]] = sorted(
            (p["Values"], p["StorageDescriptor"]["Location"])
            for page in pages
            for p in page["Partitions"]
        )
    return {"objects": objects, "partitions": partitions}


@pytest.fixture
def deployed(aws, monkeypatch):
    """`b3 deploy` on a fresh moto account, plus another index's raw object, refined file and
    partition that no self-test may touch."""
    monkeypatch.setenv("B3_ATHENA_OUTPUT", f"s3://{aws.bucket}/{RESULTS}")
    for name, value in {
        "B3_ENV": "aws",
        "B3_GLUE_RUNNER": "local",
        "B3_TRIGGER": "dagster",
    }.items():
        monkeypatch.setenv(name, value)
    clients = {name: aws.client(name) for name in ("s3", "glue", "iam", "sts")}
    deploy(clients, Target(aws.bucket, DATABASE, "b3-refine", "b3-lake-glue", "us-east-1"))
    s3, glue = clients["s3"], clients["glue"]
    s3.put_object(Bucket=aws.bucket, Key="raw/IBOV/2025-07-14/dados_originais.parquet", Body=b"x")
    ativos = TABLES["carteira_ativos"]
    values = ["IBOV", "2025-07-14", "PETR4"]
    key = "refined/ativos/indice=IBOV/data=2025-07-14/acao=PETR4/part-0.parquet"
    s3.put_object(Bucket=aws.bucket, Key=key, Body=b"y")
    location = f"s3://{aws.bucket}/{ativos.prefix}/"
    glue.batch_create_partition(
        DatabaseName=DATABASE,
        TableName=ativos.name,
        PartitionInputList=[partition_input(ativos, location, values)],
    )
    return aws


def local_launcher() -> Any:
    """What `b3 verify` launches the job with (B3_GLUE_RUNNER=local): the refiner's launcher."""
    from b3_assets.defs.resources import resources_for
    from b3_assets.settings import Settings

    return resources_for(Settings())["refiner"].launcher()


def self_test(aws, launcher=None, trigger: str = "dagster", **kwargs) -> tuple[SelfTest, list]:
    glue, s3 = aws_clients.client("glue"), aws_clients.client("s3")
    lines: list[str] = []
    test = SelfTest(
        s3,
        glue,
        launcher if launcher is not None else local_launcher(),
        AthenaQueries(
            aws_clients.client("athena"),
            "primary",
            DATABASE,
            f"s3://{aws.bucket}/{RESULTS}",
            poll_interval=0.01,
        ),
        VerifyTarget(aws.bucket, DATABASE, "b3-refine", trigger),
        sample_portfolio(SAMPLE_DAY, 2, RESERVED_INDEX),
        out=lines.append,
        poll_interval=0.01,
        **kwargs,
    )
    return test, lines


class FailingAfterRun:
    """The local runner, except that Glue reports the run FAILED once it has ended: a run that
    wrote its partitions and then failed (a timeout, a lost executor)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_job_run(self, **kwargs: Any) -> dict[str, Any]:
        answer = self.inner.get_job_run(**kwargs)
        run = answer["JobRun"]
        if run["JobRunState"] == "SUCCEEDED":
            run["JobRunState"], run["ErrorMessage"] = "FAILED", "injected: the executor was lost"
        return answer


class QuickRuns:
    """A Glue stand-in with no Spark: runs end at once, in `state`; `lambda_bucket` makes it
    start the unit's run itself once the raw object exists, as the Lambda would."""

    def __init__(self, s3, state: str = "FAILED", lambda_bucket: str | None = None):
        self.s3, self.state, self.lambda_bucket = s3, state, lambda_bucket
        self.runs: list[dict[str, Any]] = []
        self.stopped: list[str] = []

    def start_job_run(self, JobName: str, Arguments: dict[str, str]) -> dict[str, str]:
        run_id = f"jr_quick_{len(self.runs)}"
        state = self.state
        run = {"Id": run_id, "JobName": JobName, "Arguments": Arguments, "JobRunState": state}
        run |= {"ExecutionTime": 61, "WorkerType": "G.1X", "NumberOfWorkers": 2}
        self.runs.insert(0, {**run, "ErrorMessage": "injected at start"})
        return {"JobRunId": run_id}

    def get_job_runs(self, JobName: str, **_: Any) -> dict[str, Any]:
        if self.lambda_bucket and not any(r["Id"].startswith("jr_quick") for r in self.runs):
            listed = self.s3.list_objects_v2(Bucket=self.lambda_bucket, Prefix="raw/ZZB3VERIFY/")
            if listed.get("KeyCount"):
                args = {"--units": str(UNIT), "--bucket": self.lambda_bucket, "--refine": "daily"}
                self.start_job_run(JobName, args)
        return {"JobRuns": list(self.runs)}

    def get_job_run(self, JobName: str, RunId: str, **_: Any) -> dict[str, Any]:
        return {"JobRun": next(run for run in self.runs if run["Id"] == RunId)}

    def batch_stop_job_run(self, JobName: str, JobRunIds: list[str]) -> dict[str, Any]:
        self.stopped += JobRunIds
        return {"SuccessfulSubmissions": [], "Errors": []}


# ---------------------------------------------------------------- without Spark


def test_the_reserved_code_is_valid_and_never_one_of_b3s() -> None:
    assert check_index(RESERVED_INDEX) == RESERVED_INDEX
    assert RESERVED_INDEX not in sample_index_list()
    assert len(sample_index_list()) == 34
    # 10 characters is the longest code the contract takes: no other code extends it
    assert len(RESERVED_INDEX) == 10


def test_the_athena_queries_are_read_only_trino_over_the_unit() -> None:
    import sqlglot

    for name in COMPARED:
        sql = verify_sql(TABLES[name])
        check_query(sql)
        sqlglot.parse_one(sql, read="athena", error_level=sqlglot.ErrorLevel.RAISE)
        assert f"indice = '{RESERVED_INDEX}'" in sql and "DATE '2025-07-14'" in sql


def test_only_the_reserved_index_keys_are_its_own() -> None:
    root = "refined/ativos/"
    assert _owned(f"{root}indice={RESERVED_INDEX}/data=2025-07-14/acao=X/p.parquet", root)
    assert _owned(f"{root}indice={RESERVED_INDEX}_$folder$", root)
    assert _owned(f"{root}_temporary/0/task/indice={RESERVED_INDEX}/data=2025-07-14/p", root)
    assert not _owned(f"{root}indice=IBOV/data=2025-07-14/acao=X/p.parquet", root)
    assert not _owned(f"{root}_temporary/0/task/indice=IBOV/data=2025-07-14/p", root)


def test_the_comparison_names_the_table_row_and_column() -> None:
    table = TABLES["carteira_header"]
    columns = [name for name, _ in table.columns]
    local = {
        "data_carteira": date(2025, 7, 14),
        "qtd_teorica_total": 10,
        "redutor": Decimal("15438607.05630450"),
        "participacao_total_pct": Decimal("100.000"),
        "total_ativos": 2,
        "data_coleta": datetime(2025, 7, 14, 13, 0, tzinfo=UTC),
        "defasagem_dias": 0,
        "origem": "amostra",
        "indice": RESERVED_INDEX,
        "data": date(2025, 7, 14),
    }
    athena = tuple(local[c] for c in columns)
    athena_like = {"data_coleta": datetime(2025, 7, 14, 13, 0), "participacao_total_pct": 100}
    naive = tuple(athena_like.get(c, local[c]) for c in columns)
    assert compare_rows(table, columns, [athena], [local]) == []
    assert compare_rows(table, columns, [naive], [local]) == []  # no zone, another scale
    changed = tuple(
        11 if c == "qtd_teorica_total" else v for c, v in zip(columns, athena, strict=True)
    )
    assert compare_rows(table, columns, [changed], [local]) == [
        f"carteira_header: row indice={RESERVED_INDEX}, data=2025-07-14, column "
        "qtd_teorica_total: Athena 11, local 10"
    ]
    assert compare_rows(table, columns, [], [local]) == [
        f"carteira_header: row indice={RESERVED_INDEX}, data=2025-07-14 is missing from "
        "Athena's answer"
    ]
    other = {**local, "data": date(2025, 7, 15)}
    assert (
        f"carteira_header: row indice={RESERVED_INDEX}, data=2025-07-14 is in Athena's answer only"
        in compare_rows(table, columns, [athena], [other])
    )
    assert "Athena returned columns" in compare_rows(table, columns[::-1], [athena], [local])[0]


def test_it_refuses_leftovers_it_did_not_make_and_changes_nothing(deployed) -> None:
    s3 = deployed.client("s3")
    key = f"raw/{RESERVED_INDEX}/2025-07-10/dados_originais.parquet"
    s3.put_object(Bucket=deployed.bucket, Key=key, Body=b"z")
    before = listing(deployed)
    launcher = QuickRuns(s3)
    test, lines = self_test(deployed, launcher)
    report = test.run()
    assert not report.ok
    assert report.failure.startswith("reserved index free: 1 object(s) or partition(s)")
    assert f"raw/{RESERVED_INDEX}/2025-07-10/dados_originais.parquet" in report.failure
    assert "--remove-leftovers" in report.failure
    assert launcher.runs == []  # no run started, nothing uploaded, nothing removed
    assert listing(deployed) == before
    assert [line.split()[0] for line in lines] == ["ok", "FAILED"]


def test_remove_leftovers_removes_only_the_reserved_index(deployed) -> None:
    """Leftovers of the reserved index (objects, a committer's staging copy, a partition) go;
    another index's objects and partitions stay. The run then fails at the Glue step (a
    stand-in that fails at once), names it, and cleans up its own upload."""
    s3, glue = deployed.client("s3"), deployed.client("glue")
    before = listing(deployed)
    leftovers = [
        f"raw/{RESERVED_INDEX}/2025-07-10/dados_originais.parquet",
        f"refined/header/indice={RESERVED_INDEX}/data=2025-07-10/part-0.parquet",
        f"refined/ativos/_temporary/0/t/indice={RESERVED_INDEX}/data=2025-07-10/acao=X/p",
    ]
    for key in leftovers:
        s3.put_object(Bucket=deployed.bucket, Key=key, Body=b"old")
    header = CATALOG_TABLES["carteira_header"]
    location = f"s3://{deployed.bucket}/refined/header/"
    glue.batch_create_partition(
        DatabaseName=DATABASE,
        TableName=header.name,
        PartitionInputList=[partition_input(header, location, [RESERVED_INDEX, "2025-07-10"])],
    )
    launcher = QuickRuns(s3)
    test, lines = self_test(deployed, launcher, remove_leftovers=True)
    report = test.run()
    assert report.failure == "glue run: Glue run jr_quick_0 FAILED: injected at start"
    assert report.cleanup_problems == []
    assert "removed 4 leftover object(s) and partition(s)" in lines[1]
    assert lines[-1].startswith("ok     cleanup")
    assert listing(deployed) == before


def test_with_the_lambda_trigger_it_waits_for_the_lambdas_run(deployed) -> None:
    """B3_TRIGGER=lambda: the upload starts the run, so the self-test starts none of its own
    (two runs of one unit would interleave their writes), and an earlier self-test's run of
    the same unit is not taken for it."""
    s3 = deployed.client("s3")
    launcher = QuickRuns(s3, state="SUCCEEDED", lambda_bucket=deployed.bucket)
    earlier = {"--units": str(UNIT), "--bucket": deployed.bucket}
    launcher.runs.append({"Id": "jr_earlier", "JobRunState": "SUCCEEDED", "Arguments": earlier})
    before = listing(deployed)
    inject_athena(deployed.endpoint, {name: [] for name in COMPARED})
    test, lines = self_test(deployed, launcher, trigger="lambda")
    report = test.run()
    glue_line = next(line for line in lines if "glue run" in line)
    assert glue_line.startswith("ok") and "jr_quick_1 (started by the Lambda)" in glue_line
    assert "about 122 DPU-s (2 DPU x 61 s billed)" in glue_line
    assert [r["Id"] for r in launcher.runs] == ["jr_quick_1", "jr_earlier"]
    # the stand-in wrote nothing: Athena's (empty) answer differs from the local engine's
    assert report.failure.startswith("athena carteira_ativos: Athena's rows differ")
    assert "is missing from Athena's answer" in report.failure
    assert listing(deployed) == before


# ---------------------------------------------------------------- the deployed job on pyspark


@pytest.mark.spark
def test_a_changed_row_fails_naming_it_and_everything_is_removed(deployed, tmp_path) -> None:
    rows = local_rows(tmp_path)
    first = rows["carteira_ativos"][0]
    rows["carteira_ativos"][0] = {**first, "participacao_pct": Decimal("99.999")}
    inject_athena(deployed.endpoint, rows)
    before = listing(deployed)
    test, lines = self_test(deployed)
    report = test.run()
    assert report.failure is not None
    assert report.failure.startswith("athena carteira_ativos: Athena's rows differ")
    assert f"acao={first['acao']}, column participacao_pct: Athena 99.999" in report.failure
    assert report.cleanup_problems == []
    steps = [line.split("  ")[0] for line in lines]
    assert [s.startswith("ok") for s in steps] == [True] * 5 + [False, True]
    assert listing(deployed) == before


@pytest.mark.spark
def test_a_glue_run_that_fails_after_writing_leaves_nothing(deployed) -> None:
    test, lines = self_test(deployed, FailingAfterRun(local_launcher()))
    before = listing(deployed)
    report = test.run()
    assert report.failure is not None
    assert report.failure.startswith("glue run: Glue run jr_local_")
    assert report.failure.endswith("FAILED: injected: the executor was lost")
    assert report.cleanup_problems == []
    assert lines[-1].startswith("ok     cleanup")
    assert listing(deployed) == before


@pytest.mark.e2e
@pytest.mark.spark
def test_b3_verify_green_leaves_the_account_as_it_found_it(deployed, tmp_path) -> None:
    inject_athena(deployed.endpoint, local_rows(tmp_path))
    before = listing(deployed)
    env = {**os.environ, "B3_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [str(B3), "verify"], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    print(done.stdout)  # the steps and their figures, for -rP
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    out = done.stdout
    steps = ["deployment", "reserved index free", "local refine (DuckDB)", "upload raw object"]
    for step in [*steps, "glue run", *(f"athena {name}" for name in COMPARED), "cleanup"]:
        assert any(line.startswith("ok") and step in line for line in out.splitlines()), step
    assert "on Glue" in out and "DPU-s" in out and "bytes scanned" in out
    assert "rows equal the local engine's" in out
    assert "verified:" in out.splitlines()[-1]
    after = listing(deployed)
    assert after == before
    assert f"{RESULTS}" not in "".join(after["objects"])  # its Athena results are gone too


def test_the_stacks_pipeline_policy_lets_the_self_test_clean_up() -> None:
    """On a stack the user holds PipelineUserPolicy: it must allow removing exactly the
    reserved index's objects and partitions, by the code's RESERVED_INDEX."""
    template = (Path(__file__).resolve().parents[2] / "infra" / "template.yaml").read_text()
    cleanup = template.split("- Sid: SelfTestCleanup", 1)[1].split("- Sid:", 1)[0]
    assert "s3:DeleteObject" in cleanup
    assert f"/raw/{RESERVED_INDEX}/*" in cleanup
    assert f"/refined/*indice={RESERVED_INDEX}*" in cleanup
    assert "/athena-results/*" in cleanup
    partitions = template.split("- Sid: SelfTestPartitions", 1)[1].split("Outputs:", 1)[0]
    assert "glue:BatchDeletePartition" in partitions


class RefusingDeletes:
    """The S3 client, except that removing objects is denied (a policy without the cleanup)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def delete_objects(self, **_: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        error = {"Error": {"Code": "AccessDenied", "Message": "no s3:DeleteObject"}}
        raise ClientError(error, "DeleteObjects")


def test_a_cleanup_that_fails_is_reported_never_hidden(deployed) -> None:
    s3 = aws_clients.client("s3")
    test, lines = self_test(deployed, QuickRuns(s3))
    test.s3 = RefusingDeletes(s3)
    test.lake.client = test.s3
    report = test.run()
    assert not report.ok
    assert report.failure == "glue run: Glue run jr_quick_0 FAILED: injected at start"
    assert any("access denied" in problem for problem in report.cleanup_problems)
    left = f"still there: raw/{RESERVED_INDEX}/2025-07-14/dados_originais.parquet"
    assert left in report.cleanup_problems
    assert lines[-1].startswith("FAILED cleanup")


@pytest.mark.e2e
def test_b3_verify_exits_1_naming_the_step_and_changes_nothing(deployed, tmp_path) -> None:
    key = f"refined/setores/indice={RESERVED_INDEX}/data=2025-07-11/part-0.parquet"
    deployed.client("s3").put_object(Bucket=deployed.bucket, Key=key, Body=b"someone's")
    before = listing(deployed)
    env = {**os.environ, "B3_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [str(B3), "verify"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("error: self-test failed at reserved index free: 1 object(s)")
    assert key in done.stderr and "--remove-leftovers" in done.stderr
    assert "cleanup" not in done.stdout  # it touched nothing, so there was nothing to clean
    assert listing(deployed) == before
