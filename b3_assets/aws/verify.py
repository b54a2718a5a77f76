"""`b3 verify`: a first-deploy self-test on the user's own account.

Nothing in the test suite reaches real AWS (it runs against moto, with the Glue job on local
pyspark), so this proves a deployment on the real services: one offline sample unit, under the
reserved index code RESERVED_INDEX that B3 never uses, goes through the deployed path (its raw
object in the bucket, one run of the deployed Glue job, the Glue catalog, Athena through the
same AthenaQueries that `b3 query` uses) and Athena's rows are compared with the local DuckDB
refine of the same bronze file. Each step prints its time and the figures that cost money (Glue
execution time and DPU-seconds, bytes Athena scanned).

Everything it creates is under the reserved index (raw/ZZB3VERIFY/, manifests/refine/ZZB3VERIFY/,
refined/TABLE/indice=ZZB3VERIFY/, their Glue partitions) or is one of its own Athena result
objects, and all of it is removed in a `finally`, also when a step fails; a cleanup failure is
reported, never hidden. It refuses to start when the reserved index already holds something (a run
killed before its cleanup), unless asked to remove those leftovers, and it never lists or touches
another index's objects or partitions.

The sample response is passed in (the `testing` layer, which generates it, sits downstream of
this one), and so is the launcher: the Glue client, or the local runner's stand-in for it.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from b3_assets.aws.athena import AthenaQueries
from b3_assets.aws.clients import AwsError, aws_errors, error_code, explain
from b3_assets.capture.bronze import bronze_table
from b3_assets.capture.files import write_parquet
from b3_assets.capture.raw import Capture
from b3_assets.lake.s3 import S3Lake
from b3_assets.refine.catalog import QueryError
from b3_assets.refine.engine import refine_files
from b3_assets.source.b3_client import canonical_json
from b3_contract.glue_runs import (
    ACTIVE_STATES,
    DAILY,
    TERMINAL_STATES,
    glue_run_mode,
    glue_run_units,
    job_runs,
    run_arguments,
)
from b3_contract.glue_tables import all_table_inputs
from b3_contract.lake_keys import PREVIEW_RAW_PREFIX, RAW_PREFIX, Unit, raw_object_key
from b3_contract.origins import SAMPLE, SAMPLE_SOURCE
from b3_contract.refine_manifest import MANIFEST_PREFIX
from b3_contract.tables import CATALOG_TABLES, TABLES, RefinedTable

RESERVED_INDEX = "ZZB3VERIFY"
"""B3's codes are 4 letters (IBOV, IBXX, SMLL, ... 34 in GetStockIndex); this one is 10, the
longest the contract's INDEX_CODE accepts, starts with ZZ and says what it is."""

SAMPLE_DAY = date(2025, 7, 14)
"""A B3 session; fixed, so the sample (and the rows a test injects for Athena) never change."""

SAMPLE_FETCHED_AT = datetime(2025, 7, 14, 13, 0, tzinfo=UTC)
"""Whole seconds: Athena prints timestamps to the millisecond, so a microsecond would differ."""

UNIT = Unit(RESERVED_INDEX, SAMPLE_DAY)
COMPARED = ("carteira_ativos", "carteira_header", "carteira_setores")
DPU_PER_WORKER = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0}
PREVIEW_KEEP = 5  # how many leftover keys or differing rows a message names


class VerifyFailed(RuntimeError):
    """A step of the self-test failed; the message names the step."""

    def __init__(self, step: str, message: str):
        super().__init__(f"{step}: {message}")
        self.step = step


@dataclass(frozen=True)
class VerifyTarget:
    bucket: str
    database: str
    job_name: str
    trigger: str = "dagster"  # or "lambda": the bucket's notification starts the run


@dataclass
class StepResult:
    name: str
    seconds: float
    ok: bool
    detail: str


@dataclass
class Verification:
    """What a self-test did: every step in order, the failure if any, cleanup problems."""

    steps: list[StepResult] = field(default_factory=list)
    failure: str | None = None
    cleanup_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None and not self.cleanup_problems


RESERVED_EXPRESSION = f"indice = '{RESERVED_INDEX}'"  # the catalog filter of its partitions


