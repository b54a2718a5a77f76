"""The Glue job installs nothing but dagster-pipes: B3's sessions come from the deployed
b3_contract.zip, not exchange_calendars. The job runs here as deployed (the local runner, the
job definition of `b3 deploy`) in a process where `import exchange_calendars` fails, so a job that
still needed it would fail here; and across Carnival 2025 its analytics count the same sessions
and rebalance dates as the local engine."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import refine_job
from conftest import bucket_keys

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.deploy import Target, deploy
from b3_assets.capture.bronze import write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.refine import engine as refine
from b3_assets.source.trading_calendar import trading_days
from b3_assets.testing.glue_local import LocalGlueJobRuns
from b3_contract.analytics import plan_analytics
from b3_contract.lake_keys import Unit, raw_object_key
from b3_contract.sessions import LAST_DAY, CalendarEndError
from b3_contract.tables import ANALYTIC_TABLES

FETCHED_AT = datetime(2025, 7, 14, 21, 5, 7, tzinfo=UTC)
# IBOV's captures around Carnival (Mon 2025-03-03, Tue 03-04) and after the May rebalance
UNITS = [Unit("IBOV", date(2025, 2, 24)), Unit("IBOV", date(2025, 3, 5))]
UNITS.append(Unit("IBOV", date(2025, 7, 14)))
CHANGE_COLUMNS = ("data_anterior", "pregoes_desde_anterior", "rebalanceamento")


@pytest.fixture
def without_exchange_calendars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PYTHONPATH entry, ahead of site-packages in every process started from here (the local
    runner passes it on to the job), whose `exchange_calendars` fails to import as on Glue."""
    blocker = tmp_path / "no-exchange-calendars"
    (blocker / "exchange_calendars").mkdir(parents=True)
    (blocker / "exchange_calendars" / "__init__.py").write_text(
        "raise ModuleNotFoundError('exchange_calendars is not installed on Glue (test blocker)',"
        " name='exchange_calendars')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(blocker))
    return blocker


def deployed(aws, logs: Path) -> tuple[dict, LocalGlueJobRuns]:
    target = Target(aws.bucket, "b3_refined", "b3-refine", "b3-lake-glue", "us-east-1")
    clients = {name: aws_mod.client(name) for name in ("s3", "glue", "iam", "sts")}
    deploy(clients, target)  # the job definition and code, as a user's `b3 deploy`
    return clients, LocalGlueJobRuns(clients["glue"], clients["s3"], keep_logs=logs)


def finished(runs: LocalGlueJobRuns, run_id: str, seconds: float) -> tuple[str, str]:
    """The run's end state, and its error message and log (kept in `runs.keep_logs`)."""
    deadline = time.monotonic() + seconds
    while (run := runs.get_job_run("b3-refine", run_id)["JobRun"])["JobRunState"] == "RUNNING":
        assert time.monotonic() < deadline, f"the job run took over {seconds} s"
    log = Path(runs.keep_logs or ".") / f"{run_id}.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return run["JobRunState"], f"{run.get('ErrorMessage', '')}\n{text}"


def test_the_job_process_cannot_import_exchange_calendars_but_has_the_contracts_sessions(
    aws, without_exchange_calendars, tmp_path
) -> None:
    """The blocker is effective where the job runs (a guard against a test that cannot fail),
    and the deployed b3_contract.zip answers B3's sessions there."""
    clients, runs = deployed(aws, tmp_path)
    probe = (
        b"try:\n    import exchange_calendars\nexcept ModuleNotFoundError as exc:\n"
        b"    print('BLOCKED', exc)\nelse:\n    print('IMPORTED', exchange_calendars.__file__)\n"
        b"from b3_contract import sessions\n"
        b"print('SESSIONS', sessions.first_session('2025-05'), sessions.__file__)\n"
    )
    clients["s3"].put_object(Bucket=aws.bucket, Key="glue/refine_job.py", Body=probe)
    run_id = runs.start_job_run(JobName="b3-refine", Arguments={"--units": "IBOV/2025-07-14"})
    state, log = finished(runs, run_id["JobRunId"], 60)
    assert state == "SUCCEEDED", log[-3000:]
    assert "BLOCKED exchange_calendars is not installed on Glue (test blocker)" in log
    assert "IMPORTED" not in log
    assert "SESSIONS 2025-05-02 " in log and "b3_contract.zip/b3_contract/sessions.py" in log


def test_a_unit_past_the_shipped_calendar_is_refused_before_the_job_touches_anything() -> None:
    """Spark, S3 and Glue here are objects any use of which fails: the refusal comes first,
    so a run never writes its refine tables and then fails at the analytics."""
    past = LAST_DAY + timedelta(days=1)
    argv = ["refine_job.py", "--JOB_NAME", "b3-refine", "--bucket", "b3-lake"]
    argv += ["--database", "b3_refined", "--units", f"IBOV/2025-07-14,IBOV/{past}"]
    args = refine_job.resolve_args(argv)
    untouchable = object()
    with pytest.raises(CalendarEndError) as refused:
        refine_job.run_job(args, untouchable, untouchable, untouchable, log=print)
    assert f"{past} is past the B3 calendar shipped in b3_contract" in str(refused.value)
    assert "python -m b3_assets.calendar_contract" in str(refused.value)


def bronze_files(fixtures_dir: Path, data_dir: Path) -> dict[Unit, Path]:
    files = {}
    for unit in UNITS:
        raw = (fixtures_dir / f"portfolio_day_IBOV_seg1_{unit.day}.json").read_bytes()
        capture, _ = write_raw(data_dir, raw, "http://b3/x", FETCHED_AT, unit.index)
        assert capture.trading_date == unit.day
        files[unit] = write_bronze(data_dir, json.loads(raw), capture)
    return files


def bucket_changes(s3, bucket: str, tmp_path: Path) -> dict[date, set[tuple]]:
    """carteira_mudancas as the job wrote it to the bucket: per date, the distinct
    (data_anterior, pregoes_desde_anterior, rebalanceamento, data_rebalanceamento)."""
    found: dict[date, set[tuple]] = {}
    for number, key in enumerate(bucket_keys(s3, bucket, "refined/mudancas/indice=IBOV/")):
        if not key.endswith(".parquet"):
            continue
        day = date.fromisoformat(key.split("/data=")[1].split("/")[0])
        path = tmp_path / f"{number}.parquet"
        s3.download_file(bucket, key, str(path))
        rows = pq.read_table(path).to_pylist()
        found.setdefault(day, set()).update(
            (*(row[c] for c in CHANGE_COLUMNS), row["data_rebalanceamento"]) for row in rows
        )
    return found


@pytest.mark.spark
def test_across_carnival_the_job_counts_the_local_engines_sessions_without_exchange_calendars(
    aws, without_exchange_calendars, fixtures_dir, tmp_path
) -> None:
    clients, runs = deployed(aws, tmp_path / "logs")
    files = bronze_files(fixtures_dir, tmp_path / "data")
    for unit, path in files.items():
        clients["s3"].upload_file(str(path), aws.bucket, raw_object_key(unit))
    units = ",".join(str(unit) for unit in UNITS)
    run_id = runs.start_job_run(JobName="b3-refine", Arguments={"--units": units})["JobRunId"]
    state, log = finished(runs, run_id, 600)
    assert state == "SUCCEEDED", log[-3000:]

    on_aws = bucket_changes(clients["s3"], aws.bucket, tmp_path)
    ativos = refine.refine_files(list(files.values()))["carteira_ativos"]
    plan = plan_analytics(UNITS, {})
    local = refine.analytics_tables(ativos, trading_days(plan.first_day, plan.last_day))
    assert set(local) == set(ANALYTIC_TABLES)
    here: dict[date, set[tuple]] = {}
    for row in local["carteira_mudancas"].to_pylist():
        here.setdefault(row["data"], set()).add(
            (*(row[c] for c in CHANGE_COLUMNS), row["data_rebalanceamento"])
        )
    assert on_aws == here
    # Carnival's Monday and Tuesday are no sessions: Feb 25-28 and Mar 5 (7 weekdays)
    assert on_aws[date(2025, 3, 5)] == {(date(2025, 2, 24), 5, False, None)}
    # the May rebalance fell on the 2nd (May 1 is a holiday)
    since_march = len(trading_days(date(2025, 3, 6), date(2025, 7, 14)))
    assert on_aws[date(2025, 7, 14)] == {(date(2025, 3, 5), since_march, True, date(2025, 5, 2))}
