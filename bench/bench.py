"""b3-lake benchmark: prints a table of wall times on this machine (not a test).

  python bench/bench.py            # everything (about 25 minutes on 2 cores)
  python bench/bench.py --quick    # 3 `b3 run`s, 60 per-date runs extrapolated to 250; no part 7
  python bench/bench.py --only indices [--keep]   # part 7 alone (about 6 minutes)

Measures:
1. `b3 run` for one date, as a subprocess against the local B3 server (pages capped at 40):
   a cold run into an empty data dir, and a re-run (capture kept, nothing rewritten).
2. Refining 250 synthetic IBOV trading dates (2025) with the Dagster refine stages and the
   refined checks (what the `refine` job runs for IBOV): one single-run
   backfill versus 250 separate per-date runs (one run per file, as public implementations
   of this pipeline start one Glue run per file). Same assets, same engine, same lake.
3. Queries over those 250 dates through the local catalog (ibov_ativos and carteira_ativos).
4. The AWS path against a moto server on loopback with the Glue job run here on pyspark
   (B3_GLUE_RUNNER=local, Spark reading and writing the bucket itself through S3A): `b3 deploy`,
   `b3 run`, and where the refine step's time goes for one date and for 20 dates in one run
   (Spark start, Spark SQL and S3A writes, removal of stale objects, Glue catalog calls, launch
   and Pipes). `--only aws` runs just this part.
5. Automation (`--only automation`): the Lambda handler on a 1,000-record S3 event, the raw/
   sensor's tick over 250 raw objects (local folder and moto S3: first tick and a steady tick),
   and the Glue job runs sensor's tick over 250 finished runs on moto.
6. Data quality (`--only quality`): the bronze, refined and drift asset checks over the 250
   refined dates in one range run (a verdict per date and rule), and for one date.
7. Every index (`--only indices`, issue 12's targets): `b3 run` of 5 indices against 1 from the
   local B3 server (3 cold runs each, alternating); one `b3 import` of 1,000 CSVs (4 indices x
   250 sessions of 2025, written by `sample_csv` as B3 writes its downloads), then the same
   1,000 again 3 times (no file of the data dir may change: mtime_ns and size of every file);
   a year of one index queried on carteira_ativos against the same on ibov_ativos, on that
   4-index lake (5 times each), with DuckDB's listing of the files each view covers.
   `--keep` keeps that data dir and its CSVs for a closer look.
8. Analytics (`--only analytics`, issue 13's targets): a 250-date single-run refine of IBOV and
   what the analytic tables and their charts take of it; sector weights by date over the year on
   carteira_historico against the same on carteira_ativos (in-process, median of 7, after one
   warm-up); `b3 report` over the 250 dates as a CLI process (median of 3).
9. Previews (`--only previews`, issue 14): a preview season (5 indices x the 14 sessions before
   the Sep 2025 rebalance and its first session, offline sample) captured in one run and refined
   in one run; one session of the 5 indices with and without the preview stages (median of 3);
   the "who enters and leaves" query.

Timings on a shared machine are noisy: the table starts and ends with the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from b3_assets.capture.bronze import write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.defs.assets import CAPTURE_STAGES, REFINE_STAGES, build_assets, stage_keys
from b3_assets.defs.checks import build_checks
from b3_assets.defs.partitions import range_tags
from b3_assets.defs.resources import resources_for
from b3_assets.defs.results import materialized_metadata, problem
from b3_assets.lake.local import LocalLake
from b3_assets.refine.catalog import run_query
from b3_assets.settings import Settings
from b3_assets.source.b3_client import canonical_json
from b3_assets.source.trading_calendar import trading_days
from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3
from b3_assets.testing.sample import sample_csv, sample_portfolio
from b3_contract.lake_keys import Unit, raw_object_key
from b3_contract.tables import TABLES

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
            env = b3_env(Path(tmp) / f"run{n}", B3_API_URL=server.api_url)
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


def synthetic_lake(data_dir: Path, days: list[date], indices: tuple[str, ...] = ("IBOV",)) -> None:
    """Raw, bronze and the lake's raw objects of `indices` x `days` from the sample generator."""
    lake = LocalLake(data_dir / "lake")
    for index in indices:
        for day in days:
            response = sample_portfolio(day, 2, index)
            capture, _ = write_raw(
                data_dir, canonical_json(response), "bench", datetime.now(UTC), index
            )
            path = write_bronze(data_dir, response, capture)
            lake.put_file(raw_object_key(Unit(index, day)), path)


