"""The refine step on DuckDB: the Spark SQL files of glue/sql, transpiled by sqlglot.

One transform, two engines (docs/architecture.md): Glue runs glue/sql/*.sql with spark.sql, the
embedded default runs the very same files here. Types the two engines map differently are pinned
by explicit casts in the SQL and checked against TABLES below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot

from b3_assets.capture.bronze import BRONZE_SCHEMA
from b3_assets.capture.previews import PREVIEW_BRONZE_SCHEMA
from b3_contract.analytics import CARTEIRA_COLUMNS
from b3_contract.previews import Comparison
from b3_contract.tables import ANALYTIC_TABLES, CATALOG_TABLES, PREVIEW_TABLES, TABLES, RefinedTable

GLUE_DIR = Path(__file__).resolve().parents[2] / "glue"
SQL_DIR = GLUE_DIR / "sql"


ARROW_TYPES = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "decimal(7,3)": pa.decimal128(7, 3),
    "decimal(20,8)": pa.decimal128(20, 8),
    "decimal(8,3)": pa.decimal128(8, 3),
    "decimal(10,3)": pa.decimal128(10, 3),
    "decimal(12,4)": pa.decimal128(12, 4),
    "decimal(12,6)": pa.decimal128(12, 6),
    "boolean": pa.bool_(),
}


def arrow_schema(table: RefinedTable) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in table.columns])


def spark_sql(table: RefinedTable) -> str:
    return (SQL_DIR / table.sql_file).read_text()


@cache
def duckdb_sql(table_name: str) -> str:
    [statement] = sqlglot.transpile(
        spark_sql(CATALOG_TABLES[table_name]), read="spark", write="duckdb"
    )
    return statement


class RefineError(RuntimeError):
    """The refine SQL produced something that breaks the table contract."""


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def refine_files(bronze_files: Sequence[Path]) -> dict[str, pa.Table]:
    """Runs every refine SQL over the given raw objects in one DuckDB session."""
    if not bronze_files:
        raise RefineError("nothing to refine: no raw objects given")
    for path in bronze_files:
        schema = pq.read_schema(path)  # the footer only
        missing = [name for name in BRONZE_SCHEMA.names if name not in schema.names]
        if missing:
            raise RefineError(
                f"raw object {path} lacks {', '.join(missing)}: it was written by an older "
                "b3-lake. Materialize the capture assets for its date again (the whole chain in "
                "the UI, or `b3 run --date`), which rewrites it in the current schema."
            )
    con = duckdb_connection()
    try:
        files = [str(path) for path in bronze_files]
        con.read_parquet(files).create_view("bronze")
        results = {}
        for name, table in TABLES.items():
            result = con.sql(duckdb_sql(name)).to_arrow_table()
            results[name] = conform(result, table)
        return results
    finally:
        con.close()


def carteira_schema() -> pa.Schema:
    """The view `carteira` the analytic SQL reads (b3_contract.analytics.CARTEIRA_COLUMNS)."""
    kinds = dict(ANALYTIC_TABLES["carteira_historico"].columns)
    return pa.schema([pa.field(name, ARROW_TYPES[kinds[name]]) for name in CARTEIRA_COLUMNS])


def as_carteira(table: pa.Table) -> pa.Table:
    """carteira_ativos rows (or carteira_historico's) as the view `carteira`."""
    return table.select(CARTEIRA_COLUMNS).cast(carteira_schema())


def analytics_tables(carteira: pa.Table, sessions: Sequence[date]) -> dict[str, pa.Table]:
    """Runs the analytic SQL (carteira_historico, carteira_mudancas, carteira_concentracao) over
    `carteira` and B3's `sessions` (from the first day of the earliest month in it)."""
    con = duckdb_connection()
    try:
        con.register("carteira", as_carteira(carteira))
        con.register("pregoes", pa.table({"data": pa.array(sessions, pa.date32())}))
        return {
            name: conform(con.sql(duckdb_sql(name)).to_arrow_table(), table)
            for name, table in ANALYTIC_TABLES.items()
        }
    finally:
        con.close()


def conform(result: pa.Table, table: RefinedTable) -> pa.Table:
    """Checks names, casts to the contract's Arrow types (failing on any lossy difference) and
    orders rows by the table's key, so the same input always gives the same bytes: SQL engines
    return GROUP BY results in any order."""
    expected = [name for name, _ in table.columns]
    if result.column_names != expected:
        raise RefineError(f"{table.name}: SQL produced {result.column_names}, expected {expected}")
    try:
        typed = result.cast(arrow_schema(table), safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise RefineError(f"{table.name}: result does not fit the table schema: {exc}") from exc
    return typed.sort_by([(column, "ascending") for column in table.key])


def preview_tables(preview_files: Sequence[Path]) -> pa.Table:
    """carteira_previa from the given preview objects (previa/raw/...): one DuckDB session."""
    for path in preview_files:
        missing = set(PREVIEW_BRONZE_SCHEMA.names) - set(pq.read_schema(path).names)
        if missing:
            raise RefineError(f"preview object {path} lacks {', '.join(sorted(missing))}")
    con = duckdb_connection()
    try:
        if preview_files:
            con.read_parquet([str(path) for path in preview_files]).create_view("previa_bronze")
        else:
            con.register("previa_bronze", PREVIEW_BRONZE_SCHEMA.empty_table())
        result = con.sql(duckdb_sql("carteira_previa")).to_arrow_table()
        return conform(result, PREVIEW_TABLES["carteira_previa"])
    finally:
        con.close()


COMPARISON_SCHEMA = pa.schema(
    [
        ("indice", pa.string()),
        ("data", pa.date32()),
        ("comparacao", pa.string()),
        ("quadrimestre", pa.string()),
        ("data_carteira", pa.date32()),
    ]
)
"""The view `comparacoes` the preview-change SQL reads: the pairs b3_contract.previews plans."""


def comparisons_table(comparisons: Sequence[Comparison]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "indice": c.unit.index,
                "data": c.unit.day,
                "comparacao": c.comparison,
                "quadrimestre": c.quadrimester,
                "data_carteira": c.portfolio_day,
            }
            for c in comparisons
        ],
        schema=COMPARISON_SCHEMA,
    )


def preview_changes(
    comparisons: Sequence[Comparison], previa: pa.Table, carteira: pa.Table
) -> pa.Table:
    """carteira_previa_mudancas for the planned pairs, from carteira_previa rows and daily rows
    (the view `carteira`)."""
    con = duckdb_connection()
    try:
        con.register("comparacoes", comparisons_table(comparisons))
        con.register("previa", previa.cast(arrow_schema(PREVIEW_TABLES["carteira_previa"])))
        con.register("carteira", as_carteira(carteira))
        result = con.sql(duckdb_sql("carteira_previa_mudancas")).to_arrow_table()
        return conform(result, PREVIEW_TABLES["carteira_previa_mudancas"])
    finally:
        con.close()
