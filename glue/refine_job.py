"""AWS Glue 5.0 job (Spark 3.5, Python 3.11): raw/INDEX/DATE/dados_originais.parquet -> refined.

One run refines one or many (index, date) units (`--units IBOV/2025-07-14,IBXX/2025-07-14`; a
backfill of N dates x K indices is one run). It runs the refine SQL that `b3 deploy` put under
s3://BUCKET/glue/sql/ with spark.sql, writes each unit's partitions under
s3://BUCKET/refined/TABLE/indice=INDEX/data=DATE/, removes partitions a unit no longer has (never
touching another unit's), and creates or updates the tables and their partitions in the Glue Data
Catalog through boto3: carteira_* for every index, and the IBOV tables (ibov_*) over IBOV's
folders of the same files.

Then, in the same run, the analytic tables (carteira_historico by index and month, carteira_mudancas
and carteira_concentracao by index and date) from the fresh carteira_ativos and the stored sessions
around the run's units: b3_contract.analytics plans which partitions change and what to read, as
for the local DuckDB refine (b3_assets/defs/resources/local.py), so both write the same partitions.

With `--refine previews` the units are (index, capture session) of B3's quadrimester preview: the
run reads previa/raw/INDEX/DATE/dados_originais.parquet (a unit without one has no preview, and
loses its partition), writes carteira_previa and the carteira_previa_mudancas partitions that
b3_contract.previews plans (as the local `_refine_previews` does), and only reads the daily
tables. `--refine daily` (the default) never writes a preview table.

It is started either by Dagster (PipesGlueClient: the Pipes arguments are present and the figures
go back to the materialization) or by the Lambda on a new raw object (no Pipes: the figures are
logged). Spark reads raw/ and writes refined/ itself, on Glue through EMRFS and with the local
runner (B3_GLUE_RUNNER=local) through Hadoop's S3A on moto or LocalStack: one code path, whose
Spark settings off Glue come from the runner (PYSPARK_SUBMIT_ARGS), never from this file. Its
arguments are read with Glue's own getResolvedOptions everywhere.

The file is self-contained on purpose: Glue runs it alone, with only dagster-pipes installed
(--additional-python-modules) and b3_contract (--extra-py-files), the table contract, lake keys
and B3's sessions (b3_contract.sessions: data, so nothing else is installed at start) that the
code location uses too, so the contract has one source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

# Shipped beside this script: the wheel locally, `--extra-py-files glue/b3_contract.zip` on Glue.
from b3_contract.analytics import CARTEIRA_COLUMNS, plan_analytics
from b3_contract.glue_runs import (
    DAILY,
    PREVIEWS,
    REFINE_ARGUMENT,
    UNITS_ARGUMENT,
    check_mode,
    parse_units,
)
from b3_contract.glue_tables import (
    Table,
    partition_input,
    partition_location,
    table_input,
    unit_expression,
)
from b3_contract.lake_keys import (
    Month,
    Unit,
    by_index,
    month_prefix,
    partition_prefix,
    preview_object_key,
    raw_key_unit,
    raw_object_key,
)
from b3_contract.previews import Comparison, plan_previews
from b3_contract.refine_manifest import (
    contract_version,
    manifest,
    manifest_key,
    unchanged,
    unit_inputs,
)
from b3_contract.sessions import first_session, require_known, sessions_between
from b3_contract.tables import (
    ANALYTIC_TABLES,
    INDEX_TABLES,
    PORTFOLIO_TABLES,
    PREVIEW_TABLES,
    TABLES,
    RefinedTable,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import Column, DataFrame, SparkSession

FAILURE_MARK = "B3 REFINE JOB FAILED: "
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
DATABASE_RE = re.compile(r"^[a-z0-9_]{1,255}$")
PREFIX_RE = re.compile(r"^([a-z0-9_-]+/)+$")
MAX_UNITS = 20000
LOCAL_RUNNER_ENV = "B3_GLUE_LOCAL_RUNNER"  # set by b3_assets.testing.glue_local, never by Glue
ARGUMENTS_MARK = "job arguments read by awsglue.utils.getResolvedOptions: "

Target = Unit | Month  # what a write replaces: a unit's partitions, or an index's month


class JobArgumentError(ValueError):
    """A job argument that is missing or not what the job accepts."""


@dataclass(frozen=True)
class JobArgs:
    job_name: str
    bucket: str
    database: str
    units: tuple[Unit, ...]
    glue_prefix: str = "glue/"
    refine: str = DAILY  # or PREVIEWS (b3_contract.glue_runs)


# ---------------------------------------------------------------- arguments


def parse_units_argument(text: str) -> tuple[Unit, ...]:
    """'IBOV/2025-07-14,IBXX/2025-07-14' -> sorted unique units; anything else refused by name."""
    try:
        units = parse_units(text)
    except ValueError as exc:
        raise JobArgumentError(f"{UNITS_ARGUMENT}: {exc}") from None
    if len(units) > MAX_UNITS:
        raise JobArgumentError(f"{UNITS_ARGUMENT} has {len(units)} units; at most {MAX_UNITS}")
    return tuple(units)


def validate_args(raw: dict[str, str | None]) -> JobArgs:
    missing = [name for name in ("JOB_NAME", "bucket", "database", "units") if not raw.get(name)]
    if missing:
        raise JobArgumentError(f"missing job argument(s): {', '.join('--' + m for m in missing)}")
    bucket, database = str(raw["bucket"]), str(raw["database"])
    if not BUCKET_RE.fullmatch(bucket):
        raise JobArgumentError(f"--bucket {bucket!r} is not an S3 bucket name")
    if not DATABASE_RE.fullmatch(database):
        raise JobArgumentError(f"--database {database!r} is not a Glue database name")
    prefix = raw.get("glue_prefix") or "glue/"
    if not PREFIX_RE.fullmatch(prefix):
        raise JobArgumentError(f"--glue_prefix {prefix!r} must be a relative key prefix like glue/")
    try:
        mode = check_mode(raw.get("refine") or DAILY)
    except ValueError as exc:
        raise JobArgumentError(str(exc)) from None
    return JobArgs(
        job_name=str(raw["JOB_NAME"]),
        bucket=bucket,
        database=database,
        units=parse_units_argument(str(raw["units"])),
        glue_prefix=prefix,
        refine=mode,
    )


def resolve_args(argv: Sequence[str]) -> JobArgs:
    """The arguments as Glue resolves them (awsglue.utils.getResolvedOptions, here as on Glue;
    never GlueContext, which needs Glue's jar). getResolvedOptions makes every name it is given
    required and fails with argparse's words, so only the names present are asked for and the
    missing or bad ones are refused by name in validate_args."""
    from awsglue.utils import GlueArgumentError, getResolvedOptions  # type: ignore[import]

    names = ("JOB_NAME", "bucket", "database", "units", "glue_prefix", REFINE_ARGUMENT[2:])
    present = [name for name in names if f"--{name}" in argv]
    try:
        resolved = getResolvedOptions(list(argv), present)
    except GlueArgumentError as exc:
        raise JobArgumentError(str(exc)) from None
    return validate_args(resolved)


# ---------------------------------------------------------------- transform (pure Spark)


def spark_session(app_name: str) -> SparkSession:
    """Glue's session (or, off Glue, the one PYSPARK_SUBMIT_ARGS describes) with the settings
    the SQL and the writes rely on."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName(app_name).getOrCreate()
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.ansi.enabled": "false",
    }
    for key, value in conf.items():
        spark.conf.set(key, value)
    spark.sparkContext._jsc.hadoopConfiguration().set(
        "mapreduce.fileoutputcommitter.marksuccessfuljobs", "false"
    )
    return spark


