"""A re-run of unchanged data rewrites nothing on S3: the job skips a unit whose raw object, whose
neighbours' raw objects and whose contract version are what its manifest recorded, before Spark
reads or writes anything. The bucket is versioned, so every PUT, COPY or DELETE under refined/
(or manifests/) leaves a new version or a delete marker: equal version listings are zero writes,
counted.

The job runs as deployed (`b3 deploy`'s definition, the local runner), as Glue would."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.deploy import Target, deploy
from b3_assets.capture.bronze import write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.source.b3_client import canonical_json
from b3_assets.testing.glue_local import LocalGlueJobRuns
from b3_assets.testing.sample import sample_portfolio
from b3_contract.lake_keys import Unit, raw_object_key

pytestmark = pytest.mark.spark

FETCHED_AT = datetime(2025, 3, 12, 21, 5, 7, tzinfo=UTC)
EARLIER, LATER = Unit("IBOV", date(2025, 3, 11)), Unit("IBOV", date(2025, 3, 12))
IBXX = Unit("IBXX", date(2025, 3, 12))
UNITS = (EARLIER, LATER, IBXX)


def bronze(fixtures_dir: Path, data_dir: Path, unit: Unit, fetched_at: datetime) -> Path:
    """The unit's bronze file (IBOV's real download, IBXX's offline sample) as captured at
    `fetched_at`: another capture time is other bytes of the same portfolio."""
    if unit.index == "IBOV":
        raw = (fixtures_dir / f"portfolio_day_IBOV_seg1_{unit.day}.json").read_bytes()
    else:
        raw = canonical_json(sample_portfolio(unit.day, 2, unit.index))
    capture, _ = write_raw(data_dir, raw, "http://b3/x", fetched_at, unit.index)
    return write_bronze(data_dir, json.loads(raw), capture)


def versions(s3, bucket: str) -> set[tuple[str, str]]:
    """Every version and delete marker the job may write (refined/ and the manifests):
    (key, version id)."""
    found = set()
    paginator = s3.get_paginator("list_object_versions")
    for prefix in ("refined/", "manifests/"):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                found.add((item["Key"], item["VersionId"]))
    return found


def refine(runs: LocalGlueJobRuns, units: tuple[Unit, ...]) -> str:
    """One run of the deployed job for the units, which must succeed: its log."""
    arguments = {"--units": ",".join(map(str, units))}
    run_id = runs.start_job_run(JobName="b3-refine", Arguments=arguments)["JobRunId"]
    deadline = time.monotonic() + 900
    while (run := runs.get_job_run("b3-refine", run_id)["JobRun"])["JobRunState"] == "RUNNING":
        assert time.monotonic() < deadline, "the job run took over 900 s"
    log = (Path(runs.keep_logs or ".") / f"{run_id}.log").read_text(errors="replace")
    assert run["JobRunState"] == "SUCCEEDED", log[-3000:]
    return log


def summary_of(log: str) -> dict:
    [line] = [line for line in log.splitlines() if line.startswith('{"b3_refine_summary"')]
    return json.loads(line)["b3_refine_summary"]


@pytest.mark.timeout(2400)  # four Spark runs of the job, each minutes on a loaded machine
def test_an_unchanged_rerun_writes_nothing_and_a_change_refines_again(
    aws, fixtures_dir, tmp_path
) -> None:
    target = Target(aws.bucket, "b3_refined", "b3-refine", "b3-lake-glue", "us-east-1")
    clients = {name: aws_mod.client(name) for name in ("s3", "glue", "iam", "sts")}
    deploy(clients, target)
    s3 = clients["s3"]
    s3.put_bucket_versioning(Bucket=aws.bucket, VersioningConfiguration={"Status": "Enabled"})
    runs = LocalGlueJobRuns(clients["glue"], s3, keep_logs=tmp_path / "logs")
    for unit in UNITS:
        path = bronze(fixtures_dir, tmp_path / "data", unit, FETCHED_AT)
        s3.upload_file(str(path), aws.bucket, raw_object_key(unit))

    first = summary_of(refine(runs, UNITS))
    assert first["tables"]["carteira_header"]["rows_by_unit"] == dict.fromkeys(map(str, UNITS), 1)
    built = versions(s3, aws.bucket)
    assert any(key.startswith("refined/ativos/indice=IBOV/data=2025-03-12/") for key, _ in built)

    # the same run again: every unit skipped, not one PUT, COPY or DELETE under refined/ (or of
    # a manifest)
    log = refine(runs, UNITS)
    assert versions(s3, aws.bucket) == built
    assert "unchanged since their last refine (raw objects and contract version): 3 unit(s)" in log
    again = summary_of(log)["tables"]
    # what Dagster records for the skipped units: their rows as built, nothing written
    assert (
        again["carteira_ativos"]["rows_by_unit"]
        == first["tables"]["carteira_ativos"]["rows_by_unit"]
    )
    assert again["carteira_ativos"]["files"] == 0
    assert again["carteira_ativos"]["units_unchanged"] == list(map(str, UNITS))

    # a replaced raw object (other bytes of IBOV/2025-03-12): refined again, and its neighbour
    # 2025-03-11 too (its month file and change list read it); IBXX stays untouched
    replaced = bronze(fixtures_dir, tmp_path / "again", LATER, datetime(2025, 3, 13, tzinfo=UTC))
    s3.upload_file(str(replaced), aws.bucket, raw_object_key(LATER))
    log = refine(runs, UNITS)
    assert (
        "unchanged since their last refine (raw objects and contract version): 1 unit(s), "
        "skipped: IBXX/2025-03-12" in log
    )
    written = {key for key, _ in versions(s3, aws.bucket) - built}
    assert any(key.startswith("refined/ativos/indice=IBOV/data=2025-03-12/") for key in written)
    assert any(key.startswith("refined/ativos/indice=IBOV/data=2025-03-11/") for key in written)
    assert "manifests/refine/IBOV/2025-03-12.json" in written
    assert not any("indice=IBXX" in key or "/IBXX/" in key for key in written)
    built = versions(s3, aws.bucket)

    # a changed contract version (header.sql as deployed): every unit refined again
    sql = s3.get_object(Bucket=aws.bucket, Key="glue/sql/header.sql")["Body"].read()
    s3.put_object(Bucket=aws.bucket, Key="glue/sql/header.sql", Body=sql + b"\n-- reviewed\n")
    log = refine(runs, (IBXX,))
    assert "unchanged since their last refine" not in log
    written = {key for key, _ in versions(s3, aws.bucket) - built}
    assert any(key.startswith("refined/header/indice=IBXX/data=2025-03-12/") for key in written)
    assert summary_of(log)["tables"]["carteira_header"]["rows_by_unit"] == {str(IBXX): 1}
