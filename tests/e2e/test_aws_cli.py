"""The AWS path end to end: the real `b3` command against a moto server and the local B3 server,
with the Glue job run here on pyspark (B3_GLUE_RUNNER=local).

The module's stack is deployed and has run once (fixture `stack`); every test leaves it as it found
it, so the tests pass alone, all together and in any order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from conftest import (
    MOTO_REQUESTS,
    by_spark,
    fresh_moto_account,
    moto_client,
    run_refine_job,
    s3_requests,
)

from b3_contract.tables import CATALOG_TABLES, INDEX_TABLES

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

B3 = Path(sys.executable).parent / "b3"
BUCKET = "b3-lake-e2e"


def b3(env: dict, *args: str, check: bool = True, **overrides: str) -> subprocess.CompletedProcess:
    run_env = {**env, **overrides}
    for name in [k for k, v in overrides.items() if v is None]:
        run_env.pop(name)
    done = subprocess.run(
        [str(B3), *args], env=run_env, capture_output=True, text=True, timeout=300, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def keys(env: dict, prefix: str) -> list[str]:
    pages = (
        moto_client(env, "s3")
        .get_paginator("list_objects_v2")
        .paginate(Bucket=BUCKET, Prefix=prefix)
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def partitions(env: dict, table: str) -> list[dict]:
    pages = (
        moto_client(env, "glue")
        .get_paginator("get_partitions")
        .paginate(DatabaseName="b3_refined", TableName=table)
    )
    return [p for page in pages for p in page["Partitions"]]


@dataclass(frozen=True)
class Stack:
    """The env of a user of the moto account and the local B3 server, and the outputs of the
    first `b3 deploy` and the first `b3 run` that built the stack."""

    env: dict[str, str]
    deployed: str
    ran: str


@pytest.fixture(scope="module")
def stack(moto_server, tmp_path_factory, fixtures_dir) -> Iterator[Stack]:
    """A fresh moto account, B3 serving 2025-07-14 in 3 pages, deployed and run once."""
    from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3

    home = tmp_path_factory.mktemp("aws-e2e")
    account = fresh_moto_account(moto_server, home, BUCKET)
    fake = FakeB3(max_page_size=40)
    fake.serve_file(fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json", segment=2)
    with RunningFakeB3(fake) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "B3_"))},
            **account,
            "B3_ENV": "aws",
            "B3_GLUE_RUNNER": "local",
            # Dagster launches Glue here; test_aws_trigger drives the Lambda's way
            "B3_TRIGGER": "dagster",
            "B3_DATA_DIR": str(home / "data"),
            "B3_API_URL": server.api_url,
            "B3_HTTP_RETRIES": "1",
        }
        env.pop("DAGSTER_HOME", None)
        deployed = b3(env, "deploy").stdout
        ran = b3(env, "run").stdout
        yield Stack(env, deployed, ran)


def test_deploy_twice(stack) -> None:
    first = stack.deployed
    assert "created    glue job b3-refine" in first
    assert f"created    bucket s3://{BUCKET}" in first
    for table in ("carteira_ativos", "carteira_header", "carteira_setores", "ibov_ativos"):
        assert f"created    glue table b3_refined.{table}" in first
    second = b3(stack.env, "deploy").stdout.splitlines()
    assert len(second) == len(first.splitlines()), second
    assert all(line.startswith("unchanged") for line in second), second


def test_run_on_aws_builds_the_bucket_and_the_catalog(stack) -> None:
    env, done = stack.env, stack.ran
    assert "IBOV 2025-07-14  (" in done and "3 page(s)" in done
    assert f"s3://{BUCKET}/raw/IBOV/2025-07-14/dados_originais.parquet" in done
    assert "catalog  glue://b3_refined" in done
    assert keys(env, "raw/") == ["raw/IBOV/2025-07-14/dados_originais.parquet"]
    ativos = keys(env, "refined/ativos/indice=IBOV/data=2025-07-14/")
    per_ticker = Counter(key.split("/")[4] for key in ativos)
    assert len(per_ticker) == 84 and set(per_ticker.values()) == {1}
    assert all(t.startswith("acao=") for t in per_ticker)
    assert len(keys(env, "refined/header/indice=IBOV/data=2025-07-14/")) == 1
    assert len(keys(env, "refined/setores/indice=IBOV/data=2025-07-14/")) == 1

    glue = moto_client(env, "glue")
    tables = {t["Name"]: t for t in glue.get_tables(DatabaseName="b3_refined")["TableList"]}
    names = ("ativos", "header", "setores")
    analytics = {"carteira_historico", "carteira_mudancas", "carteira_concentracao"}
    previews = {"carteira_previa", "carteira_previa_mudancas"}  # `b3 deploy` creates them
    assert set(tables) == {f"{kind}_{name}" for kind in ("carteira", "ibov") for name in names} | (
        analytics | previews
    )
    assert [k["Name"] for k in tables["carteira_ativos"]["PartitionKeys"]] == [
        "indice",
        "data",
        "acao",
    ]
    assert [k["Name"] for k in tables["ibov_ativos"]["PartitionKeys"]] == ["data", "acao"]
    for name in names:  # the IBOV tables read IBOV's folder of the same files
        location = tables[f"carteira_{name}"]["StorageDescriptor"]["Location"]
        assert location == f"s3://{BUCKET}/refined/{name}/"
        index_location = tables[f"ibov_{name}"]["StorageDescriptor"]["Location"]
        assert index_location == f"s3://{BUCKET}/refined/{name}/indice=IBOV/"
    ativos_partitions = partitions(env, "carteira_ativos")
    assert len(ativos_partitions) == 84
    assert {tuple(p["Values"][:2]) for p in ativos_partitions} == {("IBOV", "2025-07-14")}
    ibov_partitions = partitions(env, "ibov_ativos")
    assert len(ibov_partitions) == 84
    assert {p["Values"][0] for p in ibov_partitions} == {"2025-07-14"}
    assert {p["Values"][1] for p in ibov_partitions} == {p["Values"][2] for p in ativos_partitions}
    for table in ("carteira_header", "ibov_header"):
        assert len(partitions(env, table)) == 1


def test_the_catalog_shows_the_contracts_column_descriptions(stack) -> None:
    """After the real `b3 deploy` and a Glue run (which upserts the tables and registers the
    partitions), every column of every table carries the contract's description as its Glue
    comment, the one Athena's console shows."""
    glue = moto_client(stack.env, "glue")
    for spec in [*CATALOG_TABLES.values(), *INDEX_TABLES.values()]:
        table = glue.get_table(DatabaseName="b3_refined", Name=spec.name)["Table"]
        entries = table["PartitionKeys"] + table["StorageDescriptor"]["Columns"]
        found = [(e["Name"], e["Type"], e.get("Comment")) for e in entries]
        assert sorted(found) == sorted(spec.described_columns), spec.name
    ibov = INDEX_TABLES["ibov_ativos"]
    [partition, *_] = partitions(stack.env, "ibov_ativos")
    comments = {c["Name"]: c.get("Comment") for c in partition["StorageDescriptor"]["Columns"]}
    assert comments == {name: ibov.descriptions[name] for name, _ in ibov.data_columns}