def pinned(frame: DataFrame, table: RefinedTable) -> DataFrame:
    """The SQL's result with the contract's names checked and its types cast (Spark infers
    some types differently, e.g. a sum of decimals widens)."""
    expected = [name for name, _ in table.columns]
    if frame.columns != expected:
        raise RuntimeError(f"{table.name}: SQL produced {frame.columns}, expected {expected}")
    return typed(frame, table)


def typed(frame: DataFrame, table: RefinedTable) -> DataFrame:
    """The table's columns by name, in the contract's order and types."""
    return frame.selectExpr(
        *(f"CAST(`{name}` AS {kind}) AS `{name}`" for name, kind in table.columns)
    )


def empty_frame(spark: SparkSession, columns: Iterable[tuple[str, str]]) -> DataFrame:
    """No rows, these columns: a view the SQL reads when there is nothing to put in it."""
    return spark.createDataFrame([], ", ".join(f"`{name}` {kind}" for name, kind in columns))


def refine(spark, bronze_paths: Sequence[str], sql: dict[str, str], tables: Sequence[RefinedTable]):
    """Runs each table's SQL over the view `bronze` and pins the contract's names and types."""
    spark.read.parquet(*bronze_paths).createOrReplaceTempView("bronze")
    return {table.name: pinned(spark.sql(sql[table.sql_file]), table) for table in tables}


def as_carteira(frame: DataFrame) -> DataFrame:
    """carteira_ativos rows (or carteira_historico's) as the view `carteira` the analytic SQL
    reads: CARTEIRA_COLUMNS with carteira_historico's types, so every source unions alike."""
    kinds = dict(ANALYTIC_TABLES["carteira_historico"].columns)
    return frame.selectExpr(
        *(f"CAST(`{name}` AS {kinds[name]}) AS `{name}`" for name in CARTEIRA_COLUMNS)
    )


def analytics(
    spark: SparkSession, carteira_frame: DataFrame, sessions: Sequence[date], sql: dict[str, str]
) -> dict[str, DataFrame]:
    """The analytic tables (carteira_historico, carteira_mudancas, carteira_concentracao) over
    the view `carteira` (carteira_ativos rows) and `pregoes` (B3's `sessions` from the first day
    of the earliest month in it): every partition the rows allow; the caller keeps the plan's."""
    as_carteira(carteira_frame).createOrReplaceTempView("carteira")
    spark.createDataFrame([(day,) for day in sessions], "data date").createOrReplaceTempView(
        "pregoes"
    )
    return {
        name: pinned(spark.sql(sql[table.sql_file]), table)
        for name, table in ANALYTIC_TABLES.items()
    }