def _owned(key: str, root: str) -> bool:
    """Whether `key` under a table's `root` belongs to the reserved index: its `indice=` folder
    (and the `_$folder$` marker some S3 clients write for it), or that folder inside a
    committer's staging folder at the table's root (`_temporary/`, `.spark-staging-*/`)."""
    mine = f"indice={RESERVED_INDEX}"
    rest = key[len(root) :]
    return rest.startswith((mine + "/", mine + "_$folder$")) or f"/{mine}/" in rest


def sample_bronze(response: dict[str, Any], folder: Path) -> Path:
    """The bronze file of the sample response, as the capture layer writes it (origin
    `amostra`), in `folder`."""
    raw = canonical_json(response)
    capture = Capture(
        trading_date=UNIT.day,
        index=UNIT.index,
        raw_file="portfolio.json",
        sha256=hashlib.sha256(raw).hexdigest(),
        source_url=f"{SAMPLE_SOURCE}GetPortfolioDay/{UNIT.index}/segment-2",
        fetched_at=SAMPLE_FETCHED_AT,
        origin=SAMPLE,
    )
    path = folder / "dados_originais.parquet"
    write_parquet(bronze_table(response, capture), path)
    return path


def verify_sql(table: RefinedTable) -> str:
    """The Athena query that reads the unit back from one table, columns in the contract's
    order (Athena-bound: it goes through `check_query` like any `b3 query`)."""
    columns = ", ".join(name for name, _ in table.columns)
    return (
        f"SELECT {columns} FROM {table.name} WHERE indice = '{UNIT.index}' "
        f"AND data = DATE '{UNIT.day.isoformat()}' ORDER BY {', '.join(table.key)}"
    )


