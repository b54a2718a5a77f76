"""b3-lake benchmark: prints a table of wall times on this machine (not a test).

  python bench/bench.py            # everything (a few minutes on 2 cores)
  python bench/bench.py --quick    # 3 `b3 run`s, 60 per-date runs extrapolated to 250

Measures:
1. `b3 run` for one date, as a subprocess against the local B3 server (pages capped at 40):
   a cold run into an empty data dir, and a re-run (capture kept, nothing rewritten).
2. Refining 250 synthetic trading dates (2025) with the Dagster refined assets and their
   blocking checks (what `ibov_refine` runs): one single-run
   backfill versus 250 separate per-date runs (one run per file, as public implementations
   of this pipeline start one Glue run per file). Same assets, same engine, same lake.
3. Queries over those 250 dates through the local catalog.
4. The AWS path against a moto server on loopback with the Glue job run here on pyspark
   (B3_GLUE_RUNNER=local): `b3 deploy`, `b3 run`, and where the refine step's time goes
   (Spark start, Spark SQL and writes, S3 uploads, Glue catalog calls, launch and Pipes).
   `--only aws` runs just this part.
5. Automation (`--only automation`): the Lambda handler on a 1,000-record S3 event, the raw/
   sensor's tick over 250 raw objects (local folder and moto S3: first tick and a steady tick),
   and the Glue job runs sensor's tick over 250 finished runs on moto.
6. Data quality (`--only quality`): the bronze, refined and drift asset checks over the 250
   refined dates in one range run (a verdict per date and rule), and for one date.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg

from b3_assets.capture.bronze import write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.defs.assets import ibov_catalog, ibov_refined_tables
from b3_assets.defs.checks import ibov_refined_checks
from b3_assets.defs.partitions import range_tags
from b3_assets.defs.resources import resources_for
from b3_assets.defs.results import problem
from b3_assets.lake.local import LocalLake
from b3_assets.refine.catalog import run_query
from b3_assets.settings import Settings
from b3_assets.source.b3_client import canonical_json
from b3_assets.source.trading_calendar import trading_days
from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3
from b3_assets.testing.sample import sample_portfolio
from b3_contract.lake_keys import raw_object_key

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/b3/portfolio_day_IBOV_seg2_2025-07-14.json"
B3 = Path(sys.executable).parent / "b3"
ROWS: list[tuple[str, str, str]] = []
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def stop_on_problem(result: dg.ExecuteInProcessResult, what: str) -> None:
    """A figure of a failed run would be meaningless: stop with its reason."""
    message = problem(result, what)
    if message:
        raise SystemExit(f"bench: {message}")


def report(what: str, seconds: float, note: str = "") -> None:
    ROWS.append((what, f"{seconds:8.2f} s", note))
    print(f"  {what}: {seconds:.2f} s {note}", file=sys.stderr, flush=True)


def bench_b3_run(runs: int) -> None:
    fake = FakeB3(max_page_size=40)
    if FIXTURE.exists():
        fake.serve_file(FIXTURE, segment=2)
        source = "real 2025-07-14 response"
    else:
        fake.serve(sample_portfolio(date(2025, 7, 14)), segment=2)
        source = "sample 2025-07-14 response"
    cold, warm = [], []
    with RunningFakeB3(fake) as server, tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            env = os.environ | {"B3_DATA_DIR": f"{tmp}/run{n}", "B3_API_URL": server.api_url}
            env.pop("DAGSTER_HOME", None)
            for bucket in (cold, warm):
                start = time.perf_counter()
                subprocess.run([str(B3), "run"], env=env, check=True, capture_output=True)
                bucket.append(time.perf_counter() - start)
    report(
        "b3 run, one date, empty data dir (median)",
        statistics.median(cold),
        f"{runs} runs, {source}, 3 pages",
    )
    report("b3 run, same date again (median)", statistics.median(warm), "nothing rewritten")


def synthetic_lake(data_dir: Path, days: list[date]) -> None:
    lake = LocalLake(data_dir / "lake")
    for day in days:
        response = sample_portfolio(day)
        capture, _ = write_raw(
            data_dir, canonical_json(response), "bench", datetime.now(UTC), "IBOV"
        )
        path = write_bronze(data_dir, response, capture)
        lake.put_file(f"raw/{day.isoformat()}/dados_originais.parquet", path)


def bench_refine(per_date_runs: int) -> Path:
    days = trading_days(date(2025, 1, 1), date(2025, 12, 31))
    data_dir = Path(tempfile.mkdtemp(prefix="b3-bench-"))
    start = time.perf_counter()
    synthetic_lake(data_dir, days)
    report(f"generate {len(days)} synthetic dates (raw+bronze+lake)", time.perf_counter() - start)
    resources = resources_for(Settings(data_dir=data_dir))
    assets = [ibov_refined_tables, ibov_catalog, ibov_refined_checks]  # what ibov_refine runs
    instance = dg.DagsterInstance.ephemeral()

    start = time.perf_counter()
    result = dg.materialize(
        assets,
        resources=resources,
        instance=instance,
        run_config=QUIET,
        tags=range_tags(days[0], days[-1]),
    )
    single = time.perf_counter() - start
    stop_on_problem(result, f"{days[0]}..{days[-1]}")
    files = sum(1 for _ in (data_dir / "lake/refined/ativos").glob("data=*/acao=*/*.parquet"))
    report(
        f"refine {len(days)} dates, ONE single-run backfill",
        single,
        f"{files} ativos partition files",
    )

    sample = days[:per_date_runs]
    if not sample:
        return data_dir
    start = time.perf_counter()
    for day in sample:
        result = dg.materialize(
            assets,
            resources=resources,
            instance=instance,
            partition_key=day.isoformat(),
            run_config=QUIET,
        )
        stop_on_problem(result, str(day))
    per_date = (time.perf_counter() - start) * len(days) / len(sample)
    note = (
        ""
        if len(sample) == len(days)
        else f"({len(sample)} runs measured, x{len(days)}/{len(sample)})"
    )
    report(f"refine {len(days)} dates, {len(days)} per-date runs", per_date, note)
    ROWS.append(("speed-up of the single run", f"{per_date / single:8.1f} x", ""))
    return data_dir


def bench_quality(data_dir: Path) -> None:
    """The asset checks over the 250 refined dates: one range run, then one date."""
    from b3_assets.defs.assets import ALL_ASSETS
    from b3_assets.defs.checks import (
        ALL_CHECKS,
        ibov_bronze_checks,
        ibov_drift_check,
        ibov_refined_checks,
    )

    days = trading_days(date(2025, 1, 1), date(2025, 12, 31))
    resources = resources_for(Settings(data_dir=data_dir))
    selection = dg.AssetSelection.checks(ibov_bronze_checks, ibov_refined_checks, ibov_drift_check)
    for label, extra in (
        (
            f"asset checks, {len(days)} dates in one range run",
            {"tags": range_tags(days[0], days[-1])},
        ),
        ("asset checks, one date", {"tags": range_tags(days[-1], days[-1])}),
    ):
        start = time.perf_counter()
        result = dg.materialize(
            [*ALL_ASSETS, *ALL_CHECKS],
            selection=selection,
            resources=resources,
            run_config=QUIET,
            raise_on_error=False,
            **extra,
        )
        seconds = time.perf_counter() - start
        verdicts = [
            e.event_specific_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.partition
        ]
        failed = sum(not v.passed for v in verdicts)
        report(label, seconds, f"{len(verdicts)} per-date verdicts, {failed} failed")


def bench_queries(data_dir: Path) -> None:
    catalog = data_dir / "catalog.duckdb"
    queries = {
        "sector weights over 250 dates": (
            "SELECT setor, count(DISTINCT data) AS dias, avg(participacao_pct) AS media "
            "FROM ibov_ativos GROUP BY setor ORDER BY media DESC"
        ),
        "one ticker's history (partition pruning)": (
            "SELECT data, participacao_pct, ranking FROM ibov_ativos "
            "WHERE acao = 'PETR4' ORDER BY data"
        ),
    }
    for what, sql in queries.items():
        start = time.perf_counter()
        result = run_query(catalog, sql)
        report(
            f"query: {what}", time.perf_counter() - start, f"{len(result.rows)} rows, in-process"
        )
    env = os.environ | {"B3_DATA_DIR": str(data_dir)}
    start = time.perf_counter()
    subprocess.run(
        [str(B3), "query", queries["sector weights over 250 dates"]],
        env=env,
        check=True,
        capture_output=True,
    )
    report("b3 query (CLI process), sector weights", time.perf_counter() - start)


def bench_aws(runs: int, backfill_dates: int) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    from b3_assets.aws import clients as aws
    from b3_assets.aws.deploy import Target, deploy
    from b3_assets.lake.s3 import S3Lake

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    bucket = "b3-lake-bench"
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
        }
    )
    target = Target(bucket, "b3_refined", "b3-refine", "b3-lake-glue", "us-east-1")
    clients = {name: aws.client(name) for name in ("s3", "glue", "iam", "sts")}
    start = time.perf_counter()
    deploy(clients, target)
    report("AWS: deploy (first, in-process)", time.perf_counter() - start, "moto")
    fake = FakeB3(max_page_size=40)
    fake.serve_file(FIXTURE, segment=2)
    with RunningFakeB3(fake) as b3_server, tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {
            "B3_ENV": "aws",
            "B3_GLUE_RUNNER": "local",
            "B3_BUCKET": bucket,
            "B3_DATA_DIR": str(Path(tmp) / "data"),
            "B3_API_URL": b3_server.api_url,
        }
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([str(B3), "run"], env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        report("AWS: b3 run, one date (first)", times[0], "moto + local Glue runner, 3 pages")
        if len(times) > 1:
            report("AWS: b3 run, re-run (median)", statistics.median(times[1:]), f"{runs - 1} runs")

        settings = Settings(
            env="aws", glue_runner="local", bucket=bucket, data_dir=Path(tmp) / "data"
        )
        resources = resources_for(settings)
        start = time.perf_counter()
        result = dg.materialize(
            [ibov_refined_tables], resources=resources, partition_key="2025-07-14", run_config=QUIET
        )
        step = time.perf_counter() - start
        meta = result.asset_materializations_for_node("ibov_refined_tables")[0].metadata
        phases = meta["glue_job_seconds"].value
        calls = meta["glue_job_aws_calls"].value
        report("AWS: refine step, one date (in-process)", step, "materialize of the refined assets")
        for phase, seconds in phases.items():
            report(f"  of which job: {phase}", seconds, "")
        report(
            "  of which launch, job process start, Pipes",
            step - sum(phases.values()),
            "python + imports of the job, S3 context/messages, polling",
        )
        ROWS.append(("  job's AWS calls", str(calls), "counted by botocore hooks in the job"))

        days = trading_days(date(2025, 1, 2), date(2025, 12, 30))[:backfill_dates]
        local = Path(tmp) / "synthetic"
        synthetic_lake(local, days)
        lake = S3Lake(aws.client("s3"), bucket)
        start = time.perf_counter()
        for day in days:
            key = raw_object_key(day)
            lake.put_file(key, LocalLake(local / "lake").path(key))
        report(f"AWS: upload {len(days)} raw objects", time.perf_counter() - start, "")
        start = time.perf_counter()
        result = dg.materialize(
            [ibov_refined_tables, ibov_catalog],
            resources=resources,
            tags=range_tags(days[0], days[-1]),
            run_config=QUIET,
        )
        meta = result.asset_materializations_for_node("ibov_refined_tables")[0].metadata
        report(
            f"AWS: refine {len(days)} dates in one Glue run",
            time.perf_counter() - start,
            f"job phases {meta['glue_job_seconds'].value}",
        )
    server.stop()


def _moto(bucket: str):
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",  # what the Lambda runtime sets
            "B3_BUCKET": bucket,
        }
    )
    return server


def bench_automation() -> None:
    from dagster_aws.s3 import S3Resource

    from b3_assets.aws import clients as aws
    from b3_assets.defs.resources import LocalLakeResource
    from b3_assets.defs.resources.aws import S3LakeResource
    from b3_assets.defs.resources.glue_runs import GlueJobRunsResource
    from b3_assets.defs.sensors import build_glue_job_runs_sensor, build_raw_objects_sensor
    from lambda_fn import handler

    bucket = "b3-lake-bench-automation"
    server = _moto(bucket)
    days = trading_days(date(2025, 1, 1), date(2025, 12, 31))
    glue, s3 = aws.client("glue"), aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    glue.create_job(
        Name="b3-refine",
        Role="arn:aws:iam::123456789012:role/r",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/glue/refine_job.py"},
        ExecutionProperty={"MaxConcurrentRuns": 1000},
    )
    records = [
        {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "eventTime": "2025-07-14T12:00:00.000Z",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
        }
        for i in range(1000)
        for key in [
            f"raw/{days[i % 5]}/dados_originais.parquet" if i % 2 else f"junk/{i}%3Dx.parquet"
        ]
    ]
    start = time.perf_counter()
    plan = handler.plan_runs({"Records": records}, bucket)
    report(
        "Lambda: plan of a 1,000-record S3 event",
        time.perf_counter() - start,
        f"({len(plan.runs)} dates, {len(plan.skipped)} skipped)",
    )
    os.environ["B3_GLUE_JOB"] = "b3-refine"
    start = time.perf_counter()
    result = handler.lambda_handler({"Records": records}, None)
    report(
        "Lambda: the whole invocation on moto Glue",
        time.perf_counter() - start,
        f"({len(result['started'])} runs started, client creation included)",
    )

    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        root = Path(tmp) / "lake"
        for day in days:
            path = root / f"raw/{day}/dados_originais.parquet"
            path.parent.mkdir(parents=True)
            path.write_bytes(b"PAR1")
            s3.put_object(Bucket=bucket, Key=f"raw/{day}/dados_originais.parquet", Body=b"PAR1")
        lakes = {
            "local folder": LocalLakeResource(root=str(root)),
            "moto S3": S3LakeResource(s3=S3Resource(region_name="us-east-1"), bucket=bucket),
        }
        sensor = build_raw_objects_sensor(Settings())
        for name, lake in lakes.items():
            with dg.build_sensor_context(instance=instance, resources={"lake": lake}) as context:
                start = time.perf_counter()
                first = sensor(context)
            report(
                f"raw/ sensor, first tick, 250 objects ({name})",
                time.perf_counter() - start,
                f"({len(first.run_requests)} range run request(s))",
            )
            with dg.build_sensor_context(
                instance=instance, cursor=first.cursor, resources={"lake": lake}
            ) as context:
                start = time.perf_counter()
                sensor(context)
            report(f"raw/ sensor, steady tick ({name})", time.perf_counter() - start)

        for day in days[5:]:
            glue.start_job_run(JobName="b3-refine", Arguments={"--dates": str(day)})
        for _ in range(3):
            glue.get_job_runs(JobName="b3-refine")
        sensor = build_glue_job_runs_sensor(Settings(env="aws", bucket=bucket))
        resources = {"glue_job_runs": GlueJobRunsResource()}
        start = time.perf_counter()
        tick = sensor(dg.build_sensor_context(instance=instance, resources=resources))
        report(
            "Glue runs sensor, first tick, 250 finished runs",
            time.perf_counter() - start,
            f"({len(tick.asset_events)} materializations, {len(tick.run_requests)} requests)",
        )
        context = dg.build_sensor_context(
            instance=instance, cursor=tick.cursor, resources=resources
        )
        start = time.perf_counter()
        sensor(context)
        report("Glue runs sensor, steady tick", time.perf_counter() - start)
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", choices=("aws", "automation", "quality"), help="run one part only"
    )
    args = parser.parse_args()
    print(
        f"b3-lake bench: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"dagster {dg.__version__}",
        file=sys.stderr,
    )
    if args.only is None:
        bench_b3_run(3 if args.quick else 7)
        data_dir = bench_refine(60 if args.quick else 250)
        bench_queries(data_dir)
        bench_quality(data_dir)
    if args.only == "quality":
        bench_quality(bench_refine(0))
    if args.only in (None, "aws"):
        bench_aws(2 if args.quick else 4, 20 if args.quick else 60)
    if args.only in (None, "automation"):
        bench_automation()
    width = max(len(r[0]) for r in ROWS)
    print(f"\n{'measure'.ljust(width)} | {'wall time':>10} | note")
    print(f"{'-' * width}-+-{'-' * 10}-+-----")
    for what, value, note in ROWS:
        print(f"{what.ljust(width)} | {value:>10} | {note}")
    print(json.dumps({"rows": ROWS}), file=open(ROOT / "bench" / "last_run.json", "w"))  # noqa: SIM115


if __name__ == "__main__":
    main()