def test_rerun_replaces_the_partitions_without_duplicates(stack) -> None:
    before = keys(stack.env, "refined/")
    b3(stack.env, "run")
    after = keys(stack.env, "refined/")
    # ativos, header, setores, then the month of historico and concentracao (no mudancas: the
    # first captured session); the unit's manifest (what it was refined from) lives apart
    assert len(after) == len(before) == 84 + 1 + 1 + 1 + 1
    assert keys(stack.env, "manifests/") == ["manifests/refine/IBOV/2025-07-14.json"]
    assert len(partitions(stack.env, "carteira_ativos")) == 84
    assert len(partitions(stack.env, "ibov_ativos")) == 84


def test_failed_glue_run_shows_its_error_and_keeps_the_refined_data(stack) -> None:
    env = stack.env
    s3 = moto_client(env, "s3")
    s3.put_object(Bucket=BUCKET, Key="glue/sql/ativos.sql", Body=b"SELECT FROM WHERE nothing")
    try:
        before = keys(env, "refined/")
        done = b3(env, "run", check=False)
        assert done.returncode == 1
        assert "failed for 2025-07-14: " in done.stderr  # the one Glue run of every index
        assert "completed with status FAILED" in done.stderr
        assert "AnalysisException" in done.stderr and "`nothing` cannot be resolved" in done.stderr
        assert "Traceback" not in done.stderr
        assert keys(env, "refined/") == before
        assert len(partitions(env, "carteira_ativos")) == len(partitions(env, "ibov_ativos")) == 84
    finally:  # the deployed SQL back, for the other tests, even if an assertion failed
        redeployed = b3(env, "deploy", check=False)
    assert redeployed.returncode == 0, redeployed.stderr[-3000:]
    assert "uploaded   s3://b3-lake-e2e/glue/sql/ativos.sql" in redeployed.stdout


