"""`b3 run` on AWS (moto) with B3 serving a preview, the Glue job run here on pyspark
(B3_GLUE_RUNNER=local, B3_TRIGGER=dagster): the daily refine and the preview refine are two runs
of the deployed job (`--refine daily`, then `--refine previews`, through Pipes), and the bucket and
the Glue Data Catalog hold the preview's two tables beside the daily ones."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import bucket_keys, use_dagster_on_aws

from b3_assets import cli
from b3_assets.aws import clients as aws_mod
from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3
from b3_assets.testing.glue_local import LocalGlueJobRuns
from b3_contract.glue_runs import job_runs
from b3_contract.tables import PREVIEW_TABLES

pytestmark = pytest.mark.spark

DAY = date(2025, 7, 14)
DATABASE = "b3_refined"


@pytest.fixture
def b3_with_preview(fixtures_dir: Path):
    """B3 serving IBOV's real 2025-07-14 (3 pages) and, as the preview, its real pt-BR
    GetTheoricalPortfolio answer (92 rows)."""
    fake = FakeB3(max_page_size=40)
    fake.serve_file(fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json", segment=2)
    preview = (fixtures_dir / "theorical_portfolio_IBOV_pt-br.json").read_bytes()
    fake.serve_theoretical("preview", "IBOV", preview)
    with RunningFakeB3(fake) as running:
        yield running


@pytest.fixture
def on_aws(aws, b3_with_preview, data_dir, monkeypatch):
    use_dagster_on_aws(monkeypatch, data_dir, b3_with_preview.api_url)
    return aws


def partitions(glue, table: str) -> list[tuple[str, ...]]:
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=DATABASE, TableName=table)
    return sorted(tuple(p["Values"]) for page in pages for p in page["Partitions"])


def test_run_on_aws_refines_the_preview_in_its_own_glue_run(on_aws, capsys) -> None:
    s3, glue = on_aws.client("s3"), on_aws.client("glue")
    local = LocalGlueJobRuns(aws_mod.client("glue"), aws_mod.client("s3"))
    assert cli.main(["deploy"]) == 0
    earlier = {run["Id"] for run in job_runs(local, "b3-refine")}  # shared by this machine

    assert cli.main(["run"]) == 0
    out = capsys.readouterr().out

    runs = [run for run in job_runs(local, "b3-refine") if run["Id"] not in earlier]
    assert sorted((run["Arguments"]["--refine"], run["JobRunState"]) for run in runs) == [
        ("daily", "SUCCEEDED"),
        ("previews", "SUCCEEDED"),
    ]
    assert {run["Arguments"]["--units"] for run in runs} == {"IBOV/2025-07-14"}
    assert bucket_keys(s3, on_aws.bucket, "previa/raw/") == [
        "previa/raw/IBOV/2025-07-14/dados_originais.parquet"
    ]
    for table in PREVIEW_TABLES.values():
        written = bucket_keys(s3, on_aws.bucket, f"{table.prefix}/")
        assert len(written) == 1, table.name
        assert written[0].startswith(f"{table.prefix}/indice=IBOV/data=2025-07-14/")
        assert partitions(glue, table.name) == [("IBOV", "2025-07-14")]
    assert len(partitions(glue, "carteira_ativos")) == 84  # the daily run's, beside them
    # what `b3 run` prints of the preview comes from the preview run's summary
    assert "preview  2025-09 captured on 2025-07-14" in out
    assert "against the portfolio of 2025-07-14" in out