def _plain(value: Any) -> Any:
    """A value as both engines can equal it: an aware timestamp in naive UTC (Athena has no
    zone), a Decimal normalized for printing only through str()."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _show(value: Any) -> str:
    return "NULL" if value is None else str(value)


def compare_rows(
    table: RefinedTable,
    columns: Sequence[str],
    athena_rows: Sequence[tuple[Any, ...]],
    local_rows: Sequence[dict[str, Any]],
) -> list[str]:
    """The differences between Athena's rows and the local engine's, by the table's key: rows
    only one side has, and each column that differs (named, with both values)."""
    wanted = [name for name, _ in table.columns]
    if list(columns) != wanted:
        return [f"{table.name}: Athena returned columns {list(columns)}, expected {wanted}"]

    def keyed(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {tuple(row[name] for name in table.key): row for row in rows}

    athena = keyed(
        [{n: _plain(v) for n, v in zip(wanted, row, strict=True)} for row in athena_rows]
    )
    local = keyed([{n: _plain(row[n]) for n in wanted} for row in local_rows])
    problems = []
    if len(athena) != len(athena_rows):
        problems.append(f"{table.name}: Athena returned repeated keys ({len(athena_rows)} rows)")

    def label(key: tuple[Any, ...]) -> str:
        return ", ".join(f"{n}={_show(v)}" for n, v in zip(table.key, key, strict=True))

    for key in sorted(set(local) - set(athena), key=str):
        problems.append(f"{table.name}: row {label(key)} is missing from Athena's answer")
    for key in sorted(set(athena) - set(local), key=str):
        problems.append(f"{table.name}: row {label(key)} is in Athena's answer only")
    for key in sorted(set(athena) & set(local), key=str):
        for name in wanted:
            mine, theirs = local[key][name], athena[key][name]
            same = (
                Decimal(str(mine)) == Decimal(str(theirs))
                if isinstance(mine, Decimal) and isinstance(theirs, Decimal | int | float)
                else mine == theirs
            )
            if not same:
                problems.append(
                    f"{table.name}: row {label(key)}, column {name}: Athena {_show(theirs)}, "
                    f"local {_show(mine)}"
                )
    return problems


def _seconds(run: dict[str, Any]) -> tuple[float | None, str]:
    """Glue's execution time and the DPU-seconds billed (DPUSeconds when Glue gives it, else
    workers x DPU per worker x execution time, which Glue bills with a 1-minute minimum)."""
    execution = run.get("ExecutionTime")
    if run.get("DPUSeconds") is not None:
        return execution, f"{float(run['DPUSeconds']):.0f} DPU-s (Glue's figure)"
    per_worker = DPU_PER_WORKER.get(str(run.get("WorkerType")))
    workers = run.get("NumberOfWorkers")
    if execution is None:
        return None, "no execution time given"
    if per_worker and workers:
        dpus = per_worker * workers
    elif run.get("MaxCapacity"):
        dpus = float(run["MaxCapacity"])
    else:
        return execution, "DPUs not given"
    billed = max(60, int(execution))
    return execution, f"about {dpus * billed:.0f} DPU-s ({dpus:g} DPU x {billed} s billed)"


class SelfTest:
    """One run of the self-test (see the module docstring)."""

    def __init__(
        self,
        s3: Any,
        glue: Any,
        launcher: Any,
        athena: AthenaQueries,
        target: VerifyTarget,
        response: dict[str, Any],
        out: Callable[[str], None] = print,
        remove_leftovers: bool = False,
        poll_interval: float = 5.0,
        run_timeout: float = 3600.0,
        lambda_wait: float = 180.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.s3, self.glue, self.launcher, self.athena = s3, glue, launcher, athena
        self.target, self.response, self.out = target, response, out
        self.remove_leftovers = remove_leftovers
        self.poll_interval, self.run_timeout, self.lambda_wait = (
            poll_interval,
            run_timeout,
            lambda_wait,
        )
        self.sleep, self.clock = sleep, clock
        self.lake = S3Lake(s3, target.bucket)
        self.report = Verification()
        self.result_objects: list[str] = []  # s3:// URIs of this run's Athena results
        self.touched = False  # whether anything of this run may be in the account
        self.runs_before: set[str] = set()  # runs of the unit before the upload (lambda mode)
        self.job: dict[str, Any] = {}  # the deployed job's definition

    # ------------------------------------------------------------ steps

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Times a step, prints it, and turns any failure in it into a VerifyFailed naming it;
        the step appends its figures to the yielded list."""
        started = self.clock()
        figures: list[str] = []
        try:
            yield figures
        except VerifyFailed as exc:
            self._record(name, started, False, str(exc).removeprefix(f"{name}: "))
            raise
        except (BotoCoreError, ClientError) as exc:
            message = str(explain(exc, name, self.target.bucket))
            self._record(name, started, False, message)
            raise VerifyFailed(name, message) from exc
        except Exception as exc:  # any other failure still names its step, then cleans up
            message = str(exc) if isinstance(exc, AwsError | QueryError) else repr(exc)
            self._record(name, started, False, message)
            raise VerifyFailed(name, message) from exc
        self._record(name, started, True, "; ".join(figures))

    def _record(self, name: str, started: float, ok: bool, detail: str) -> None:
        result = StepResult(name, self.clock() - started, ok, detail)
        self.report.steps.append(result)
        self.out(f"{'ok' if ok else 'FAILED':<7}{name:<24}{result.seconds:7.1f} s   {detail}")

    def run(self) -> Verification:
        """Every step, then the cleanup whatever happened (the cleanup is skipped only when the
        run stopped before touching anything, e.g. when it refused to start)."""
        try:
            with self.step("deployment") as figures:
                figures.append(self.check_deployment())
            with self.step("reserved index free") as figures:
                figures.append(self.check_reserved())
            with tempfile.TemporaryDirectory(prefix="b3-verify-") as folder:
                with self.step("local refine (DuckDB)") as figures:
                    bronze = sample_bronze(self.response, Path(folder))
                    local = refine_files([bronze])
                    figures.append(
                        ", ".join(f"{name} {local[name].num_rows} rows" for name in COMPARED)
                    )
                with self.step("upload raw object") as figures:
                    self.touched = True
                    put = self.lake.put_file(raw_object_key(UNIT), bronze)
                    figures.append(f"{put.uri} ({put.size} bytes)")
            with self.step("glue run") as figures:
                figures.append(self.glue_run())
            for name in COMPARED:
                with self.step(f"athena {name}") as figures:
                    figures.append(self.athena_compare(TABLES[name], local[name].to_pylist()))
        except VerifyFailed as exc:
            self.report.failure = str(exc)
        finally:
            if self.touched:
                self.cleanup()
        return self.report

    def check_deployment(self) -> str:
        self.lake.check_bucket()
        with aws_errors(f"reading Glue job {self.target.job_name}"):
            try:
                self.job = self.glue.get_job(JobName=self.target.job_name)["Job"]
            except ClientError as exc:
                if error_code(exc) != "EntityNotFoundException":
                    raise
                raise AwsError(
                    f"Glue job {self.target.job_name} does not exist: run `b3 deploy` first"
                ) from None
        names = [table["Name"] for table in all_table_inputs(self.target.bucket)]
        missing = []
        with aws_errors(f"reading the tables of Glue database {self.target.database}"):
            for name in names:
                try:
                    self.glue.get_table(DatabaseName=self.target.database, Name=name)
                except ClientError as exc:
                    if error_code(exc) != "EntityNotFoundException":
                        raise
                    missing.append(name)
        if missing:
            raise AwsError(
                f"Glue database {self.target.database} lacks {', '.join(missing)}: run "
                "`b3 deploy` (or deploy the stack) first; the self-test creates no table"
            )
        return (
            f"bucket s3://{self.target.bucket}, job {self.target.job_name}, "
            f"{len(names)} tables in {self.target.database}"
        )

    def check_reserved(self) -> str:
        """Nothing of the reserved index may be there: a run of it still active, objects, or
        partitions. With remove_leftovers, earlier leftovers are removed first (they can only
        be an earlier self-test's: the index is reserved)."""
        runs = self._runs()
        self.runs_before = {str(run["Id"]) for run in runs if UNIT in self._units(run)}
        active = self.active_runs(runs)
        if active:
            raise AwsError(
                f"Glue run(s) {', '.join(active)} of {RESERVED_INDEX} are still active: another "
                "self-test is running; wait for it to end"
            )
        keys, partitions = self.reserved_keys(), self.reserved_partitions()
        if not keys and not partitions:
            return f"nothing under {RESERVED_INDEX}"
        found = sorted(keys) + [f"{t} partition {v}" for t, vs in partitions.items() for v in vs]
        if not self.remove_leftovers:
            shown = ", ".join(found[:PREVIEW_KEEP])
            more = f" and {len(found) - PREVIEW_KEEP} more" if len(found) > PREVIEW_KEEP else ""
            raise AwsError(
                f"{len(found)} object(s) or partition(s) of the reserved index {RESERVED_INDEX} "
                f"already exist ({shown}{more}), left by an earlier self-test that did not "
                "finish; nothing was changed. `b3 verify --remove-leftovers` removes them "
                "(only the reserved index's) and runs the test"
            )
        self.touched = True
        problems = self.remove_reserved()
        if problems:
            raise AwsError("removing the leftovers failed: " + "; ".join(problems))
        return f"removed {len(found)} leftover object(s) and partition(s) of {RESERVED_INDEX}"

    def glue_run(self) -> str:
        """One run of the deployed job for the unit, with the arguments Dagster and the Lambda
        give it; with B3_TRIGGER=lambda the bucket's notification has started it already, so
        this waits for that run instead of racing it with a second one."""
        if self.target.trigger == "lambda":
            run_id = self.lambda_run()
            started_by = "the Lambda"
        else:
            arguments = {
                **run_arguments([UNIT], self.target.bucket, DAILY),
                "--database": self.target.database,
            }
            with aws_errors(f"starting Glue job {self.target.job_name}"):
                run_id = self.launcher.start_job_run(
                    JobName=self.target.job_name, Arguments=arguments
                )["JobRunId"]
            started_by = "this command"
        deadline = self.clock() + self.run_timeout
        while True:
            with aws_errors(f"reading Glue run {run_id}"):
                run = self.launcher.get_job_run(JobName=self.target.job_name, RunId=run_id)[
                    "JobRun"
                ]
            state = run.get("JobRunState")
            if state in TERMINAL_STATES:
                break
            if self.clock() >= deadline:
                raise AwsError(f"Glue run {run_id} still {state} after {self.run_timeout:g} s")
            self.sleep(self.poll_interval)
        capacity = ("WorkerType", "NumberOfWorkers", "MaxCapacity")
        defaults = {name: self.job[name] for name in capacity if name in self.job}
        execution, dpu = _seconds({**defaults, **run})  # the run's own figures first
        if state != "SUCCEEDED":
            reason = run.get("ErrorMessage") or "no error message"
            raise AwsError(f"Glue run {run_id} {state}: {reason}")
        took = "?" if execution is None else f"{execution} s"
        return f"run {run_id} (started by {started_by}): {took} on Glue, {dpu}"

    def lambda_run(self) -> str:
        """The run the Lambda started for the unit's raw object."""
        deadline = self.clock() + self.lambda_wait
        while True:
            for run in self._runs():
                if UNIT in self._units(run) and str(run["Id"]) not in self.runs_before:
                    return str(run["Id"])
            if self.clock() >= deadline:
                raise AwsError(
                    f"no run of Glue job {self.target.job_name} for {UNIT} within "
                    f"{self.lambda_wait:g} s of its upload: is the bucket's notification to the "
                    "Lambda in place (B3_TRIGGER=lambda)? With B3_TRIGGER=dagster this command "
                    "starts the run itself"
                )
            self.sleep(self.poll_interval)

    def athena_compare(self, table: RefinedTable, local_rows: list[dict[str, Any]]) -> str:
        sql = verify_sql(table)
        execution_id = self.athena.start(sql)
        try:
            execution = self.athena.wait(execution_id)
        finally:
            self._note_result(execution_id)
        result = self.athena.results(execution_id)
        scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
        problems = compare_rows(table, result.columns, result.rows, local_rows)
        if problems:
            shown = "; ".join(problems[:PREVIEW_KEEP])
            more = f" (and {len(problems) - PREVIEW_KEEP} more)" if len(problems) > 5 else ""
            raise VerifyFailed(
                f"athena {table.name}",
                f"Athena's rows differ from the local engine's: {shown}{more}",
            )
        scanned_text = "bytes scanned not given" if scanned is None else f"{scanned} bytes scanned"
        rows = len(result.rows)
        return f"{rows} rows equal the local engine's; query {execution_id}, {scanned_text}"

    def _note_result(self, execution_id: str) -> None:
        """Remembers where Athena wrote this query's results, to remove them afterwards."""
        try:
            execution = self.athena.client.get_query_execution(QueryExecutionId=execution_id)
        except (BotoCoreError, ClientError) as exc:
            problem = f"cannot read where Athena query {execution_id} wrote its results: {exc}"
            self.report.cleanup_problems.append(problem)
            return
        location = execution["QueryExecution"].get("ResultConfiguration", {}).get("OutputLocation")
        if location:
            self.result_objects += [location, location + ".metadata"]

    # ------------------------------------------------------------ what the reserved index holds

    def _runs(self) -> list[dict[str, Any]]:
        with aws_errors(f"listing the runs of Glue job {self.target.job_name}"):
            return list(job_runs(self.launcher, self.target.job_name))

    @staticmethod
    def _units(run: dict[str, Any]) -> list[Unit]:
        try:
            if glue_run_mode(run) != DAILY:
                return []
            return glue_run_units(run)
        except ValueError:
            return []

    def active_runs(self, runs: list[dict[str, Any]] | None = None) -> list[str]:
        return [
            str(run["Id"])
            for run in (self._runs() if runs is None else runs)
            if run.get("JobRunState") in ACTIVE_STATES
            and (run.get("Arguments") or {}).get("--bucket") == self.target.bucket
            and any(unit.index == RESERVED_INDEX for unit in self._units(run))
        ]

    def reserved_keys(self) -> list[str]:
        """Every object of the reserved index: its raw and preview objects, and under each
        table its `indice=` folder and any committer staging folder's copy of it. Another
        index's folders are never listed (a table root is listed one level deep only)."""
        found = self.lake.keys(f"{RAW_PREFIX}{RESERVED_INDEX}/")
        found += self.lake.keys(f"{PREVIEW_RAW_PREFIX}{RESERVED_INDEX}/")
        found += self.lake.keys(f"{MANIFEST_PREFIX}{RESERVED_INDEX}/")
        for table in CATALOG_TABLES.values():
            root = table.prefix + "/"
            mine = self.lake.keys(f"{root}indice={RESERVED_INDEX}")
            found += [key for key in mine if _owned(key, root)]
            with aws_errors(f"listing {self.lake.uri(root)}", self.target.bucket):
                pages = self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.target.bucket, Prefix=root, Delimiter="/"
                )
                folders = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
            for folder in folders:
                if folder.startswith((f"{root}indice=", f"{root}mes=", f"{root}data=")):
                    continue  # an index's (or the earlier layout's) partitions: not staging
                found += [k for k in self.lake.keys(folder) if _owned(k, root)]
        return sorted(set(found))

    def reserved_partitions(self) -> dict[str, list[list[str]]]:
        found: dict[str, list[list[str]]] = {}
        for table in CATALOG_TABLES.values():
            with aws_errors(f"reading the partitions of {self.target.database}.{table.name}"):
                pages = self.glue.get_paginator("get_partitions").paginate(
                    DatabaseName=self.target.database,
                    TableName=table.name,
                    Expression=RESERVED_EXPRESSION,
                )
                values = [p["Values"] for page in pages for p in page["Partitions"]]
            values = [v for v in values if v and v[0] == RESERVED_INDEX]  # indice comes first
            if values:
                found[table.name] = values
        return found

    # ------------------------------------------------------------ cleanup

    def remove_reserved(self) -> list[str]:
        """Removes every object and partition of the reserved index; returns what failed."""
        problems = []
        try:
            for table, values in self.reserved_partitions().items():
                for start in range(0, len(values), 25):
                    chunk = values[start : start + 25]
                    with aws_errors(f"removing partitions of {self.target.database}.{table}"):
                        answer = self.glue.batch_delete_partition(
                            DatabaseName=self.target.database,
                            TableName=table,
                            PartitionsToDelete=[{"Values": v} for v in chunk],
                        )
                    for error in answer.get("Errors", []):
                        detail = error.get("ErrorDetail", {}).get("ErrorMessage", error)
                        problems.append(f"partition {error.get('PartitionValues')}: {detail}")
        except AwsError as exc:
            problems.append(str(exc))
        try:
            keys = self.reserved_keys()
            for start in range(0, len(keys), 1000):
                chunk = keys[start : start + 1000]
                with aws_errors(f"removing objects of {RESERVED_INDEX}", self.target.bucket):
                    answer = self.s3.delete_objects(
                        Bucket=self.target.bucket,
                        Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                    )
                for error in answer.get("Errors", []):
                    problems.append(f"s3://{self.target.bucket}/{error.get('Key')}: {error}")
        except AwsError as exc:
            problems.append(str(exc))
        return problems

    def stop_runs(self) -> list[str]:
        """Stops the reserved index's active runs and waits for them to end: a run still
        writing would put objects back after the cleanup."""
        try:
            active = self.active_runs()
            if not active:
                return []
            with aws_errors(f"stopping Glue runs {', '.join(active)}"):
                self.launcher.batch_stop_job_run(JobName=self.target.job_name, JobRunIds=active)
            deadline = self.clock() + self.run_timeout
            while self.active_runs():
                if self.clock() >= deadline:
                    return [f"Glue run(s) {', '.join(self.active_runs())} did not stop"]
                self.sleep(self.poll_interval)
        except AwsError as exc:
            return [str(exc)]
        return []

    def remove_results(self) -> list[str]:
        problems = []
        for uri in self.result_objects:
            location = urlparse(uri)
            try:
                self.s3.delete_object(Bucket=location.netloc, Key=location.path.lstrip("/"))
            except (BotoCoreError, ClientError) as exc:
                problems.append(f"{uri}: {explain(exc, 'removing an Athena result')}")
        return problems

    def cleanup(self) -> None:
        started = self.clock()
        problems = self.report.cleanup_problems
        problems += self.stop_runs()
        problems += self.remove_reserved()
        problems += self.remove_results()
        try:
            left = self.reserved_keys()
            partitions = self.reserved_partitions().items()
            left += [f"{t} partition {v}" for t, values in partitions for v in values]
        except AwsError as exc:
            left = []
            problems.append(f"checking what is left: {exc}")
        if left:
            problems.append(f"still there: {', '.join(left[:PREVIEW_KEEP])}")
        detail = (
            f"removed every object and partition of {RESERVED_INDEX} and "
            f"{len(self.result_objects)} Athena result object(s)"
            if not problems
            else "; ".join(problems)
        )
        self._record("cleanup", started, not problems, detail)
