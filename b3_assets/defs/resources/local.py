"""The embedded default: a folder for the bucket, DuckDB for the refine and the catalog."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from b3_assets.capture.files import file_lock
from b3_assets.defs.resources.interfaces import (
    CatalogResource,
    LakeResource,
    QueryResource,
    RefinerResource,
    TableOutput,
    with_partition_values,
)
from b3_assets.lake.local import PART_FILE, LocalLake
from b3_assets.refine import engine as refine
from b3_assets.refine.catalog import QueryResult, catalog_lock, register_tables, run_query
from b3_assets.source.trading_calendar import first_session, trading_days
from b3_contract.analytics import CARTEIRA_COLUMNS, plan_analytics
from b3_contract.lake_keys import (
    Month,
    Unit,
    month_prefix,
    partition_prefix,
    preview_object_key,
    raw_object_key,
)
from b3_contract.previews import plan_previews
from b3_contract.tables import ANALYTIC_TABLES, INDEX_TABLES, PORTFOLIO_TABLES, PREVIEW_TABLES


class LocalLakeResource(LakeResource):
    """$B3_DATA_DIR/lake/, laid out exactly like s3://$B3_BUCKET/."""

    root: str

    @property
    def lake(self) -> LocalLake:
        return LocalLake(Path(self.root))

    def read_table(self, prefix: str) -> pa.Table | None:
        """As on S3, but pyarrow opens the files itself, in threads (2.5x faster per date)."""
        files = [
            item.key for item in self.lake.list_objects(prefix) if item.key.endswith(".parquet")
        ]
        if not files:
            return None
        dataset = ds.dataset(
            [str(self.lake.path(key)) for key in files],
            format="parquet",
            partitioning=ds.partitioning(flavor="hive"),
            partition_base_dir=str(self.lake.path(prefix)),
        )
        return with_partition_values(dataset.to_table(), prefix)


def rows_by_unit(table: pa.Table) -> dict[Unit, int]:
    """Rows per (indice, data) of a refined table."""
    if table.num_rows == 0:
        return {}
    counts = table.group_by(["indice", "data"]).aggregate([([], "count_all")])
    return {Unit(row["indice"], row["data"]): row["count_all"] for row in counts.to_pylist()}


class DuckDBRefinerResource(RefinerResource):
    """Runs glue/sql on DuckDB (via sqlglot) and writes the partitions into the local lake."""

    def refine(
        self, context: dg.AssetExecutionContext, lake: LakeResource, units: list[Unit]
    ) -> dict[str, TableOutput]:
        if not isinstance(lake, LocalLakeResource):
            raise TypeError("the DuckDB refiner works on the local lake only")
        local = lake.lake
        files = [local.path(raw_object_key(unit)) for unit in units]
        missing = [str(unit) for unit, path in zip(units, files, strict=True) if not path.exists()]
        if missing:
            raise FileNotFoundError(f"no raw object in the lake for {', '.join(missing)}")
        results = refine.refine_files(files)
        outputs = {}
        for name, spec in refine.TABLES.items():
            table = results[name]
            write = local.publish_partitions(spec.prefix, table, spec.partition_by, units)
            outputs[name] = TableOutput(
                location=local.uri(spec.prefix),
                rows=table.num_rows,
                files=write.files,
                rows_by_unit=rows_by_unit(table),
                preview=table,
            )
        started = time.perf_counter()
        analytics = refine_analytics(local, units, results["carteira_ativos"])
        spent = round(time.perf_counter() - started, 3)
        for name, output in analytics.items():  # what the analytics add to the run (bench/)
            outputs[name] = replace(output, details={"analytics_seconds": spent})
        return outputs

    def refine_previews(
        self, context: dg.AssetExecutionContext, lake: LakeResource, units: list[Unit]
    ) -> dict[str, TableOutput]:
        if not isinstance(lake, LocalLakeResource):
            raise TypeError("the DuckDB refiner works on the local lake only")
        return refine_previews(lake.lake, units)


def refine_analytics(
    local: LocalLake, units: list[Unit], ativos: pa.Table
) -> dict[str, TableOutput]:
    """The analytic tables after a refine: the plan (b3_contract.analytics) says which partitions
    change and which stored sessions the SQL needs besides the fresh carteira_ativos rows.

    One process at a time: two runs of one index in one month (two `b3 import`s at once) each
    rewrite the whole month, so each must read the other's finished work, not race it."""
    with file_lock(local.staging / "locks" / "analytics.lock"):
        return _refine_analytics(local, units, ativos)