def _target_keys(column: str, targets: Iterable[Target]) -> Column:
    """Whether a row's `indice`/`column` is one of the targets ('IBOV/2025-07-14' or
    'IBOV/2025-07')."""
    from pyspark.sql import functions as F

    key = F.concat_ws("/", F.col("indice"), F.col(column).cast("string"))
    return key.isin(sorted({str(target) for target in targets}))


def keep_targets(frame: DataFrame, table: RefinedTable, targets: Sequence[Target]) -> DataFrame:
    """Only the rows of the partitions the plan rewrites: the SQL also answers for the sessions
    read around the run, which must keep their stored partitions."""
    return frame.where(_target_keys("mes" if "mes" in table.partition_by else "data", targets))


def laid_out(frame: DataFrame, table: RefinedTable) -> DataFrame:
    """One task, so one file, per partition; carteira_historico's month file sorted by date and
    ticker (the sort starts with `mes`, so Spark's partitioned write keeps it)."""
    frame = frame.repartition(*table.partition_by)
    if "mes" in table.partition_by:
        inner = [name for name in table.key if name not in table.partition_by]
        frame = frame.sortWithinPartitions(*table.index_partition_by, *inner)
    return frame


# ---------------------------------------------------------------- catalog (boto3)


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert_table(glue, database: str, table: Table, location: str) -> str:
    wanted = table_input(table, location)
    try:
        current = glue.get_table(DatabaseName=database, Name=table.name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=wanted)
        return "created"
    same = (
        current.get("PartitionKeys") == wanted["PartitionKeys"]
        and current["StorageDescriptor"].get("Columns") == wanted["StorageDescriptor"]["Columns"]
        and current["StorageDescriptor"].get("Location") == location
    )
    if same:
        return "unchanged"
    glue.update_table(DatabaseName=database, TableInput=wanted)
    return "updated"


def existing_partitions(
    glue, database: str, table: Table, unit: Unit
) -> dict[tuple[str, ...], str]:
    """{partition values: location} of one unit's partitions in the catalog."""
    values: dict[tuple[str, ...], str] = {}
    paginator = glue.get_paginator("get_partitions")
    expression = unit_expression(table, unit)
    pages = paginator.paginate(DatabaseName=database, TableName=table.name, Expression=expression)
    for page in pages:
        values.update(
            (tuple(p["Values"]), p.get("StorageDescriptor", {}).get("Location", ""))
            for p in page["Partitions"]
        )
    return values


def sync_partitions(
    glue,
    database: str,
    table: Table,
    location: str,
    units: Sequence[Unit],
    written: set[tuple[str, ...]],
) -> dict[str, int]:
    """Makes the catalog hold exactly the written partitions for these units, at their locations
    (one registered elsewhere, as by the earlier IBOV-only layout, is registered again)."""
    found: dict[tuple[str, ...], str] = {}
    for unit in units:
        found |= existing_partitions(glue, database, table, unit)
    before = {v for v, where in found.items() if where == partition_location(location, table, v)}
    misplaced = set(found) - before
    new = sorted(written - before)
    stale = sorted((before - written) | misplaced)
    for chunk in _chunks(stale, 25):
        glue.batch_delete_partition(
            DatabaseName=database,
            TableName=table.name,
            PartitionsToDelete=[{"Values": list(v)} for v in chunk],
        )
    for chunk in _chunks(new, 100):
        response = glue.batch_create_partition(
            DatabaseName=database,
            TableName=table.name,
            PartitionInputList=[partition_input(table, location, v) for v in chunk],
        )
        if response.get("Errors"):
            errors = response["Errors"][:3]
            raise RuntimeError(f"{table.name}: creating partitions failed: {errors}")
    return {"added": len(new), "removed": len(stale), "kept": len(written & before)}


# ---------------------------------------------------------------- storage


def _partition_values(relative_dir: str, table: RefinedTable) -> tuple[str, ...]:
    parts = dict(part.split("=", 1) for part in relative_dir.strip("/").split("/") if "=" in part)
    return tuple(parts.get(name, "") for name in table.partition_by)


def _data_file(name: str) -> bool:
    """A file Spark's writer made (`part-*.parquet`), not a marker or a committer's file: Hadoop
    hides names starting with `_` or `.` from readers, and a folder marker has no name."""
    return name.endswith(".parquet") and not name.startswith(("_", "."))


def target_prefix(table: RefinedTable, target: Target) -> str:
    """The folder a target's partitions live in: every object under it belongs to it only."""
    if isinstance(target, Month):
        return month_prefix(table.prefix, target)
    return partition_prefix(table.prefix, target)