def test_query_runs_on_athena(stack) -> None:
    env = stack.env
    columns = [
        {"Name": "acao", "Label": "acao", "Type": "varchar"},
        {"Name": "participacao_pct", "Type": "decimal", "Precision": 7, "Scale": 3},
    ]
    rows = [["acao", "participacao_pct"], ["NU", "11.477"], ["VALE3", "10.211"]]
    body = {
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
                "column_info": columns,
            }
        ]
    }
    response = requests.post(
        f"{env['AWS_ENDPOINT_URL']}/moto-api/static/athena/query-results", json=body, timeout=10
    )
    assert response.status_code == 201
    sql = "SELECT acao, participacao_pct FROM ibov_ativos ORDER BY ranking LIMIT 2"
    done = b3(env, "query", sql, "--format", "csv")
    assert done.stdout.splitlines() == ["acao,participacao_pct", "NU,11.477", "VALE3,10.211"]
    refused = b3(env, "query", "DELETE FROM ibov_ativos", check=False)
    assert refused.returncode == 1 and "only read-only queries" in refused.stderr


def test_missing_bucket_credentials_and_settings_are_clear(stack) -> None:
    env = stack.env
    done = b3(env, "run", check=False, B3_BUCKET="not-deployed-bucket")
    assert done.returncode == 1
    assert "bucket 'not-deployed-bucket' does not exist; run `b3 deploy` first" in done.stderr
    done = b3(env, "deploy", check=False, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    assert done.returncode == 1 and "no AWS credentials found" in done.stderr
    assert "Traceback" not in done.stderr
    done = b3(env, "run", check=False, B3_BUCKET=None)
    assert done.returncode == 1 and "B3_ENV=aws needs B3_BUCKET" in done.stderr


def test_the_job_runs_without_dagster_as_the_lambda_starts_it(stack) -> None:
    """No Pipes arguments: the job still refines, registers and logs its summary."""
    env = stack.env
    script = Path(__file__).resolve().parents[2] / "glue" / "refine_job.py"
    args = ["--bucket", BUCKET, "--database", "b3_refined"]
    # without its manifest the unit counts as changed (an unchanged one is skipped: see
    # tests/aws/test_unchanged_rerun.py), so the job refines and registers it again
    moto_client(env, "s3").delete_object(Bucket=BUCKET, Key="manifests/refine/IBOV/2025-07-14.json")
    since = len(MOTO_REQUESTS)
    done = run_refine_job(script, env, *args, "--units", "IBOV/2025-07-14")
    assert done.returncode == 0, done.stderr[-3000:]
    mark = "job arguments read by awsglue.utils.getResolvedOptions: 1 unit(s), --refine daily"
    assert mark in done.stdout
    # Spark wrote refined/ itself (S3A's agent), boto3 only listed and deleted there
    puts = [r for r in s3_requests(since, BUCKET, "refined/") if r.method == "PUT"]
    assert len(puts) >= 84 and by_spark(puts)
    assert all(k.endswith(".parquet") and "/_" not in k for k in keys(env, "refined/"))
    summary = json.loads(done.stdout.strip().splitlines()[-1])["b3_refine_summary"]
    ativos = summary["tables"]["carteira_ativos"]
    assert ativos["rows_by_unit"] == {"IBOV/2025-07-14": 84}
    kept = {"added": 0, "removed": 0, "kept": 84}
    assert ativos["catalog_partitions"] == ativos["index_table_partitions"] == kept
    assert ativos["index_table"].startswith("b3_refined.ibov_ativos")
    assert len(partitions(env, "carteira_ativos")) == len(partitions(env, "ibov_ativos")) == 84
    bad = run_refine_job(script, env, *args, "--units", "IBOV/2025-07-14,../../x", timeout=60)
    assert bad.returncode == 2
    assert "B3 REFINE JOB FAILED: --units: '../../x' is not INDEX/YYYY-MM-DD" in bad.stderr