def _refine_analytics(
    local: LocalLake, units: list[Unit], ativos: pa.Table
) -> dict[str, TableOutput]:
    ativos_prefix = refine.TABLES["carteira_ativos"].prefix
    captured = {
        i: local.partition_dates(ativos_prefix, i) for i in sorted({u.index for u in units})
    }
    plan = plan_analytics(units, captured)
    carteira = pa.concat_tables([refine.as_carteira(ativos), stored_carteira(local, plan.context)])
    results = refine.analytics_tables(carteira, trading_days(plan.first_day, plan.last_day))
    outputs, run = {}, set(units)
    for name, targets in plan.targets().items():
        spec = ANALYTIC_TABLES[name]
        table = _keep(results[name], spec.partition_by[1], targets)  # `data` or `mes`
        inner = tuple(column for column in spec.key if column not in spec.partition_by)
        write = local.publish_partitions(
            spec.prefix, table, spec.partition_by, targets, sort_by=inner
        )
        outputs[name] = TableOutput(
            location=local.uri(spec.prefix),
            rows=table.num_rows,
            files=write.files,
            rows_by_unit={u: n for u, n in rows_by_unit(table).items() if u in run},
            preview=table,
        )
    return outputs


def refine_previews(local: LocalLake, units: list[Unit]) -> dict[str, TableOutput]:
    """carteira_previa of preview units (index, capture session) from their objects in the lake
    (a unit without one has no preview: its partition goes), then carteira_previa_mudancas of the
    partitions the plan (b3_contract.previews) rewrites. The daily tables are only read."""
    with file_lock(local.staging / "locks" / "previews.lock"):
        return _refine_previews(local, sorted(set(units)))


def _refine_previews(local: LocalLake, units: list[Unit]) -> dict[str, TableOutput]:
    previa_spec = PREVIEW_TABLES["carteira_previa"]
    changes_spec = PREVIEW_TABLES["carteira_previa_mudancas"]
    ativos_prefix = refine.TABLES["carteira_ativos"].prefix
    files = [local.path(preview_object_key(u)) for u in units]
    previa = refine.preview_tables([path for path in files if path.exists()])
    indices = sorted({unit.index for unit in units})
    plan = plan_previews(
        units,
        rows_by_unit(previa),
        {i: local.partition_dates(previa_spec.prefix, i) for i in indices},
        {i: local.partition_dates(ativos_prefix, i) for i in indices},
        first_session,
    )
    stored = stored_previa(local, plan.previews_read)
    carteira = stored_carteira(local, plan.daily_read)
    changes = refine.preview_changes(plan.comparisons, pa.concat_tables([previa, stored]), carteira)
    outputs = {}
    for spec, table in ((previa_spec, previa), (changes_spec, changes)):
        targets = plan.targets()[spec.name]
        inner = tuple(column for column in spec.key if column not in spec.partition_by)
        write = local.publish_partitions(
            spec.prefix, table, spec.partition_by, targets, sort_by=inner
        )
        outputs[spec.name] = TableOutput(
            location=local.uri(spec.prefix),
            rows=table.num_rows,
            files=write.files,
            rows_by_unit=rows_by_unit(table),
            preview=table,
            details={"partitions_rewritten": len(targets)},
        )
    return outputs


def stored_previa(local: LocalLake, units: Sequence[Unit]) -> pa.Table:
    """carteira_previa rows of stored units (their partition folders)."""
    spec = PREVIEW_TABLES["carteira_previa"]
    schema = refine.arrow_schema(spec)
    parts = [schema.empty_table()]
    for unit in units:
        folder = local.path(partition_prefix(spec.prefix, unit))
        table = ds.dataset(str(folder), format="parquet").to_table()
        table = table.append_column("data", pa.array([unit.day] * table.num_rows, pa.date32()))
        parts.append(table.select(schema.names).cast(schema))
    return pa.concat_tables(parts)


