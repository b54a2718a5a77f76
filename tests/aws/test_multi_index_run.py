"""`b3 run --index IBOV --index IBXX` on AWS (moto), the Glue job run here on pyspark
(B3_GLUE_RUNNER=local): one Glue run refines both indices, and the bucket, the Glue Data Catalog
and Athena hold each index under its own keys and partitions."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
import requests
from conftest import bucket_keys, use_dagster_on_aws

from b3_assets import cli
from b3_assets.aws import clients as aws_mod
from b3_assets.testing.glue_local import LocalGlueJobRuns
from b3_contract.glue_runs import job_runs
from b3_contract.tables import ALL_TABLE_NAMES

pytestmark = pytest.mark.spark

DAY = date(2025, 7, 14)
DATABASE = "b3_refined"


@pytest.fixture
def on_aws(aws, b3_both, data_dir, monkeypatch):
    use_dagster_on_aws(monkeypatch, data_dir, b3_both.api_url)
    return aws


def glue_runs(aws) -> list[dict]:
    """The refine job's runs as B3_GLUE_RUNNER=local records them (for every process here)."""
    local = LocalGlueJobRuns(aws_mod.client("glue"), aws_mod.client("s3"))
    return list(job_runs(local, "b3-refine"))


def partitions(glue, table: str) -> list[tuple[str, ...]]:
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=DATABASE, TableName=table)
    return sorted(tuple(p["Values"]) for page in pages for p in page["Partitions"])


def test_run_of_two_indices_builds_both_in_the_bucket_and_the_catalog(on_aws, capsys) -> None:
    s3, glue = on_aws.client("s3"), on_aws.client("glue")

    assert cli.main(["deploy"]) == 0
    deployed = capsys.readouterr().out
    for name in ALL_TABLE_NAMES:  # the tables exist before any run, with no partition
        assert f"created    glue table {DATABASE}.{name}" in deployed
        assert partitions(glue, name) == []

    earlier = {run["Id"] for run in glue_runs(on_aws)}  # the local runner's record is shared
    assert cli.main(["run", "--index", "IBOV", "--index", "IBXX"]) == 0
    out = capsys.readouterr().out
    [run] = [run for run in glue_runs(on_aws) if run["Id"] not in earlier]
    assert run["Arguments"]["--units"] == "IBOV/2025-07-14,IBXX/2025-07-14"  # one run for both
    assert run["Arguments"]["--bucket"] == on_aws.bucket
    assert run["JobRunState"] == "SUCCEEDED"
    for index in ("IBOV", "IBXX"):
        assert f"{index} 2025-07-14  (" in out
        assert f"s3://{on_aws.bucket}/raw/{index}/2025-07-14/dados_originais.parquet" in out
        assert f"refined/ativos/indice={index}/data=2025-07-14" in out
    bucket = on_aws.bucket
    assert f"s3://{bucket}/refined/ativos/indice=IBOV/data=2025-07-14  [84 rows]" in out
    catalogs = [line.split("[", 1)[1] for line in out.splitlines() if "glue://b3_refined" in line]
    carteira = (
        "carteira_ativos, carteira_concentracao, carteira_header, carteira_historico, "
        "carteira_mudancas, carteira_setores"
    )
    assert catalogs == [  # IBOV, then IBXX: only IBOV is in the ibov_* tables
        f"{carteira}, ibov_ativos, ibov_header, ibov_setores]",
        f"{carteira}]",
    ]

    assert bucket_keys(s3, on_aws.bucket, "raw/") == [
        "raw/IBOV/2025-07-14/dados_originais.parquet",
        "raw/IBXX/2025-07-14/dados_originais.parquet",
    ]
    tickers = {}
    for index in ("IBOV", "IBXX"):
        ativos = bucket_keys(s3, on_aws.bucket, f"refined/ativos/indice={index}/data=2025-07-14/")
        per_ticker = Counter(key.split("/")[4] for key in ativos)
        assert per_ticker and set(per_ticker.values()) == {1}  # one file per ticker
        assert all(name.startswith("acao=") for name in per_ticker)
        tickers[index] = {name.removeprefix("acao=") for name in per_ticker}
        for table in ("header", "setores", "concentracao"):
            prefix = f"refined/{table}/indice={index}/data=2025-07-14/"
            assert len(bucket_keys(s3, on_aws.bucket, prefix)) == 1, prefix
        assert (
            len(bucket_keys(s3, on_aws.bucket, f"refined/historico/indice={index}/mes=2025-07/"))
            == 1
        )
    assert len(tickers["IBOV"]) == 84
    refined = bucket_keys(s3, on_aws.bucket, "refined/")  # no change list: one date of each index
    manifests = [
        "manifests/refine/IBOV/2025-07-14.json",
        "manifests/refine/IBXX/2025-07-14.json",
    ]
    assert bucket_keys(s3, on_aws.bucket, "manifests/") == manifests  # apart from refined/
    assert len(refined) == len(tickers["IBOV"]) + len(tickers["IBXX"]) + 4 + 4
    assert partitions(glue, "carteira_ativos") == sorted(
        (index, "2025-07-14", ticker) for index, names in tickers.items() for ticker in names
    )
    assert partitions(glue, "ibov_ativos") == sorted(("2025-07-14", t) for t in tickers["IBOV"])
    for name in ("carteira_header", "carteira_setores"):
        assert partitions(glue, name) == [("IBOV", "2025-07-14"), ("IBXX", "2025-07-14")], name
    for name in ("ibov_header", "ibov_setores"):
        assert partitions(glue, name) == [("2025-07-14",)], name
    located = glue.get_partition(
        DatabaseName=DATABASE, TableName="carteira_header", PartitionValues=["IBXX", "2025-07-14"]
    )["Partition"]["StorageDescriptor"]["Location"]
    assert located == f"s3://{on_aws.bucket}/refined/header/indice=IBXX/data=2025-07-14/"

    # Athena answers queries over every index (moto returns the results it is given)
    columns = [
        {"Name": "indice", "Label": "indice", "Type": "varchar"},
        {"Name": "n", "Label": "n", "Type": "bigint"},
    ]
    rows = [["indice", "n"], ["IBOV", "84"], ["IBXX", str(len(tickers["IBXX"]))]]
    body = {
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": v} for v in row]} for row in rows],
                "column_info": columns,
            }
        ]
    }
    answer = requests.post(
        f"{on_aws.endpoint}/moto-api/static/athena/query-results", json=body, timeout=10
    )
    assert answer.status_code == 201
    sql = "SELECT indice, count(*) AS n FROM carteira_ativos GROUP BY indice ORDER BY indice"
    assert cli.main(["query", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "indice,n",
        "IBOV,84",
        f"IBXX,{len(tickers['IBXX'])}",
    ]
    athena = on_aws.client("athena")
    [execution_id] = athena.list_query_executions()["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["Query"] == sql
    assert execution["QueryExecutionContext"]["Database"] == DATABASE
