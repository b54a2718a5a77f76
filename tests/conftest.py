"""Shared fixtures: B3's real responses (tests/fixtures/b3) and a local B3 server; and the check,
once collection is done, that the selected tests' prerequisites (Java for `spark`, chromium and
Playwright for `browser`) are there, so a missing one stops the run with one message that says
how to install it instead of dozens of Py4J or browser failures."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import requests
from hypothesis import settings

from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3

# No per-example deadline: a loaded 2-core CI machine must not turn slowness into failures.
settings.register_profile("b3", deadline=None, print_blob=True)
settings.load_profile("b3")

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "b3"
SEG2_0714 = FIXTURES / "portfolio_day_IBOV_seg2_2025-07-14.json"
SEG1_0714 = FIXTURES / "portfolio_day_IBOV_seg1_2025-07-14.json"
CSV_DATES = ["2025-02-20", "2025-02-24", "2025-03-05", "2025-03-06", "2025-03-11", "2025-03-12"]


# Prerequisites of the marked tests (README "Prerequisites").
JAVA_MAJOR = 17  # Glue 5.0 runs Spark 3.5 on Java 17
JAVA_INSTALL = (
    "install a Java 17 runtime (Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`) "
    "or point JAVA_HOME at one"
)
CHROMIUM = Path("/usr/bin/chromium")  # where tests/browser drives Debian's chromium
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def java_problem(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why pyspark could not start a Java 17+ here, or None. It looks where pyspark's
    spark-class does: $JAVA_HOME/bin/java when JAVA_HOME is set, else `java` on PATH."""
    java_home = environ.get("JAVA_HOME")
    if java_home:
        java = str(Path(java_home) / "bin" / "java")
        if not (os.path.isfile(java) and os.access(java, os.X_OK)):
            return f"JAVA_HOME is {java_home} but {java} is not an executable"
    else:
        found = shutil.which("java", path=environ.get("PATH", os.defpath))
        if found is None:
            return "JAVA_HOME is not set and there is no `java` on PATH"
        java = found
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{java} -version` did not run: {exc}"
    said = done.stderr + done.stdout
    match = _JAVA_VERSION.search(said)
    if done.returncode != 0 or match is None:
        first = said.strip().splitlines()[0] if said.strip() else "nothing"
        return f"`{java} -version` did not tell its version (exit {done.returncode}: {first!r})"
    major = int(match[1])
    if major == 1 and match[2]:  # "1.8.0_292" is Java 8
        major = int(match[2])
    if major < JAVA_MAJOR:
        return f"{java} is Java {major}, older than {JAVA_MAJOR}"
    return None


def browser_problem() -> str | None:
    """Why tests/browser could not drive Debian's chromium through Playwright here, or None."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        problems.append(f'Playwright is not importable ({exc}): `pip install -e ".[dev]"`')
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problems.append(
            f"there is no chromium at {CHROMIUM}: `sudo apt-get install chromium` "
            "(.ci/run installs it)"
        )
    return "; ".join(problems) or None


def missing_prerequisites(
    counts: Mapping[str, int], environ: Mapping[str, str] = os.environ
) -> list[str]:
    """One line per marker whose selected tests (`counts`: marker -> how many) cannot run here,
    saying what is missing, how to install it and how to leave those tests out."""
    lines = []
    if counts.get("spark"):
        problem = java_problem(environ)
        if problem:
            lines.append(
                f"{counts['spark']} selected test(s) marked `spark` start Spark and need Java "
                f"{JAVA_MAJOR} or newer: {problem}; {JAVA_INSTALL}, or leave them out with "
                "-m 'not spark'"
            )
    if counts.get("browser"):
        problem = browser_problem()
        if problem:
            lines.append(
                f"{counts['browser']} selected test(s) marked `browser` need Debian's chromium "
                f"and Playwright: {problem}; or leave them out with -m 'not browser'"
            )
    return lines


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    """After every deselection (-m, -k): a missing prerequisite of a selected test stops the
    whole run once, before any test starts. An xdist worker hands the message to the controller
    (which prints it once, as the reason of the interruption) and runs nothing."""
    result = yield
    if config.option.collectonly:  # listing tests needs neither Java nor a browser
        return result
    counts = {
        marker: sum(1 for item in items if item.get_closest_marker(marker))
        for marker in ("spark", "browser")
    }
    lines = missing_prerequisites(counts)
    if not lines:
        return result
    message = "missing prerequisites, no test was run: " + " | ".join(lines)
    if hasattr(config, "workerinput"):
        items[:] = []
        session.shouldstop = message
        return result
    pytest.exit(message, returncode=pytest.ExitCode.INTERRUPTED)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def seg2_bytes(fixtures_dir: Path) -> bytes:
    return (fixtures_dir / SEG2_0714.name).read_bytes()


@pytest.fixture(scope="session")
def seg2(seg2_bytes: bytes) -> dict:
    return json.loads(seg2_bytes)


@pytest.fixture(scope="session")
def csv_files(fixtures_dir: Path) -> list[Path]:
    """The six 2025 IBOV downloads (the dates of CSV_DATES)."""
    return sorted(fixtures_dir / f"IBOVDia_{d[8:]}-{d[5:7]}-{d[2:4]}.csv" for d in CSV_DATES)


# Every real daily CSV download of the fixtures: IBOV of 2023, 2024 (renamed by its owner) and
# 2025, IBXX, SMLL, IDIV and IFIX. The index and date come from each file's title line.
ALL_DAILY_CSVS = [
    "IBOVDia_26-06-23.csv",
    "Cart_Ibov@4332012.csv",
    *(f"IBOVDia_{d[8:]}-{d[5:7]}-{d[2:4]}.csv" for d in CSV_DATES),
    "IBXXDia_20-06-25.csv",
    "SMLLDia_22-10-24.csv",
    "IDIVDia_21-07-26.csv",
    "IFIXDia_03-08-26.csv",
]


@pytest.fixture(scope="session")
def all_daily_csvs(fixtures_dir: Path) -> list[Path]:
    return [fixtures_dir / name for name in ALL_DAILY_CSVS]


@pytest.fixture
def b3_server(fixtures_dir: Path) -> Iterator[RunningFakeB3]:
    """B3 serving 2025-07-14 (segments 1 and 2) with pages capped at 40 rows: 3 pages."""
    fake = FakeB3(max_page_size=40)
    fake.serve_file(fixtures_dir / SEG2_0714.name, segment=2)
    fake.serve_file(fixtures_dir / SEG1_0714.name, segment=1)
    with RunningFakeB3(fake) as running:
        yield running


@pytest.fixture
def b3_both(fixtures_dir: Path) -> Iterator[RunningFakeB3]:
    """B3 serving IBOV's real 2025-07-14 (3 pages) and the sample of that day for any other
    index: a run of two indices against one server."""
    fake = FakeB3(max_page_size=40, sample_day=date(2025, 7, 14))
    fake.serve_file(fixtures_dir / SEG2_0714.name, segment=2)
    with RunningFakeB3(fake) as running:
        yield running


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under root with its sha256 and mtime: proof that a failure touched nothing."""
    import hashlib

    return {
        path.relative_to(root).as_posix(): (
            hashlib.sha256(path.read_bytes()).hexdigest(),
            path.stat().st_mtime_ns,
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class S3Request:
    """One request the moto server answered: who sent it is in its User-Agent (boto3's
    `Boto3/...`, S3A's `Hadoop 3.3.4, aws-sdk-java/1.11.901 ...`)."""

    method: str
    path: str  # /bucket/key, path-style as S3A and boto3 send it here
    user_agent: str


MOTO_REQUESTS: list[S3Request] = []  # every request of this session's moto server, in order


class _Recorder:
    """WSGI middleware in front of moto that records each request's method, path and agent."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        MOTO_REQUESTS.append(
            S3Request(
                environ.get("REQUEST_METHOD", ""),
                environ.get("PATH_INFO", ""),
                environ.get("HTTP_USER_AGENT", ""),
            )
        )
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server on loopback for the whole session (AWS_ENDPOINT_URL points at it); what
    it is asked is recorded in MOTO_REQUESTS (see `s3_requests`)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # werkzeug's server calls `server.app` for each request: recorded, then answered by moto
    server._server.app = _Recorder(server._server.app)  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_requests(since: int, bucket: str, key_prefix: str) -> list[S3Request]:
    """The requests made since MOTO_REQUESTS[since] for objects of `bucket` under `key_prefix`
    (a listing of the prefix, sent as a query, is not one)."""
    path = f"/{bucket}/{key_prefix}"
    return [r for r in MOTO_REQUESTS[since:] if r.path.startswith(path)]


def by_spark(requests: list[S3Request]) -> bool:
    """Every request sent by Hadoop's S3A (its agent names Hadoop), none by boto3."""
    return bool(requests) and all(
        r.user_agent.startswith("Hadoop ") and "Boto3" not in r.user_agent for r in requests
    )


@contextmanager
def s3a_spark(app_name: str, endpoint: str):
    """The Glue job's Spark session in this process, started as the local runner starts the job's
    (PYSPARK_SUBMIT_ARGS from glue_local: S3A on `endpoint`, credentials from the environment,
    the fake keys of fresh_moto_account)."""
    import refine_job

    from b3_assets.testing.glue_local import spark_submit_args

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_SUBMIT_ARGS", spark_submit_args(endpoint))
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        session = refine_job.spark_session(app_name)
    try:
        yield session
    finally:
        session.stop()


@dataclass(frozen=True)
class AwsEnv:
    endpoint: str
    bucket: str
    env: dict[str, str]

    def client(self, service: str):
        import boto3

        return boto3.client(service, region_name="us-east-1", endpoint_url=self.endpoint)


def create_sleeping_job(s3, glue, bucket: str, job: str, seconds: int) -> None:
    """A Glue job on moto whose script only sleeps: a run the local runner keeps active."""
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket, Key="glue/slow_job.py", Body=f"import time\ntime.sleep({seconds})\n".encode()
    )
    glue.create_job(
        Name=job,
        Role="arn:aws:iam::123456789012:role/x",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/glue/slow_job.py"},
    )


def fresh_moto_account(endpoint: str, home: Path, bucket: str) -> dict[str, str]:
    """Resets the moto server; returns the variables of a user of it (fake keys, no files)."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "B3_BUCKET": bucket,
    }


def moto_client(env: dict[str, str], service: str):
    """A boto3 client of the moto server that `env` (from fresh_moto_account) points at."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# The notification filter of infra/template.yaml: only raw/ and .parquet reach the Lambda.
RAW_FILTER = {
    "Key": {
        "FilterRules": [
            {"Name": "prefix", "Value": "raw/"},
            {"Name": "suffix", "Value": ".parquet"},
        ]
    }
}


def notify_queue(s3, sqs, bucket: str) -> str:
    """S3 notifications of new raw/*.parquet to an SQS queue (moto cannot invoke a Lambda
    without Docker, but it delivers the real event to SQS); returns the queue URL."""
    queue_url = sqs.create_queue(QueueName=f"{bucket}-raw-events")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": attributes["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": RAW_FILTER,
                }
            ]
        },
    )
    drain_events(sqs, queue_url)  # moto's s3:TestEvent
    return queue_url


def drain_events(sqs, queue_url: str) -> list[dict]:
    """The S3 events waiting in the queue, removed from it."""
    events = []
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages"):
        for message in messages:
            body = json.loads(message["Body"])
            if "Records" in body:
                events.append(body)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return events


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AwsEnv:
    """A fresh moto account: the server is reset and this process's AWS variables point at it,
    with fake credentials and no shared config files."""
    env = fresh_moto_account(moto_server, tmp_path, "b3-lake-test")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return AwsEnv(moto_server, env["B3_BUCKET"], env)


@dataclass
class LambdaContext:
    function_name: str = "b3-lake-trigger"
    memory_limit_in_mb: int = 128
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:b3-lake-trigger"
    aws_request_id: str = "5b0ec3ab-0f6d-4a8b-9d4c-1c2f1d1e0a11"


def use_dagster_on_aws(monkeypatch: pytest.MonkeyPatch, data_dir: Path, api_url: str) -> None:
    """The CLI's environment on moto: B3_ENV=aws, Dagster launching the Glue job run here on
    pyspark (B3_GLUE_RUNNER=local, B3_TRIGGER=dagster), IBOV from the local B3 at `api_url`."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for name, value in {
        "B3_ENV": "aws",
        "B3_GLUE_RUNNER": "local",
        "B3_TRIGGER": "dagster",
        "B3_DATA_DIR": str(data_dir),
        "B3_API_URL": api_url,
        "B3_HTTP_RETRIES": "1",
        "B3_INDICES": "IBOV",
    }.items():
        monkeypatch.setenv(name, value)


def bucket_keys(s3, bucket: str, prefix: str) -> list[str]:
    """Every object key under prefix, over every page."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@pytest.fixture
def glue_job(aws, monkeypatch):
    """The refine job on moto, as the Lambda tests' B3_GLUE_JOB, and a Lambda with no clients."""
    from lambda_fn import handler

    glue = aws.client("glue")
    glue.create_job(
        Name="b3-refine",
        Role="arn:aws:iam::123456789012:role/b3-lake-glue",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{aws.bucket}/glue/refine_job.py"},
        ExecutionProperty={"MaxConcurrentRuns": 3},
        DefaultArguments={"--bucket": aws.bucket, "--database": "b3_refined"},
    )
    monkeypatch.setenv("B3_GLUE_JOB", "b3-refine")
    monkeypatch.setattr(handler, "_clients", {})
    return glue


@pytest.fixture
def glue_runs_stay_running(aws):
    """moto keeps job runs RUNNING until told otherwise (its state manager)."""
    url = f"{aws.endpoint}/moto-api/state-manager"
    requests.post(
        f"{url}/set-transition",
        json={
            "model_name": "glue::job_run",
            "transition": {"progression": "manual", "times": 1000},
        },
        timeout=10,
    ).raise_for_status()
    yield
    requests.post(
        f"{url}/unset-transition", json={"model_name": "glue::job_run"}, timeout=10
    ).raise_for_status()


def run_refine_job(
    script: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    """The Glue job script started with no Pipes arguments, as a Lambda-started Glue run is, in
    the environment the local runner gives it (Spark on S3A at env's AWS_ENDPOINT_URL)."""
    from b3_assets.testing.glue_local import job_environment

    return subprocess.run(
        [sys.executable, str(script), "--JOB_NAME", "b3-refine", *args],
        env={**env, **job_environment(env["AWS_ENDPOINT_URL"], "us-east-1")},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def import_csvs(data_dir: Path, paths: list[Path]) -> None:
    """B3's CSV downloads stored as `b3 import` stores them (raw captures with no fetch time),
    each under the index and date of its title line."""
    from datetime import UTC, datetime

    from b3_assets.capture.raw import write_import
    from b3_assets.source.b3_client import canonical_json
    from b3_assets.source.csv_download import parse_portfolio_csv

    for path in paths:
        data = path.read_bytes()
        parsed = parse_portfolio_csv(data, path.name)
        raw = canonical_json(parsed.response)
        write_import(data_dir, raw, path, data, parsed.index, datetime.now(UTC))