def month_rows(local: LocalLake, prefix: str, units: list[Unit]) -> dict[Unit, int]:
    """Rows per unit of a month-partitioned table: one read of each month file's `data`."""
    counts: dict[Unit, int] = {}
    wanted = set(units)
    for month in sorted({Month.of(unit) for unit in wanted}):
        path = local.path(month_prefix(prefix, month)) / PART_FILE
        if not path.exists():
            continue
        days = pq.ParquetFile(path).read(columns=["data"])["data"].to_pylist()
        for day, n in Counter(days).items():
            if Unit(month.index, day) in wanted:
                counts[Unit(month.index, day)] = n
    return counts


def _keep(table: pa.Table, column: str, wanted: Sequence[Unit | Month]) -> pa.Table:
    """The rows of the wanted units (column `data`) or months (column `mes`)."""
    keys = pc.binary_join_element_wise(table["indice"], pc.cast(table[column], pa.string()), "/")
    return table.filter(pc.is_in(keys, pa.array(sorted(map(str, wanted)), pa.string())))


def stored_carteira(local: LocalLake, units: Sequence[Unit]) -> pa.Table:
    """The `carteira` rows of captured units outside the run: from their month's
    carteira_historico file (one read per month), else (a lake refined before the analytics
    existed) from their carteira_ativos partitions."""
    historico = ANALYTIC_TABLES["carteira_historico"]
    ativos = refine.TABLES["carteira_ativos"]
    parts = [refine.carteira_schema().empty_table()]
    by_month: dict[Month, set] = {}
    for unit in units:
        by_month.setdefault(Month.of(unit), set()).add(unit.day)
    for month, days in sorted(by_month.items()):
        path = local.path(month_prefix(historico.prefix, month)) / PART_FILE
        found: set = set()
        if path.exists():
            table = pq.ParquetFile(path).read(columns=CARTEIRA_COLUMNS)
            table = table.filter(pc.is_in(table["data"], pa.array(sorted(days), pa.date32())))
            found = set(table["data"].to_pylist())
            parts.append(refine.as_carteira(table))
        for day in sorted(days - found):
            folder = local.path(partition_prefix(ativos.prefix, Unit(month.index, day)))
            dataset = ds.dataset(
                str(folder),
                format="parquet",
                partitioning=ds.partitioning(pa.schema([("acao", pa.string())]), flavor="hive"),
            )
            table = dataset.to_table()
            table = table.append_column("data", pa.array([day] * table.num_rows, pa.date32()))
            parts.append(refine.as_carteira(table))
    return pa.concat_tables(parts)


class DuckDBCatalogResource(CatalogResource):
    """$B3_DATA_DIR/catalog.duckdb: views over the lake's refined tables, for `b3 query`."""

    path: str

    def describe(self) -> str:
        return self.path

    def register(self, lake: LakeResource, units: list[Unit]) -> dict[str, dict[Unit, int]]:
        """(Re)creates the views, then counts each unit's rows from its own partition files'
        footers: a count through the views would list every file of every index and date in
        the lake on each run (seconds once it holds years of several indices)."""
        if not isinstance(lake, LocalLakeResource):
            raise TypeError("the DuckDB catalog works on the local lake only")
        with catalog_lock(Path(self.path)):
            register_tables(Path(self.path), Path(lake.root))
        local = lake.lake
        counts: dict[str, dict[Unit, int]] = {}
        for name, table in PORTFOLIO_TABLES.items():
            counts[name] = {}
            if "mes" in table.partition_by:
                counts[name] = month_rows(local, table.prefix, units)
                continue
            for unit in units:
                files = local.path(partition_prefix(table.prefix, unit)).rglob("*.parquet")
                rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
                if rows:
                    counts[name][unit] = rows
        for name, view in INDEX_TABLES.items():
            counts[name] = {
                u: n for u, n in counts[view.table.name].items() if u.index == view.index
            }
        return counts

    def register_previews(self, lake: LakeResource) -> None:
        if not isinstance(lake, LocalLakeResource):
            raise TypeError("the DuckDB catalog works on the local lake only")
        with catalog_lock(Path(self.path)):
            register_tables(Path(self.path), Path(lake.root))


class DuckDBQueryResource(QueryResource):
    """`b3 query` locally: the SQL checked and transpiled, run read-only on catalog.duckdb."""

    path: str

    def query(self, sql: str) -> QueryResult:
        return run_query(Path(self.path), sql)
