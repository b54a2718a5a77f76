"""How long a reader sees a partition half-replaced while a unit is refined again with new data.

On a moto server on loopback (not AWS): `b3 deploy`, IBOV/2025-07-14 (84 tickers) refined once by
the deployed job (the local runner, B3_GLUE_RUNNER=local), then its raw object replaced by other
bytes (what `b3 import --replace` uploads) and refined again, while a reader polls as Athena plans
a query: the unit's partitions from the Glue catalog (get_partitions), then the objects under
each partition's location (one listing of the unit's folder per table). A partition is
half-replaced when it is missing from the catalog, or its folder holds no Parquet file, or more
than one (old and new together; every table here writes one file per partition). Prints one
JSON object: polls, the poll period, and per state the longest stretch a partition stayed in it
and the time any partition of the unit was in it.

    python bench/rewrite_window.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "b3" / "portfolio_day_IBOV_seg2_2025-07-14.json"
TABLES = ("carteira_ativos", "carteira_header", "carteira_historico", "carteira_concentracao")


def main() -> int:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server._server.server_address[:2]  # type: ignore[union-attr]
    home = Path(tempfile.mkdtemp(prefix="b3-window-"))
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
            "AWS_CONFIG_FILE": str(home / "none"),
        }
    )
    try:
        print(json.dumps(measure(home), indent=1))
    finally:
        server.stop()
    return 0


def measure(home: Path) -> dict:
    from b3_assets.aws import clients as aws
    from b3_assets.aws.deploy import Target, deploy
    from b3_assets.capture.bronze import write_bronze
    from b3_assets.capture.raw import write_raw
    from b3_assets.testing.glue_local import LocalGlueJobRuns
    from b3_contract.glue_tables import unit_expression
    from b3_contract.lake_keys import Unit, raw_object_key
    from b3_contract.tables import PORTFOLIO_TABLES

    bucket, unit = "b3-window", Unit("IBOV", date(2025, 7, 14))
    target = Target(bucket, "b3_refined", "b3-refine", "b3-lake-glue", "us-east-1")
    clients = {name: aws.client(name) for name in ("s3", "glue", "iam", "sts")}
    deploy(clients, target)
    s3, glue = clients["s3"], clients["glue"]
    runs = LocalGlueJobRuns(glue, s3, keep_logs=home / "logs")
    raw = FIXTURE.read_bytes()

    def upload(fetched_at: datetime, folder: str) -> None:
        capture, _ = write_raw(home / folder, raw, "http://b3/x", fetched_at, unit.index)
        path = write_bronze(home / folder, json.loads(raw), capture)
        s3.upload_file(str(path), bucket, raw_object_key(unit))

    def refine() -> float:
        started = time.monotonic()
        run_id = runs.start_job_run(JobName="b3-refine", Arguments={"--units": str(unit)})
        while True:
            run = runs.get_job_run("b3-refine", run_id["JobRunId"])["JobRun"]
            if run["JobRunState"] != "RUNNING":
                break
        if run["JobRunState"] != "SUCCEEDED":
            raise RuntimeError(f"the refine failed: {run.get('ErrorMessage')}")
        return time.monotonic() - started

    upload(datetime(2025, 7, 14, 21, 5, tzinfo=UTC), "first")
    refine()

    def snapshot() -> dict[tuple[str, tuple[str, ...]], str]:
        """Each partition of the unit the catalog holds -> its state, as a reader sees it."""
        seen = {}
        for name in TABLES:
            pages = glue.get_paginator("get_partitions").paginate(
                DatabaseName="b3_refined",
                TableName=name,
                Expression=unit_expression(PORTFOLIO_TABLES[name], unit),
            )
            located = {
                tuple(p["Values"]): p["StorageDescriptor"]["Location"].split(f"s3://{bucket}/")[1]
                for page in pages
                for p in page["Partitions"]
            }
            if not located:
                continue
            # one listing of the unit's (or month's) folder: the objects each partition holds
            common = os.path.commonpath(list(located.values())) + "/"
            keys = [
                item["Key"]
                for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=common
                )
                for item in page.get("Contents", [])
                if item["Key"].endswith(".parquet")
            ]
            for values, prefix in located.items():
                files = sum(1 for key in keys if key.startswith(prefix))
                state = "whole" if files == 1 else ("empty" if not files else "mixed")
                seen[(name, values)] = state
        return seen

    expected = set(snapshot())
    polls: list[tuple[float, dict]] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            moment = time.monotonic()
            seen = snapshot()
            seen |= {key: "missing" for key in expected - set(seen)}
            polls.append((moment, seen))

    upload(datetime(2025, 7, 15, 9, 0, tzinfo=UTC), "replaced")  # other bytes, same unit
    thread = threading.Thread(target=reader)
    thread.start()
    seconds = refine()
    done.set()
    thread.join()

    longest: dict[str, float] = {}
    any_time: dict[str, float] = {}
    open_since: dict[tuple, float] = {}
    for (moment, seen), (after, _) in zip(polls, [*polls[1:], (polls[-1][0], {})], strict=True):
        for state in ("empty", "mixed", "missing"):
            if any(value == state for value in seen.values()):
                any_time[state] = any_time.get(state, 0.0) + (after - moment)
        for key, state in seen.items():
            if state == "whole":
                open_since.pop((key, "empty"), None)
                open_since.pop((key, "mixed"), None)
                open_since.pop((key, "missing"), None)
                continue
            start = open_since.setdefault((key, state), moment)
            longest[state] = max(longest.get(state, 0.0), after - start)
    period = (polls[-1][0] - polls[0][0]) / max(len(polls) - 1, 1)
    return {
        "where": "moto server on loopback, job on local pyspark (not AWS)",
        "partitions_of_the_unit": len(expected),
        "refine_seconds": round(seconds, 1),
        "polls": len(polls),
        "poll_period_seconds": round(period, 3),
        "longest_seconds_one_partition_half_replaced": {k: round(v, 3) for k, v in longest.items()},
        "seconds_any_partition_half_replaced": {k: round(v, 3) for k, v in any_time.items()},
    }


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
