"""The whole AWS run on the job's own code path (issue 22, part 7): `b3 deploy`, `b3 run --index
IBOV --index SMLL`, `b3 import` of the six 2025 IBOV CSVs and `b3 backfill`, with the Glue job
run here (B3_GLUE_RUNNER=local) and Spark reading `raw/` and writing `refined/` of the moto
bucket itself through S3A. Then the same units refined by the local engine from the same raw
objects: the refined objects (partition folders), the Glue partitions and the rows read back
from the bucket equal the local lake's, and nothing but data files is left under `refined/`."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import (
    CSV_DATES,
    MOTO_REQUESTS,
    bucket_keys,
    by_spark,
    s3_requests,
    use_dagster_on_aws,
)

from b3_assets import cli
from b3_assets.testing import glue_local
from b3_contract.tables import CATALOG_TABLES

pytestmark = pytest.mark.spark

DAY = date(2025, 7, 14)
DATABASE = "b3_refined"
ARGUMENTS_MARK = "job arguments read by awsglue.utils.getResolvedOptions: "
SUMMARY_MARK = '{"b3_refine_summary"'


@pytest.fixture
def job_logs(tmp_path, monkeypatch) -> Path:
    """Where the local runner keeps each job run's log (it removes them otherwise)."""
    logs = tmp_path / "job-logs"
    finish = glue_local.LocalGlueJobRuns._finish

    def keep(self, run) -> None:
        self.keep_logs = logs
        finish(self, run)

    monkeypatch.setattr(glue_local.LocalGlueJobRuns, "_finish", keep)
    return logs


def download_rows(s3, bucket: str, keys: list[str], into: Path) -> dict[str, list]:
    """{partition folder under refined/: sorted rows of its files} of the bucket's objects."""
    folders: dict[str, list] = defaultdict(list)
    for number, key in enumerate(keys):
        path = into / f"{number}.parquet"
        s3.download_file(bucket, key, str(path))
        folders[key.removeprefix("refined/").rsplit("/", 1)[0]] += _rows(path)
    return {folder: sorted(rows) for folder, rows in folders.items()}


def local_rows(root: Path) -> dict[str, list]:
    folders: dict[str, list] = defaultdict(list)
    for path in sorted(root.rglob("*.parquet")):
        folders[path.parent.relative_to(root).as_posix()] += _rows(path)
    return {folder: sorted(rows) for folder, rows in folders.items()}


def _rows(path: Path) -> list[tuple]:
    """A file's rows as (column, value) tuples in column-name order (Parquet is read by name)."""
    return [tuple(sorted(row.items())) for row in pq.ParquetFile(path).read().to_pylist()]


def glue_partitions(glue, table: str) -> set[tuple[str, ...]]:
    pages = glue.get_paginator("get_partitions").paginate(DatabaseName=DATABASE, TableName=table)
    return {tuple(p["Values"]) for page in pages for p in page["Partitions"]}


@pytest.mark.timeout(3000)  # four Glue runs on S3A and a local refine: over 1,500 s at load 5-7
def test_the_whole_aws_run_on_s3a_equals_the_local_engine(
    aws, b3_both, data_dir, csv_files, job_logs, monkeypatch, tmp_path, capsys
) -> None:
    use_dagster_on_aws(monkeypatch, data_dir, b3_both.api_url)
    s3, glue = aws.client("s3"), aws.client("glue")
    since = len(MOTO_REQUESTS)

    assert cli.main(["deploy"]) == 0
    assert cli.main(["run", "--index", "IBOV", "--index", "SMLL"]) == 0
    assert cli.main(["import", *map(str, csv_files)]) == 0
    assert cli.main(["backfill", "--from", "2025-02-20", "--to", "2025-07-14"]) == 0
    out = capsys.readouterr().out
    for day in CSV_DATES:  # Dagster launched the Glue refine: one result line per date
        assert f"imported IBOV {day}: " in out, out[-3000:]

    # Spark itself: every object written under refined/ was written by S3A, and each raw
    # object was read by S3A (Dagster's checks also read it, with boto3, after the job)
    raw = bucket_keys(s3, aws.bucket, "raw/")
    assert len(raw) == 8  # IBOV: 2025-07-14 and the six imports; SMLL: 2025-07-14
    for key in raw:
        gets = [r for r in s3_requests(since, aws.bucket, key) if r.method == "GET"]
        assert any(r.user_agent.startswith("Hadoop ") for r in gets), (key, gets)
    puts = [r for r in s3_requests(since, aws.bucket, "refined/") if r.method == "PUT"]
    assert by_spark(puts), [r for r in puts if not r.user_agent.startswith("Hadoop ")][:3]
    refined = bucket_keys(s3, aws.bucket, "refined/")
    leftovers = [
        key
        for key in refined
        if not key.endswith(".parquet") or any(p[:1] in "_." for p in key.split("/"))
    ]
    assert refined and leftovers == []

    # the job's arguments went through Glue's own parser in every run: one for `b3 run`, one per
    # range of consecutive sessions for `b3 import` (02-20, 02-24, 03-05..06, 03-11..12) and for
    # `b3 backfill` (those, and 07-14 of both indices)
    logs = sorted(job_logs.glob("*.log"))
    assert len(logs) == 1 + 4 + 5
    for log in logs:
        marks = [line for line in log.read_text().splitlines() if line.startswith(ARGUMENTS_MARK)]
        assert marks and marks[0].endswith("on the local runner (S3A)"), log.read_text()[-2000:]
    # the backfill wrote nothing for the units whose inputs had not changed since they were
    # refined: SMLL's 07-14 and IBOV's 03-11..12 (imported last, after their neighbours); every
    # other unit was refined before a neighbour arrived, so its manifest was stale
    unchanged = set()
    for log in logs:
        [line] = [x for x in log.read_text().splitlines() if x.startswith(SUMMARY_MARK)]
        tables = json.loads(line)["b3_refine_summary"]["tables"]
        unchanged |= set(tables["carteira_ativos"].get("units_unchanged", []))
    assert unchanged == {"SMLL/2025-07-14", "IBOV/2025-03-11", "IBOV/2025-03-12"}

    # The local engine over the same raw objects (the bronze files the bucket holds)
    lake = data_dir / "lake"
    for key in raw:
        (lake / key).parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(aws.bucket, key, str(lake / key))
    monkeypatch.setenv("B3_ENV", "local")
    assert cli.main(["backfill", "--from", "2025-02-20", "--to", "2025-07-14"]) == 0
    on_s3 = download_rows(s3, aws.bucket, refined, tmp_path)
    here = local_rows(lake / "refined")
    assert sorted(on_s3) == sorted(here)  # the same partition folders, table by table
    different = [folder for folder in here if on_s3[folder] != here[folder]]
    assert different == [], different[:3]
    tables = {folder.split("/")[0] for folder in here}
    assert tables >= {"ativos", "header", "setores", "historico", "mudancas", "concentracao"}

    # the Glue catalog holds exactly those partitions
    for name in ("carteira_ativos", "carteira_header", "carteira_setores", "carteira_historico"):
        table = CATALOG_TABLES[name]
        folders = {f for f in here if f.startswith(table.prefix.removeprefix("refined/") + "/")}
        expected = {
            tuple(part.split("=", 1)[1] for part in folder.split("/")[1:]) for folder in folders
        }
        assert glue_partitions(glue, name) == expected, name
