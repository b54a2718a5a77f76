"""B3_GLUE_RUNNER=local: the Glue job runs on this machine, with local pyspark, instead of on AWS.

`LocalGlueJobRuns` answers the Glue calls PipesGlueClient makes (start_job_run, get_job_run,
batch_stop_job_run) by running the job as deployed: it reads the job definition from the Glue
API, downloads its ScriptLocation and starts it in a subprocess with the job's DefaultArguments
and the run's Arguments, exactly as Glue passes them. Spark in that process reads and writes the
bucket itself, as on Glue: `s3://` is Hadoop's S3A filesystem pointed at the S3 endpoint the
clients use (moto or LocalStack), with only hadoop-aws and the AWS SDK bundle of the installed
sagemaker_pyspark on its classpath (`spark_submit_args`). Everything else (Pipes context and
messages on S3, the catalog) goes through the same AWS APIs as on Glue.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from b3_assets.aws.clients import AwsError, aws_errors, error_code
from b3_assets.capture.files import atomic_write_bytes

FAILURE_MARK = "B3 REFINE JOB FAILED: "  # printed by glue/refine_job.py before it fails
LOCAL_RUNNER_ENV = "B3_GLUE_LOCAL_RUNNER"  # glue/refine_job.py: this runner started it, not Glue
S3A_JARS = ("hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar")  # sagemaker-pyspark 1.4.5


def s3a_jars() -> list[str]:
    """The two jars S3A needs, from the installed sagemaker_pyspark (PyPI; Maven is not reachable
    here): hadoop-aws matching pyspark's Hadoop 3.3 and the AWS SDK it was built against. Its
    other jars (SDK 1.12 pieces, SageMaker's Spark) are left off the classpath on purpose."""
    try:
        import sagemaker_pyspark  # type: ignore[import-untyped]
    except ImportError as exc:
        raise RuntimeError(
            'B3_GLUE_RUNNER=local needs sagemaker-pyspark (the S3A jars): pip install -e ".[dev]"'
        ) from exc
    folder = Path(sagemaker_pyspark.__file__).parent / "jars"
    jars = [folder / name for name in S3A_JARS]
    missing = [jar.name for jar in jars if not jar.is_file()]
    if missing:
        raise RuntimeError(f"{folder} has no {', '.join(missing)}: install sagemaker-pyspark 1.4.5")
    return [str(jar) for jar in jars]


def s3a_conf(endpoint: str | None) -> dict[str, str]:
    """Spark settings that make `s3://` the S3A filesystem on `endpoint` (None: AWS's own), with
    credentials from the environment, as the local runner starts the job. Never set on Glue,
    where `s3://` is EMRFS. The write settings keep a partitioned write short over an API where
    a rename is a copy (docs/aws.md, "Without an account")."""
    conf = {
        "spark.jars": ",".join(s3a_jars()),
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "com.amazonaws.auth.EnvironmentVariableCredentialsProvider"
        ),
        # task output renamed once, straight into place, instead of twice (v1)
        "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version": "2",
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    }
    if endpoint:
        conf |= {
            "spark.hadoop.fs.s3a.endpoint": endpoint,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(
                urlparse(endpoint).scheme == "https"
            ).lower(),
        }
    return conf


LOCAL_SPARK = {  # a local driver on loopback, as small as a laptop wants it
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
}


def spark_submit_args(endpoint: str | None, master: str = "local[2]") -> str:
    """PYSPARK_SUBMIT_ARGS for the job's process: pyspark reads it when it launches its JVM,
    which on Glue never happens (Glue starts the driver), so the job's code stays Glue's."""
    conf = {**LOCAL_SPARK, **s3a_conf(endpoint)}
    jars = conf.pop("spark.jars")
    parts = ["--master", master, "--jars", jars]
    for key, value in conf.items():
        parts += ["--conf", f"{key}={value}"]
    return " ".join([*parts, "pyspark-shell"])


def job_environment(endpoint: str | None, region: str, python: str = sys.executable) -> dict:
    """The variables the local runner adds to the job's process (see `spark_submit_args`)."""
    return {
        "AWS_DEFAULT_REGION": region,  # Glue sets it for its jobs
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": python,
        "PYSPARK_SUBMIT_ARGS": spark_submit_args(endpoint),
        LOCAL_RUNNER_ENV: "1",
    }