class Lake:
    """The bucket: Spark reads and writes it itself (s3://), boto3 lists and deletes."""

    def __init__(self, s3, bucket: str):
        self.s3, self.bucket = s3, bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def keys(self, prefix: str) -> list[str]:
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return found

    def partition_dates(self, prefix: str, index: str) -> list[date]:
        """The dates of one index with a partition under a table's prefix: its `data=` folders,
        listed with a delimiter (one entry per date, not one per file)."""
        base = f"{prefix}/indice={index}/"
        days = set()
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base, Delimiter="/"
        ):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(base) :].rstrip("/")
                if name.startswith("data="):
                    with contextlib.suppress(ValueError):
                        days.add(date.fromisoformat(name[len("data=") :]))
        return sorted(days)

    def read_text(self, key: str) -> str:
        try:
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
        except self.s3.exceptions.NoSuchKey:
            raise FileNotFoundError(f"{self.uri(key)} is missing: run `b3 deploy`") from None

    def raw_inputs(self, units: Sequence[Unit]) -> list[str]:
        keys = [raw_object_key(unit) for unit in units]
        missing = [key for key in keys if not self.keys(key)]
        if missing:
            raise FileNotFoundError(f"no raw object at {', '.join(map(self.uri, missing))}")
        return [self.uri(key) for key in keys]

    def preview_inputs(self, units: Sequence[Unit]) -> list[str]:
        """Where Spark reads the units' preview objects: only those that exist (a unit without
        one has no preview; the caller removes its partition)."""
        keys = [key for key in map(preview_object_key, units) if self.keys(key)]
        return [self.uri(key) for key in keys]

    def replace(
        self, table: RefinedTable, targets: Sequence[Target], written: set[tuple[str, ...]]
    ) -> tuple[int, int]:
        """After Spark's write, which replaced the written partitions whole (dynamic partition
        overwrite: each one's folder deleted, then its new file renamed in), deletes every other
        object under these units (or months): partitions a unit no longer has (a ticker that
        left) and anything that is not a data file of a written partition (a committer's or an
        earlier run's leftovers, `_SUCCESS`, folder markers). Objects of other units are never
        listed. Returns (files kept, objects removed)."""
        keep, stale = [], []
        for target in targets:
            for key in self.keys(target_prefix(table, target)):
                folder, name = key[len(table.prefix) + 1 :].rsplit("/", 1)
                current = _data_file(name) and _partition_values(folder, table) in written
                (keep if current else stale).append(key)
        self.delete(stale)
        return len(keep), len(stale)

    def delete(self, keys: list[str]) -> None:
        for chunk in _chunks(keys, 1000):
            self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )


# ---------------------------------------------------------------- the run


def load_sql(lake: Lake, glue_prefix: str, tables: Iterable[RefinedTable]) -> dict[str, str]:
    """The refine SQL as deployed beside the script (`b3 deploy` uploads glue/sql/)."""
    return {t.sql_file: lake.read_text(f"{glue_prefix}sql/{t.sql_file}") for t in tables}