def refine_selection() -> tuple[list, list[dg.AssetKey]]:
    """What the `refine` job runs for IBOV: the refined tables, the catalog and their checks."""
    return [*build_assets(["IBOV"]), *build_checks(["IBOV"])], stage_keys(["IBOV"], *REFINE_STAGES)


def bench_refine(per_date_runs: int) -> Path:
    days = trading_days(date(2025, 1, 1), date(2025, 12, 31))
    data_dir = Path(tempfile.mkdtemp(prefix="b3-bench-"))
    start = time.perf_counter()
    synthetic_lake(data_dir, days)
    report(f"generate {len(days)} synthetic dates (raw+bronze+lake)", time.perf_counter() - start)
    resources = resources_for(Settings(data_dir=data_dir))
    assets, selection = refine_selection()
    instance = dg.DagsterInstance.ephemeral()

    start = time.perf_counter()
    result = dg.materialize(
        assets,
        selection=selection,
        resources=resources,
        instance=instance,
        run_config=QUIET,
        tags=range_tags(days[0], days[-1]),
    )
    single = time.perf_counter() - start
    stop_on_problem(result, f"{days[0]}..{days[-1]}")
    verdicts = sum(e.event_type_value == "ASSET_CHECK_EVALUATION" for e in result.all_events)
    files = sum(
        1 for _ in (data_dir / "lake/refined/ativos/indice=IBOV").glob("data=*/acao=*/*.parquet")
    )
    report(
        f"refine {len(days)} dates, ONE single-run backfill",
        single,
        f"{files} ativos partition files, {verdicts} check evaluations",
    )

    sample = days[:per_date_runs]
    if not sample:
        return data_dir
    start = time.perf_counter()
    for day in sample:
        result = dg.materialize(
            assets,
            selection=selection,
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
    days = trading_days(date(2025, 1, 1), date(2025, 12, 31))
    resources = resources_for(Settings(data_dir=data_dir))
    definitions = [*build_assets(["IBOV"]), *build_checks(["IBOV"])]
    # the bronze, refined and drift rules of IBOV (freshness is not per date)
    selection = dg.AssetSelection.checks(
        *(key for item in definitions for key in item.check_keys if key.name != "fresh")
    )
    for label, extra in (
        (
            f"asset checks, {len(days)} dates in one range run",
            {"tags": range_tags(days[0], days[-1])},
        ),
        ("asset checks, one date", {"tags": range_tags(days[-1], days[-1])}),
    ):
        start = time.perf_counter()
        result = dg.materialize(
            definitions,
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
        "the same on carteira_ativos, indice = 'IBOV'": (
            "SELECT setor, count(DISTINCT data) AS dias, avg(participacao_pct) AS media "
            "FROM carteira_ativos WHERE indice = 'IBOV' GROUP BY setor ORDER BY media DESC"
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
    fake = FakeB3(max_page_size=40, sample_day=date(2025, 7, 14))  # IBOV real, others sample
    fake.serve_file(FIXTURE, segment=2)
    with RunningFakeB3(fake) as b3_server, tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {
            "B3_ENV": "aws",
            "B3_GLUE_RUNNER": "local",
            "B3_BUCKET": bucket,
            "B3_DATA_DIR": str(Path(tmp) / "data"),
            "B3_API_URL": b3_server.api_url,
        }
        env.pop("B3_INDICES", None)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(
                [str(B3), "run"],
                env=env | {"B3_TRIGGER": "lambda"},
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - start)
        report(
            "AWS: b3 run, one date, up to the lake (first)",
            times[0],
            "moto, B3_TRIGGER=lambda (the Lambda would refine), 3 pages",
        )
        if len(times) > 1:
            report("AWS: b3 run, re-run (median)", statistics.median(times[1:]), f"{runs - 1} runs")
        seconds, _ = timed_b3(["run", "--index", "IBXX"], env | {"B3_TRIGGER": "dagster"})
        report(
            "AWS: b3 run, one date, whole chain",
            seconds,
            "B3_TRIGGER=dagster: capture, local Glue runner, Glue catalog (sample IBXX)",
        )

        settings = Settings(
            env="aws", glue_runner="local", bucket=bucket, data_dir=Path(tmp) / "data"
        )
        resources = resources_for(settings)
        assets = build_assets(["IBOV"])
        start = time.perf_counter()
        result = dg.materialize(
            assets,
            selection=stage_keys(["IBOV"], *TABLES),
            resources=resources,
            partition_key="2025-07-14",
            run_config=QUIET,
        )
        step = time.perf_counter() - start
        stop_on_problem(result, "2025-07-14")
        meta = materialized_metadata(result)["IBOV/carteira_ativos"]
        phases = meta["glue_job_seconds"]
        calls = meta["glue_job_aws_calls"]
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
            key = raw_object_key(Unit("IBOV", day))
            lake.put_file(key, LocalLake(local / "lake").path(key))
        report(f"AWS: upload {len(days)} raw objects", time.perf_counter() - start, "")
        start = time.perf_counter()
        result = dg.materialize(
            assets,
            selection=stage_keys(["IBOV"], *REFINE_STAGES),
            resources=resources,
            tags=range_tags(days[0], days[-1]),
            run_config=QUIET,
        )
        stop_on_problem(result, f"{days[0]}..{days[-1]}")
        meta = materialized_metadata(result)["IBOV/carteira_ativos"]
        report(
            f"AWS: refine {len(days)} dates in one Glue run",
            time.perf_counter() - start,
            f"job phases {meta['glue_job_seconds']}",
        )
        for phase, seconds in meta["glue_job_seconds"].items():
            report(f"  of which job: {phase}", seconds, "")
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
    from b3_assets.defs.jobs import build_jobs
    from b3_assets.defs.resources import LocalLakeResource
    from b3_assets.defs.resources.aws import S3LakeResource
    from b3_assets.defs.resources.glue_runs import GlueJobRunsResource
    from b3_assets.defs.sensors import build_glue_job_runs_sensor, build_raw_objects_sensor
    from b3_contract.glue_runs import UNITS_ARGUMENT, units_argument
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
    event_indices = ("IBOV", "IBXX")
    records = [
        {
            "eventSource": "aws:s3",
            "eventName": "ObjectCreated:Put",
            "eventTime": "2025-07-14T12:00:00.000Z",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
        }
        for i in range(1000)
        for key in [
            raw_object_key(Unit(event_indices[i // 2 % 2], days[i % 5]))
            if i % 2
            else f"junk/{i}%3Dx.parquet"
        ]
    ]
    start = time.perf_counter()
    plan = handler.plan_runs({"Records": records}, bucket)
    units = sum(len(run.units) for run in plan.runs)
    report(
        "Lambda: plan of a 1,000-record S3 event",
        time.perf_counter() - start,
        f"({len(plan.runs)} run(s) for {units} units: 2 indices x 5 dates, "
        f"{len(plan.skipped)} skipped)",
    )
    os.environ["B3_GLUE_JOB"] = "b3-refine"
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the handler's JSON log lines
        result = handler.lambda_handler({"Records": records}, None)
    report(
        "Lambda: the whole invocation on moto Glue",
        time.perf_counter() - start,
        f"({len(result['started'])} run(s) started, client creation included)",
    )

    with tempfile.TemporaryDirectory() as tmp, dg.instance_for_test() as instance:
        root = Path(tmp) / "lake"
        for day in days:
            key = raw_object_key(Unit("IBOV", day))
            path = root / key
            path.parent.mkdir(parents=True)
            path.write_bytes(b"PAR1")
            s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1")
        lakes = {
            "local folder": LocalLakeResource(root=str(root)),
            "moto S3": S3LakeResource(s3=S3Resource(region_name="us-east-1"), bucket=bucket),
        }
        settings = Settings(trigger="dagster")
        sensor = build_raw_objects_sensor(settings, build_jobs(settings, ["IBOV"]), ["IBOV"])
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

        for day in days[len(result["started"]) :]:  # with the Lambda's: 250 runs
            glue.start_job_run(
                JobName="b3-refine",
                Arguments={UNITS_ARGUMENT: units_argument([Unit("IBOV", day)])},
            )
        for _ in range(3):
            glue.get_job_runs(JobName="b3-refine")
        settings = Settings(env="aws", bucket=bucket)
        sensor = build_glue_job_runs_sensor(
            settings, build_jobs(settings, event_indices), event_indices
        )
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


# --- Every index (issue 12) ---------------------------------------------------------------------

RUN_INDICES = ("IBOV", "IBXX", "SMLL", "IDIV", "IFIX")
IMPORT_INDICES = ("IBOV", "IBXX", "SMLL", "IFIX")


def file_states(root: Path) -> dict[str, tuple[int, int]]:
    """{file: (mtime_ns, size)} of every file under root."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            found[str(path.relative_to(root))] = (stat.st_mtime_ns, stat.st_size)
    return found


def b3_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = os.environ | {"B3_DATA_DIR": str(data_dir), **extra}
    for name in ("DAGSTER_HOME", "B3_INDICES", "B3_ENV", "B3_TRIGGER", "B3_BUCKET"):
        if name not in extra:
            env.pop(name, None)
    return env


def timed_b3(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([str(B3), *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"bench: b3 {' '.join(args[:4])} ... failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def bench_indices(runs: int, keep: bool = False) -> None:
    # 1. `b3 run` of 5 indices against 1, each cold (empty data dir), alternating
    day = date(2025, 7, 14)
    fake = FakeB3(max_page_size=40, sample_day=day)  # every index's sample of that day
    one, five = [], []
    with RunningFakeB3(fake) as server, tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            for label, bucket, indices in (("one", one, ("IBOV",)), ("five", five, RUN_INDICES)):
                env = b3_env(Path(tmp) / f"{label}{n}", B3_API_URL=server.api_url)
                args = ["run", *(arg for index in indices for arg in ("--index", index))]
                bucket.append(timed_b3(args, env)[0])
    ratio = statistics.median(five) / statistics.median(one)
    report(
        "b3 run, 1 index (IBOV), empty data dir (median)",
        statistics.median(one),
        f"{runs} runs: {', '.join(f'{t:.2f}' for t in one)}",
    )
    report(
        f"b3 run, {len(RUN_INDICES)} indices, empty data dir (median)",
        statistics.median(five),
        f"{runs} runs: {', '.join(f'{t:.2f}' for t in five)}; {'+'.join(RUN_INDICES)}",
    )
    ROWS.append(
        (
            f"  {len(RUN_INDICES)} indices / 1 index (target <= 2.0)",
            f"{ratio:8.2f} x",
            "met" if ratio <= 2 else "NOT MET",
        )
    )

    # 2. one `b3 import` of 1,000 CSVs, then the same 1,000 again
    days = trading_days(date(2025, 1, 1), date(2025, 12, 31))
    work = Path(tempfile.mkdtemp(prefix="b3-bench-indices-"))
    csv_dir, data_dir = work / "csv", work / "data"
    csv_dir.mkdir()
    start = time.perf_counter()
    files = []
    for index in IMPORT_INDICES:
        for session in days:
            path = csv_dir / f"{index}Dia_{session:%d-%m-%y}.csv"
            path.write_bytes(sample_csv(session, index))
            files.append(str(path))
    report(
        f"generate {len(files)} CSVs ({len(IMPORT_INDICES)} indices x {len(days)} sessions)",
        time.perf_counter() - start,
        "+".join(IMPORT_INDICES),
    )
    env = b3_env(data_dir)
    seconds, out = timed_b3(["import", *files], env)
    imported = sum(line.startswith("imported ") for line in out.splitlines())
    ativos = sum(1 for _ in (data_dir / "lake/refined/ativos").glob("indice=*/data=*/acao=*/*"))
    report(
        f"b3 import of {len(files)} CSVs (target <= 90 s)",
        seconds,
        f"{'met' if seconds <= 90 else 'NOT MET'}; {imported} units imported, "
        f"{ativos} ativos partition files",
    )
    before = file_states(data_dir)
    again, reported = [], set()
    for _ in range(3):
        seconds, out = timed_b3(["import", *files], env)
        again.append(seconds)
        reported.add(sum(line.startswith("imported ") for line in out.splitlines()))
    after = file_states(data_dir)
    changed = sum(before[name] != state for name, state in after.items() if name in before)
    added, removed = len(after.keys() - before.keys()), len(before.keys() - after.keys())
    rewritten = changed + added + removed
    seconds = statistics.median(again)
    report(
        f"b3 import of the same {len(files)} CSVs again (target <= 10 s, median)",
        seconds,
        f"{'met' if seconds <= 10 else 'NOT MET'}; 3 runs: "
        f"{', '.join(f'{t:.2f}' for t in again)}; units reported {sorted(reported)}",
    )
    ROWS.append(
        (
            "  files of the data dir changed by them (target 0)",
            f"{rewritten:>10}",
            f"{'met' if rewritten == 0 else 'NOT MET'}: {changed} changed, {added} added, "
            f"{removed} removed, of {len(before)} files (mtime_ns and size)",
        )
    )
    if rewritten:
        names = sorted(
            {n for n in after if before.get(n) != after[n]} | (before.keys() - after.keys())
        )
        print(f"  changed files (first 20): {names[:20]}", file=sys.stderr)

    # 3. a year of one index: carteira_ativos (every index) against ibov_ativos (IBOV's folder)
    catalog = data_dir / "catalog.duckdb"
    queries = {
        "carteira_ativos": "SELECT data, setor, sum(participacao_pct) FROM carteira_ativos "
        "WHERE indice = 'IBOV' GROUP BY 1, 2",
        "ibov_ativos": "SELECT data, setor, sum(participacao_pct) FROM ibov_ativos GROUP BY 1, 2",
    }
    times: dict[str, list[float]] = {name: [] for name in queries}
    answers = {}
    for _ in range(5):
        for name, sql in queries.items():
            start = time.perf_counter()
            result = run_query(catalog, sql)
            times[name].append(time.perf_counter() - start)
            answers[name] = sorted(map(tuple, result.rows))
    if answers["carteira_ativos"] != answers["ibov_ativos"]:
        raise SystemExit("bench: carteira_ativos and ibov_ativos answer IBOV's year differently")
    for name in queries:
        report(
            f"query: IBOV's year by date and sector on {name} (median of 5)",
            statistics.median(times[name]),
            f"{len(answers[name])} rows; {', '.join(f'{t:.2f}' for t in times[name])}",
        )
    ratio = statistics.median(times["carteira_ativos"]) / statistics.median(times["ibov_ativos"])
    ROWS.append(
        (
            "  carteira / ibov (target <= 1.0)",
            f"{ratio:8.2f} x",
            f"{'met' if ratio <= 1 else 'NOT MET'}; lake of "
            f"{len(IMPORT_INDICES)} indices x {len(days)} dates",
        )
    )
    # where the difference goes: DuckDB lists all of a view's files when it binds the view
    ativos = data_dir / "lake/refined/ativos"
    for what, pattern in (("every index", "indice=*"), ("IBOV's folder", "indice=IBOV")):
        listing = []
        with duckdb.connect() as con:
            for _ in range(5):
                start = time.perf_counter()
                [(count,)] = con.execute(
                    f"SELECT count(*) FROM glob('{ativos}/{pattern}/data=*/acao=*/*.parquet')"
                ).fetchall()
                listing.append(time.perf_counter() - start)
        report(
            f"  of which DuckDB listing the files of {what} (median of 5)",
            statistics.median(listing),
            f"{count} files",
        )
    if keep:
        print(f"  kept the 4-index data dir and its CSVs: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)


def bench_analytics() -> None:
    days = trading_days(date(2025, 1, 1), date(2025, 12, 31))
    data_dir = Path(tempfile.mkdtemp(prefix="b3-bench-analytics-"))
    synthetic_lake(data_dir, days)
    assets, selection = refine_selection()
    start = time.perf_counter()
    result = dg.materialize(
        assets,
        selection=selection,
        resources=resources_for(Settings(data_dir=data_dir)),
        run_config=QUIET,
        tags=range_tags(days[0], days[-1]),
    )
    total = time.perf_counter() - start
    stop_on_problem(result, "analytics refine")
    meta = {
        m.asset_key.to_user_string(): {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("index_portfolios")
    }
    analytics = meta["IBOV/carteira_historico"]["analytics_seconds"]
    charts = meta["IBOV/carteira_historico"]["charts_seconds"]
    rest = total - analytics - charts
    report(f"refine {len(days)} dates, one run, with the analytics", total)
    report("  of which the analytic tables (SQL, reads, writes)", analytics)
    report("  of which the analytics' charts in the metadata", charts)
    ROWS.append(
        (
            "analytics added to the refine",
            f"{100 * (analytics + charts) / rest:7.1f} %",
            f"target <= 25 %; the refine without them: {rest:.1f} s",
        )
    )
    catalog = data_dir / "catalog.duckdb"
    sector_weights = (
        "SELECT data, setor, sum(participacao_pct) AS peso FROM {} WHERE indice = 'IBOV' "
        "AND data BETWEEN DATE '2025-01-01' AND DATE '2025-12-31' GROUP BY data, setor "
        "ORDER BY data, setor"
    )
    answers, first = {}, "carteira_historico"
    for table in (first, "carteira_ativos"):
        sql = sector_weights.format(table)
        run_query(catalog, sql)  # warm-up: the OS file cache, as a second query would find it
        times = []
        for _ in range(7):
            start = time.perf_counter()
            answers[table] = run_query(catalog, sql).rows
            times.append(time.perf_counter() - start)
        report(
            f"query: sector weights by date, 250 dates, {table}",
            statistics.median(times),
            f"{1000 * statistics.median(times):.0f} ms, {len(answers[table])} rows; target 100 ms"
            if table == "carteira_historico"
            else f"{len(answers[table])} rows, same answer: {answers[table] == answers[first]}",
        )
    env = b3_env(data_dir)
    times = []
    for _ in range(3):
        out = data_dir / "report.html"
        seconds, _ = timed_b3(
            [
                "report",
                "--index",
                "IBOV",
                "--from",
                "2025-01-01",
                "--to",
                "2025-12-31",
                "-o",
                str(out),
            ],
            env,
        )
        times.append(seconds)
    report(
        "b3 report, 250 dates (CLI process, median of 3)",
        statistics.median(times),
        f"one file of {out.stat().st_size // 1024} KiB; target <= 5 s",
    )
    shutil.rmtree(data_dir, ignore_errors=True)


PREVIEW_INDICES = ("IBOV", "IBXX", "SMLL", "IDIV", "IFIX")


def bench_previews() -> None:
    """Issue 14: what the preview adds to a daily run, and a whole preview season refined."""
    from b3_assets.defs.assets import PREVIEW_CAPTURE_STAGES, PREVIEW_REFINE_STAGES
    from b3_assets.defs.jobs import CAPTURING, REFINING

    window = trading_days(date(2025, 8, 11), date(2025, 8, 29))  # the sample publishes in it
    season = [*window, date(2025, 9, 1)]  # and the rebalance: the forecast's error
    data_dir = Path(tempfile.mkdtemp(prefix="b3-bench-previews-"))
    synthetic_lake(data_dir, season, PREVIEW_INDICES)
    assets = build_assets(list(PREVIEW_INDICES))
    resources = resources_for(Settings(data_dir=data_dir), offline=True)

    def run(stages: tuple[str, ...], days: list[date]) -> float:
        start = time.perf_counter()
        result = dg.materialize(
            assets,
            selection=stage_keys(list(PREVIEW_INDICES), *stages),
            resources=resources,
            run_config=QUIET,
            tags=range_tags(days[0], days[-1]),
        )
        seconds = time.perf_counter() - start
        stop_on_problem(result, f"{stages[0]}..{stages[-1]}")
        return seconds

    units = len(PREVIEW_INDICES) * len(season)
    capture = run(PREVIEW_CAPTURE_STAGES, season)
    report(
        f"preview capture, {len(PREVIEW_INDICES)} indices x {len(season)} sessions, one run",
        capture,
        f"{units} units (offline sample: 2 answers each), raw + bronze + lake",
    )
    refine = run(PREVIEW_REFINE_STAGES, season)
    report(
        "preview refine of that season, one run",
        refine,
        f"carteira_previa + carteira_previa_mudancas ({units} sessions, the rebalance included)",
    )
    day = [window[-1]]
    daily = statistics.median(run((*CAPTURE_STAGES, *REFINE_STAGES), day) for _ in range(3))
    whole = statistics.median(run((*CAPTURING, *REFINING), day) for _ in range(3))
    report(
        f"one session of {len(PREVIEW_INDICES)} indices, daily chain alone (median of 3)",
        daily,
        "captured already: re-checked, re-refined",
    )
    report(
        "  the same with the preview stages (median of 3)",
        whole,
        f"the preview adds {100 * (whole - daily) / daily:.0f} %",
    )
    catalog = data_dir / "catalog.duckdb"
    sql = (
        "SELECT tipo_mudanca, acao, participacao_antes_pct, participacao_depois_pct "
        "FROM carteira_previa_mudancas WHERE indice = 'IBOV' AND comparacao = 'previa' AND "
        "tipo_mudanca <> 'permanece' AND data = (SELECT max(data) FROM carteira_previa "
        "WHERE indice = 'IBOV')"
    )
    run_query(catalog, sql)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        rows = run_query(catalog, sql).rows
        times.append(time.perf_counter() - start)
    report(
        "query: who enters and leaves at the next rebalance (median of 7)",
        statistics.median(times),
        f"{len(rows)} rows",
    )
    shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--keep", action="store_true", help="keep the 4-index data dir of the indices part"
    )
    parser.add_argument(
        "--only",
        choices=("aws", "automation", "quality", "indices", "analytics", "previews"),
        help="run one part only",
    )
    args = parser.parse_args()
    print(
        f"b3-lake bench: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"dagster {dg.__version__}, load average {os.getloadavg()[0]:.1f} at start",
        file=sys.stderr,
    )
    ROWS.append(("load average at the start (1 min)", f"{os.getloadavg()[0]:8.1f}  ", ""))
    if args.only is None:
        bench_b3_run(3 if args.quick else 7)
        data_dir = bench_refine(60 if args.quick else 250)
        bench_queries(data_dir)
        bench_quality(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.only == "quality":
        data_dir = bench_refine(0)
        bench_quality(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
    if args.only in (None, "aws"):
        bench_aws(2 if args.quick else 4, 20)
    if args.only in (None, "automation"):
        bench_automation()
    if args.only == "indices" or (args.only is None and not args.quick):
        bench_indices(3, args.keep)
    if args.only in (None, "analytics"):
        bench_analytics()
    if args.only in (None, "previews"):
        bench_previews()
    ROWS.append(("load average at the end (1 min)", f"{os.getloadavg()[0]:8.1f}  ", ""))
    width = max(len(r[0]) for r in ROWS)
    print(f"\n{'measure'.ljust(width)} | {'wall time':>10} | note")
    print(f"{'-' * width}-+-{'-' * 10}-+-----")
    for what, value, note in ROWS:
        print(f"{what.ljust(width)} | {value:>10} | {note}")
    print(json.dumps({"rows": ROWS}), file=open(ROOT / "bench" / "last_run.json", "w"))  # noqa: SIM115


if __name__ == "__main__":
    main()