@dataclass
class LocalRun:
    run_id: str
    job_name: str
    arguments: dict[str, str]
    process: subprocess.Popen
    script: str
    work_dir: Path
    log_path: Path
    started_on: datetime
    completed_on: datetime | None = None
    stopped: bool = False
    error: str | None = None

    def error_message(self) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        marked = [line for line in lines if line.startswith(FAILURE_MARK)]
        if marked:
            return marked[-1][len(FAILURE_MARK) :]
        tail = [line for line in lines if line.strip()][-5:]
        return " | ".join(tail) or f"exit status {self.process.returncode}"


def default_registry(glue: Any) -> Path:
    """Where the local runs against one AWS endpoint are recorded, for every process here."""
    endpoint = str(getattr(glue.meta, "endpoint_url", "") or "aws")
    digest = hashlib.sha256(endpoint.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "b3-glue-local-runs" / digest


def _alive(pid: int, script: str) -> bool:
    """Whether the process is still the job's (a reused pid runs something else)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return script.encode() in command


class LocalGlueJobRuns:
    """A stand-in for the boto3 Glue client inside PipesGlueClient (see the module docstring).

    Each run is also recorded in `registry` (one JSON file per run), so that `get_job_runs`
    answers for the runs of every process on this machine, as Glue would: the guard against
    two refines of one date then sees a run that another `b3` process started.
    """

    def __init__(
        self,
        glue: Any,
        s3: Any,
        python: str = sys.executable,
        poll_wait: float = 30.0,
        keep_logs: Path | None = None,
        registry: Path | None = None,
    ):
        self.glue = glue
        self.s3 = s3
        self.meta = glue.meta  # PipesGlueClient reads meta.region_name for the run URL
        self.python = python
        self.poll_wait = poll_wait
        self.keep_logs = keep_logs
        self.registry = registry or default_registry(glue)
        self.runs: dict[str, LocalRun] = {}

    def _record(self, run: LocalRun, state: str, **extra: Any) -> None:
        body = {
            "Id": run.run_id,
            "JobName": run.job_name,
            "Arguments": run.arguments,
            "StartedOn": run.started_on.isoformat(),
            "JobRunState": state,
            "pid": run.process.pid,
            "script": run.script,
            **extra,
        }
        self.registry.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.registry / f"{run.run_id}.json", json.dumps(body).encode())

    def get_job_runs(self, JobName: str, **_: Any) -> dict[str, Any]:
        """Every recorded run of the job, newest first, in one page. A run whose process is gone
        without a final state (its launcher was killed) is FAILED."""
        runs = []
        for path in sorted(self.registry.glob("jr_local_*.json")):
            try:
                body = json.loads(path.read_bytes())
            except (OSError, ValueError):
                continue  # removed or being replaced meanwhile
            if body.get("JobName") != JobName:
                continue
            if body["Id"] in self.runs:
                runs.append(self.get_job_run(JobName, body["Id"], wait=False)["JobRun"])
                continue
            state = body["JobRunState"]
            if state in ("RUNNING", "STOPPING") and not _alive(body["pid"], body["script"]):
                state = "FAILED" if state == "RUNNING" else "STOPPED"  # its launcher is gone
            job_run = {key: body[key] for key in ("Id", "JobName", "Arguments")}
            job_run |= {
                "JobRunState": state,
                "StartedOn": datetime.fromisoformat(body["StartedOn"]),
            }
            if body.get("CompletedOn"):
                job_run["CompletedOn"] = datetime.fromisoformat(body["CompletedOn"])
            runs.append(job_run)
        runs.sort(key=lambda run: run["StartedOn"], reverse=True)
        return {"JobRuns": runs}

    def _script(self, job_name: str, work_dir: Path) -> tuple[Path, dict[str, str]]:
        with aws_errors(f"reading Glue job {job_name}"):
            try:
                job = self.glue.get_job(JobName=job_name)["Job"]
            except ClientError as exc:
                if error_code(exc) == "EntityNotFoundException":
                    raise AwsError(
                        f"Glue job {job_name!r} does not exist; run `b3 deploy` first"
                    ) from None
                raise
        location = urlparse(job["Command"]["ScriptLocation"])
        if location.scheme != "s3":
            raise AwsError(f"Glue job {job_name}: script {location.geturl()} is not on S3")
        script = work_dir / Path(location.path).name
        with aws_errors(f"downloading the job script {location.geturl()}", location.netloc):
            self.s3.download_file(location.netloc, location.path.lstrip("/"), str(script))
        return script, dict(job.get("DefaultArguments", {}))

    def _extra_py_files(self, value: str, work_dir: Path) -> list[str]:
        """Downloads the job's --extra-py-files (s3:// zips or .py files) for its PYTHONPATH."""
        paths = []
        for number, uri in enumerate(filter(None, (u.strip() for u in value.split(",")))):
            location = urlparse(uri)
            if location.scheme != "s3":
                raise AwsError(f"--extra-py-files entry {uri} is not on S3")
            target = work_dir / "py" / str(number) / Path(location.path).name
            target.parent.mkdir(parents=True)
            with aws_errors(f"downloading the job's extra Python files {uri}", location.netloc):
                self.s3.download_file(location.netloc, location.path.lstrip("/"), str(target))
            paths.append(str(target))
        return paths

    def start_job_run(self, JobName: str, Arguments: dict[str, str] | None = None, **_: Any):
        run_id = "jr_local_" + uuid.uuid4().hex
        work_dir = Path(tempfile.mkdtemp(prefix="b3-glue-local-"))
        try:
            script, defaults = self._script(JobName, work_dir)
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        arguments = {**defaults, **(Arguments or {})}
        try:
            python_path = self._extra_py_files(arguments.get("--extra-py-files", ""), work_dir)
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        command = [self.python, str(script), "--JOB_NAME", JobName]
        for name, value in arguments.items():
            command += [name, value]
        log_path = work_dir / "output.log"
        endpoint = getattr(self.s3.meta, "endpoint_url", None)  # moto's, as the clients'
        if endpoint and (urlparse(endpoint).hostname or "").endswith(".amazonaws.com"):
            endpoint = None  # AWS's own: S3A's default
        env = {
            **os.environ,
            **job_environment(endpoint, self.meta.region_name, self.python),
            # as Glue does with --extra-py-files: importable ahead of anything installed here
            "PYTHONPATH": os.pathsep.join([*python_path, os.environ.get("PYTHONPATH", "")]),
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work_dir
            )
        run = LocalRun(
            run_id, JobName, arguments, process, str(script), work_dir, log_path, datetime.now(UTC)
        )
        self.runs[run_id] = run
        self._record(run, "RUNNING")
        return {"JobRunId": run_id}

    def get_job_run(self, JobName: str, RunId: str, wait: bool = True, **_: Any) -> dict[str, Any]:
        """Waits up to poll_wait for the run to end before answering (a long poll): the
        caller sleeps a fixed 5 s after each RUNNING, which would otherwise add up to 5 s."""
        run = self.runs[RunId]
        deadline = time.monotonic() + (self.poll_wait if wait else 0)
        while run.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        code = run.process.poll()
        job_run: dict[str, Any] = {
            "Id": RunId,
            "JobName": JobName,
            "StartedOn": run.started_on,
            "Arguments": run.arguments,
            "GlueVersion": "5.0 (local pyspark)",
        }
        if code is None:
            job_run["JobRunState"] = "RUNNING"
            return {"JobRun": job_run}
        if run.completed_on is None:
            run.completed_on = datetime.now(UTC)
            if code != 0:
                run.error = run.error_message()
        job_run["CompletedOn"] = run.completed_on
        job_run["ExecutionTime"] = int((run.completed_on - run.started_on).total_seconds())
        if run.stopped:
            job_run["JobRunState"] = "STOPPED"
        elif code == 0:
            job_run["JobRunState"] = "SUCCEEDED"
        else:
            job_run["JobRunState"] = "FAILED"
            job_run["ErrorMessage"] = run.error
        if run.work_dir.exists():  # the first answer after the end: record it, clean up
            self._record(run, job_run["JobRunState"], CompletedOn=run.completed_on.isoformat())
            self._finish(run)
        return {"JobRun": job_run}

    def batch_stop_job_run(self, JobName: str, JobRunIds: list[str], **_: Any):
        stopped = []
        for run_id in JobRunIds:
            run = self.runs.get(run_id)
            if run and run.process.poll() is None:
                run.stopped = True
                run.process.terminate()
                self._record(run, "STOPPING")
                stopped.append({"JobName": JobName, "JobRunId": run_id})
        return {"SuccessfulSubmissions": stopped, "Errors": []}

    def _finish(self, run: LocalRun) -> None:
        """Copies the log (when asked) and removes the run's script and files."""
        if self.keep_logs is not None:
            self.keep_logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(run.log_path, self.keep_logs / f"{run.run_id}.log")
        shutil.rmtree(run.work_dir, ignore_errors=True)