class Timings:
    """Seconds per phase and AWS calls made, reported with the summary (see bench/)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextlib.contextmanager
    def phase(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            self.seconds[name] = round(self.seconds.get(name, 0.0) + spent, 3)

    def count_calls(self, client) -> None:
        service = client.meta.service_model.service_name

        def count(**_: Any) -> None:
            self.calls[service] = self.calls.get(service, 0) + 1

        client.meta.events.register(f"before-call.{service}", count)


def write_table(frame, table: RefinedTable, lake: Lake, indices: Sequence[str]) -> None:
    """One write per index into its `indice=` folder, so that the files keep the `indice` column
    the IBOV tables read (Spark drops the columns it partitions by)."""
    from pyspark.sql import functions as F

    inner = [name for name in table.partition_by if name != "indice"]
    for index in indices:
        frame.where(F.col("indice") == index).write.mode("overwrite").partitionBy(*inner).parquet(
            lake.uri(table.index_prefix(index) + "/")
        )


@dataclass(frozen=True)
class Store:
    """Where a run's tables go: the bucket, the catalog database, the run's units (what
    rows_by_unit reports) and the phase clock."""

    lake: Lake
    glue: Any
    database: str
    units: tuple[Unit, ...]
    timings: Timings


def catalog_units(targets: Iterable[Target]) -> list[Unit]:
    """Units whose catalog filter (unit_expression) selects the targets' partitions: a month's
    by its first day (a month table's filter is its month)."""
    return sorted(
        {
            Unit(t.index, date.fromisoformat(f"{t.month}-01")) if isinstance(t, Month) else t
            for t in targets
        }
    )


def store_table(
    frame: DataFrame, table: RefinedTable, targets: Sequence[Target], store: Store
) -> dict[str, Any]:
    """Writes a laid-out frame (cached by the caller: it is read twice), replaces exactly the
    targets' partitions in the bucket and the catalog, and returns the table's summary."""
    with store.timings.phase("spark_sql_and_write"):
        levels = list(dict.fromkeys([*table.partition_by, "data"]))
        counts = frame.groupBy(*levels).count().collect()
        written = {tuple(str(row[c]) for c in table.partition_by) for row in counts}
        run = {str(unit) for unit in store.units}
        rows_by_unit: dict[str, int] = {}
        for row in counts:
            unit = f"{row['indice']}/{row['data']}"
            if unit in run:
                rows_by_unit[unit] = rows_by_unit.get(unit, 0) + row["count"]
        write_table(frame, table, store.lake, sorted({str(row["indice"]) for row in counts}))
    with store.timings.phase("replace_stale"):
        files, removed = store.lake.replace(table, targets, written)
    with store.timings.phase("glue_catalog"):
        catalog = register(
            store.glue, store.database, store.lake, table, catalog_units(targets), written
        )
    return {
        "location": store.lake.uri(table.prefix),
        "rows": sum(row["count"] for row in counts),
        "files": files,
        "rows_by_unit": dict(sorted(rows_by_unit.items())),
        "objects_removed": removed,
        **catalog,
    }


def _table_line(name: str, entry: dict[str, Any]) -> str:
    return f"{name}: {entry['rows']} rows, partitions {entry['catalog_partitions']}"


def stored_carteira(spark: SparkSession, lake: Lake, units: Sequence[Unit]) -> DataFrame | None:
    """The `carteira` rows of captured units outside the run: from their month's
    carteira_historico file (one read per month), else (a lake refined before the analytics
    existed) from their carteira_ativos partitions, `acao` from the path. None for no units."""
    if not units:
        return None
    historico, ativos = ANALYTIC_TABLES["carteira_historico"], TABLES["carteira_ativos"]
    parts, found = [], set()
    months = sorted({Month.of(unit) for unit in units})
    files = [
        key
        for month in months
        for key in lake.keys(month_prefix(historico.prefix, month))
        if key.endswith(".parquet")
    ]
    if files:
        frame = as_carteira(spark.read.parquet(*map(lake.uri, files)))
        frame = frame.where(_target_keys("data", units))
        held = frame.select("indice", "data").distinct().collect()
        found = {Unit(row["indice"], row["data"]) for row in held}
        parts.append(frame)
    kinds = dict(ativos.columns)
    schema = ", ".join(f"`{name}` {kinds[name]}" for name in CARTEIRA_COLUMNS)
    for index, days in by_index(set(units) - found).items():
        folders = [partition_prefix(ativos.prefix, Unit(index, day)) for day in days]
        frame = (
            spark.read.option("basePath", lake.uri(ativos.index_prefix(index) + "/"))
            .schema(schema)
            .parquet(*map(lake.uri, folders))
        )
        parts.append(as_carteira(frame))
    return functools.reduce(lambda left, right: left.unionByName(right), parts)


def run_analytics(
    spark: SparkSession,
    fresh: DataFrame,
    sql: dict[str, str],
    store: Store,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The analytic tables after the refine tables, in the same run: planned over the captured
    dates (the `data=` folders of carteira_ativos, the run's own now included), computed from
    the fresh carteira_ativos frame and the stored sessions the plan reads."""
    ativos = TABLES["carteira_ativos"]
    with store.timings.phase("analytics_inputs"):
        indices = sorted({unit.index for unit in store.units})
        captured = {index: store.lake.partition_dates(ativos.prefix, index) for index in indices}
        plan = plan_analytics(store.units, captured)
        sessions = sessions_between(plan.first_day, plan.last_day)
        stored = stored_carteira(spark, store.lake, plan.context)
    log(
        f"analytics: {len(plan.units)} unit(s), {len(plan.changes)} change list(s), "
        f"{len(plan.months)} month(s), {len(plan.context)} stored session(s) read"
    )
    carteira = as_carteira(fresh)
    if stored is not None:
        # Read now, whole: the month files it reads are rewritten below, and a lazy re-read
        # (a lost cache block) must fail rather than see them half replaced.
        carteira = carteira.unionByName(stored).localCheckpoint(eager=True)
    frames = analytics(spark, carteira, sessions, sql)
    summary = {}
    for name, targets in plan.targets().items():
        table = ANALYTIC_TABLES[name]
        frame = laid_out(keep_targets(frames[name], table, targets), table).cache()
        summary[name] = store_table(frame, table, targets, store)
        frame.unpersist()
        log(_table_line(name, summary[name]))
    return summary


def run_job(args: JobArgs, spark, s3, glue, log, timings: Timings | None = None) -> dict[str, Any]:
    """The run its `--refine` asks for: the daily tables, or the preview's; the summary names
    each table written."""
    require_known(max(unit.day for unit in args.units))  # B3's sessions: refuse before any write
    timings = timings or Timings()
    timings.count_calls(s3)
    timings.count_calls(glue)
    lake = Lake(s3, args.bucket)
    store = Store(lake, glue, args.database, args.units, timings)
    if args.refine == PREVIEWS:
        summary = run_previews(spark, args.glue_prefix, store, log)
    else:
        summary = run_daily(spark, args.glue_prefix, store, log)
    return {
        "refine": args.refine,
        "tables": summary,
        "timings_s": timings.seconds,
        "aws_calls": timings.calls,
    }


class Unchanged:
    """Which of a run's units were built from what is in the bucket now (b3_contract.
    refine_manifest): their raw objects' ETags, their neighbours' and the contract version are
    those of their manifest. Decided from S3 listings and the manifests alone, before Spark
    reads or writes anything; the run refines only the others and then records theirs."""

    def __init__(self, lake: Lake, units: Sequence[Unit], sql: dict[str, str]) -> None:
        self.lake, self.version = lake, contract_version(sql)
        indices = sorted({unit.index for unit in units})
        ativos = TABLES["carteira_ativos"].prefix
        self.captured = {index: lake.partition_dates(ativos, index) for index in indices}
        self.etags: dict[Unit, str] = {}
        for index in indices:
            for page in lake.s3.get_paginator("list_objects_v2").paginate(
                Bucket=lake.bucket, Prefix=f"raw/{index}/"
            ):
                for item in page.get("Contents", []):
                    unit = raw_key_unit(item["Key"])
                    if unit is not None:
                        self.etags[unit] = item["ETag"]
        held = {index: set(days) for index, days in self.captured.items()}
        candidates = [u for u in units if u.day in held[u.index]]  # its partitions still there
        with ThreadPoolExecutor(max_workers=8) as pool:
            recorded = dict(zip(candidates, pool.map(self._manifest, candidates), strict=True))
        self.skipped = {
            unit: body
            for unit, body in recorded.items()
            if unchanged(body, self.version, unit_inputs(unit, self.captured, self.etags))
        }
        self.todo = [unit for unit in units if unit not in self.skipped]

    def _manifest(self, unit: Unit) -> dict[str, Any] | None:
        try:
            body = self.lake.s3.get_object(Bucket=self.lake.bucket, Key=manifest_key(unit))
        except self.lake.s3.exceptions.NoSuchKey:
            return None
        try:
            return json.loads(body["Body"].read())
        except ValueError:
            return None  # unreadable: refine

    def record(self, summary: dict[str, Any]) -> None:
        """The manifests of the units just refined, once all their tables are written and
        registered. A run that fails before leaves the old manifest, which differs from what
        is in the bucket (that is why the unit was refined), so the next run refines it."""
        captured = {
            index: sorted({*days, *(u.day for u in self.todo if u.index == index)})
            for index, days in self.captured.items()
        }

        def put(unit: Unit) -> None:
            rows = {name: t["rows_by_unit"].get(str(unit), 0) for name, t in summary.items()}
            inputs = unit_inputs(unit, captured, self.etags)
            body = json.dumps(manifest(unit, self.version, inputs, rows), indent=1).encode()
            self.lake.s3.put_object(
                Bucket=self.lake.bucket,
                Key=manifest_key(unit),
                Body=body,
                ContentType="application/json",
                ServerSideEncryption="AES256",
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(put, self.todo))

    def report(self, summary: dict[str, Any], database: str) -> dict[str, Any]:
        """The summary with the skipped units' rows (from their manifests) beside the written
        ones; a table nothing was written to says so."""
        if not self.skipped:
            return summary
        units = [str(unit) for unit in sorted(self.skipped)]
        for name, table in PORTFOLIO_TABLES.items():
            entry = summary.setdefault(
                name,
                {
                    "location": self.lake.uri(table.prefix),
                    "rows": 0,
                    "files": 0,
                    "rows_by_unit": {},
                    "objects_removed": 0,
                    "catalog_table": f"{database}.{name} (unchanged)",
                    "catalog_partitions": {"added": 0, "removed": 0, "kept": 0},
                },
            )
            for unit, body in self.skipped.items():
                entry["rows_by_unit"][str(unit)] = body.get("rows", {}).get(name, 0)
            entry["rows_by_unit"] = dict(sorted(entry["rows_by_unit"].items()))
            entry["units_unchanged"] = units
        return summary


def run_daily(
    spark: SparkSession, glue_prefix: str, store: Store, log: Callable[[str], None]
) -> dict[str, Any]:
    """The refine tables of the run's raw objects, then the analytics; units built from what
    is in the bucket now (`Unchanged`) are left alone, every byte of them."""
    lake, timings = store.lake, store.timings
    tables = list(TABLES.values())
    with timings.phase("read_sql"):
        sql = load_sql(lake, glue_prefix, PORTFOLIO_TABLES.values())
    with timings.phase("unchanged_units"):
        fresh = Unchanged(lake, store.units, sql)
    if fresh.skipped:
        log(
            f"unchanged since their last refine (raw objects and contract version): "
            f"{len(fresh.skipped)} unit(s), skipped: {', '.join(map(str, sorted(fresh.skipped)))}"
        )
    if not fresh.todo:
        return fresh.report({}, store.database)
    store = dataclasses.replace(store, units=tuple(fresh.todo))
    units = list(store.units)
    indices = list(by_index(units))
    log(
        f"refining {len(units)} unit(s) of {', '.join(indices)}: "
        f"{min(u.day for u in units)} .. {max(u.day for u in units)}"
    )
    with timings.phase("find_inputs"):
        inputs = lake.raw_inputs(units)
    summary: dict[str, Any] = {}
    with timings.phase("spark_sql_and_write"):
        frames = refine(spark, inputs, sql, tables)
    laid = {table.name: laid_out(frames[table.name], table).cache() for table in tables}
    for table in tables:
        summary[table.name] = store_table(laid[table.name], table, units, store)
        if table.name != "carteira_ativos":  # the analytics read it: cached until they are done
            laid[table.name].unpersist()
        log(_table_line(table.name, summary[table.name]))
    summary |= run_analytics(spark, laid["carteira_ativos"], sql, store, log)
    laid["carteira_ativos"].unpersist()
    with timings.phase("manifests"):
        fresh.record(summary)
    return fresh.report(summary, store.database)


# ---------------------------------------------------------------- the preview refine

COMPARISON_COLUMNS = (
    ("indice", "string"),
    ("data", "date"),
    ("comparacao", "string"),
    ("quadrimestre", "string"),
    ("data_carteira", "date"),
)  # the view `comparacoes` (b3_assets.refine.engine.COMPARISON_SCHEMA)


def previews(spark: SparkSession, preview_paths: Sequence[str], sql: dict[str, str]) -> DataFrame:
    """carteira_previa from the preview objects (the view `previa_bronze`); none: no rows."""
    table = PREVIEW_TABLES["carteira_previa"]
    if not preview_paths:
        return empty_frame(spark, table.columns)
    spark.read.parquet(*preview_paths).createOrReplaceTempView("previa_bronze")
    return pinned(spark.sql(sql[table.sql_file]), table)


def preview_changes(
    spark: SparkSession,
    comparisons: Sequence[Comparison],
    previa: DataFrame,
    carteira: DataFrame | None,
    sql: dict[str, str],
) -> DataFrame:
    """carteira_previa_mudancas of the planned pairs (the view `comparacoes`) from carteira_previa
    rows (`previa`) and daily rows (`carteira`; None: none)."""
    rows = [
        (c.unit.index, c.unit.day, c.comparison, c.quadrimester, c.portfolio_day)
        for c in comparisons
    ]
    schema = ", ".join(f"`{name}` {kind}" for name, kind in COMPARISON_COLUMNS)
    spark.createDataFrame(rows, schema).createOrReplaceTempView("comparacoes")
    typed(previa, PREVIEW_TABLES["carteira_previa"]).createOrReplaceTempView("previa")
    if carteira is None:
        kinds = dict(ANALYTIC_TABLES["carteira_historico"].columns)
        carteira = empty_frame(spark, [(name, kinds[name]) for name in CARTEIRA_COLUMNS])
    as_carteira(carteira).createOrReplaceTempView("carteira")
    table = PREVIEW_TABLES["carteira_previa_mudancas"]
    return pinned(spark.sql(sql[table.sql_file]), table)


def stored_previews(spark: SparkSession, lake: Lake, units: Sequence[Unit]) -> DataFrame | None:
    """carteira_previa rows of stored units (their partition folders, `data` from the path);
    None for no units."""
    if not units:
        return None
    table = PREVIEW_TABLES["carteira_previa"]
    schema = ", ".join(f"`{name}` {kind}" for name, kind in table.columns)
    parts = []
    for index, days in by_index(units).items():
        folders = [partition_prefix(table.prefix, Unit(index, day)) for day in days]
        frame = (
            spark.read.option("basePath", lake.uri(table.index_prefix(index) + "/"))
            .schema(schema)
            .parquet(*map(lake.uri, folders))
        )
        parts.append(typed(frame, table))
    return functools.reduce(lambda left, right: left.unionByName(right), parts)


def run_previews(
    spark: SparkSession, glue_prefix: str, store: Store, log: Callable[[str], None]
) -> dict[str, Any]:
    """carteira_previa of the run's preview units and the carteira_previa_mudancas partitions
    b3_contract.previews plans, exactly as the local `_refine_previews`: stored preview sessions
    are the `data=` folders of carteira_previa, daily ones those of carteira_ativos. The daily
    tables are only read."""
    lake, timings, units = store.lake, store.timings, list(store.units)
    previa_table = PREVIEW_TABLES["carteira_previa"]
    with timings.phase("read_sql"):
        sql = load_sql(lake, glue_prefix, PREVIEW_TABLES.values())
    log(
        f"refining the previews of {len(units)} unit(s) of {', '.join(by_index(units))}: "
        f"{min(u.day for u in units)} .. {max(u.day for u in units)}"
    )
    with timings.phase("find_inputs"):
        inputs = lake.preview_inputs(units)
    with timings.phase("spark_sql_and_write"):
        previa = previews(spark, inputs, sql).cache()
        held = previa.select("indice", "data").distinct().collect()
    with timings.phase("preview_inputs"):
        indices = sorted({unit.index for unit in units})
        ativos = TABLES["carteira_ativos"].prefix
        plan = plan_previews(
            units,
            {Unit(row["indice"], row["data"]) for row in held},
            {index: lake.partition_dates(previa_table.prefix, index) for index in indices},
            {index: lake.partition_dates(ativos, index) for index in indices},
            first_session,
        )
        # Read now, whole: a daily run of these sessions may be replacing their files meanwhile
        # (the guard lets a daily and a preview run of one unit run at once).
        stored, carteira = (
            None if frame is None else frame.localCheckpoint(eager=True)
            for frame in (
                stored_previews(spark, lake, plan.previews_read),
                stored_carteira(spark, lake, plan.daily_read),
            )
        )
    log(
        f"previews: {len(inputs)} object(s) for {len(units)} unit(s), {len(plan.changes)} change "
        f"list(s), {len(plan.comparisons)} comparison(s), {len(plan.previews_read)} stored "
        f"preview(s) and {len(plan.daily_read)} daily session(s) read"
    )
    every = previa if stored is None else previa.unionByName(stored)
    frames = {
        previa_table.name: previa,
        "carteira_previa_mudancas": preview_changes(spark, plan.comparisons, every, carteira, sql),
    }
    # Rows are reported for every partition the plan rewrites, as the local refine does.
    rewritten = dataclasses.replace(store, units=tuple(sorted({*plan.units, *plan.changes})))
    summary = {}
    for name, targets in plan.targets().items():
        table = PREVIEW_TABLES[name]
        frame = laid_out(keep_targets(frames[name], table, targets), table).cache()
        summary[name] = store_table(frame, table, targets, rewritten)
        summary[name]["partitions_rewritten"] = len(targets)
        frame.unpersist()
        log(_table_line(name, summary[name]))
    previa.unpersist()
    return summary


def register(
    glue, database: str, lake: Lake, table: RefinedTable, units: list[Unit], written: set
) -> dict[str, Any]:
    """The table and its units' partitions in the catalog, and the same for the IBOV table over
    IBOV's folder of it (same files, no `indice` partition key)."""
    location = lake.uri(table.prefix + "/")
    state = upsert_table(glue, database, table, location)
    partitions = sync_partitions(glue, database, table, location, units, written)
    facts: dict[str, Any] = {
        "catalog_table": f"{database}.{table.name} ({state})",
        "catalog_partitions": partitions,
    }
    for view in INDEX_TABLES.values():
        if view.table is not table:
            continue
        mine = [unit for unit in units if unit.index == view.index]
        view_location = lake.uri(view.prefix + "/")
        view_state = upsert_table(glue, database, view, view_location)
        view_written = {values[1:] for values in written if values[0] == view.index}
        view_partitions = sync_partitions(glue, database, view, view_location, mine, view_written)
        facts["index_table"] = f"{database}.{view.name} ({view_state})"
        facts["index_table_partitions"] = view_partitions
    return facts


def _pipes():
    """The Pipes session when Dagster launched this run; a null context on the Lambda path."""
    try:
        from dagster_pipes import (
            PipesCliArgsParamsLoader,
            PipesS3ContextLoader,
            PipesS3MessageWriter,
            open_dagster_pipes,
        )
    except ImportError:
        return contextlib.nullcontext()
    if not PipesCliArgsParamsLoader().is_dagster_pipes_process():
        return contextlib.nullcontext()
    import boto3

    client = boto3.client("s3")
    return open_dagster_pipes(
        params_loader=PipesCliArgsParamsLoader(),
        context_loader=PipesS3ContextLoader(client),
        message_writer=PipesS3MessageWriter(client, interval=1),
    )


def _on_glue() -> bool:
    """Whether Glue runs this script: unless the local runner says it started it. `import
    awsglue` tells nothing (it is installed here too) and Glue documents no variable of its own;
    the runner is the one thing that starts the job anywhere else."""
    return os.environ.get(LOCAL_RUNNER_ENV) != "1"


def main(argv: Sequence[str]) -> int:
    """Exit 0 with a summary, 2 on bad arguments; any failure is raised (Glue marks the run
    FAILED with it) after a FAILURE_MARK line the local runner shows as the error message."""
    try:
        args = resolve_args(argv)
    except JobArgumentError as exc:
        print(FAILURE_MARK + str(exc), file=sys.stderr, flush=True)
        return 2
    import boto3

    where = "Glue" if _on_glue() else "the local runner (S3A)"
    print(
        f"{ARGUMENTS_MARK}{len(args.units)} unit(s), --refine {args.refine}, on {where}", flush=True
    )
    with contextlib.ExitStack() as stack:
        pipes = stack.enter_context(_pipes())
        log = pipes.log.info if pipes else (lambda message: print(message, flush=True))
        try:
            timings = Timings()
            with timings.phase("spark_start"):
                spark = spark_session(args.job_name)
            s3, glue = boto3.client("s3"), boto3.client("glue")
            summary = run_job(args, spark, s3, glue, log, timings)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:2000]
            print(FAILURE_MARK + message, file=sys.stderr, flush=True)
            raise
        print(json.dumps({"b3_refine_summary": summary}), flush=True)
        if pipes:
            pipes.report_custom_message({"b3_refine_summary": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
