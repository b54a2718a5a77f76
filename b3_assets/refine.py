"""The refine step on DuckDB: the Spark SQL files of glue/sql, transpiled by sqlglot.

One transform, two engines (DESIGN.md section 3): Glue runs glue/sql/*.sql with spark.sql, the
embedded default runs the very same files here. Types the two engines map differently are pinned
by explicit casts in the SQL and checked against TABLES below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot

GLUE_DIR = Path(__file__).resolve().parent.parent / "glue"
SQL_DIR = GLUE_DIR / "sql"


@dataclass(frozen=True)
class RefinedTable:
    """A refined table's contract: name, SQL file, lake prefix and columns (partitions last)."""

    name: str
    sql_file: str
    prefix: str
    columns: tuple[tuple[str, str], ...]
    partition_by: tuple[str, ...]
    description: str
    key: tuple[str, ...]


TABLES: dict[str, RefinedTable] = {
    table.name: table
    for table in (
        RefinedTable(
            "ibov_ativos",
            "ativos.sql",
            "refined/ativos",
            (
                ("indice", "string"),
                ("empresa", "string"),
                ("tipo", "string"),
                ("classe", "string"),
                ("governanca", "string"),
                ("setor", "string"),
                ("participacao_pct", "decimal(7,3)"),
                ("participacao_setor_pct", "decimal(7,3)"),
                ("qtd_teorica", "bigint"),
                ("ranking", "int"),
                ("participacao_acumulada_pct", "decimal(7,3)"),
                ("data_coleta", "timestamp"),
                ("dias_desde_rebalanceamento", "int"),
                ("data", "date"),
                ("acao", "string"),
            ),
            ("data", "acao"),
            "One row per constituent per trading date.",
            ("data", "acao"),
        ),
        RefinedTable(
            "ibov_header",
            "header.sql",
            "refined/header",
            (
                ("indice", "string"),
                ("data_carteira", "date"),
                ("qtd_teorica_total", "bigint"),
                ("redutor", "decimal(20,8)"),
                ("participacao_total_pct", "decimal(7,3)"),
                ("total_ativos", "int"),
                ("data_coleta", "timestamp"),
                ("defasagem_dias", "int"),
                ("data", "date"),
            ),
            ("data",),
            "One row per trading date: the portfolio's totals.",
            ("data",),
        ),
        RefinedTable(
            "ibov_setores",
            "setores.sql",
            "refined/setores",
            (
                ("indice", "string"),
                ("setor", "string"),
                ("total_ativos", "int"),
                ("participacao_pct", "decimal(7,3)"),
                ("qtd_teorica", "bigint"),
                ("data", "date"),
            ),
            ("data",),
            "One row per sector per trading date (segment-2 captures only).",
            ("data", "setor"),
        ),
    )
}

ARROW_TYPES = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "decimal(7,3)": pa.decimal128(7, 3),
    "decimal(20,8)": pa.decimal128(20, 8),
}


def arrow_schema(table: RefinedTable) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW_TYPES[kind]) for name, kind in table.columns])


def spark_sql(table: RefinedTable) -> str:
    return (SQL_DIR / table.sql_file).read_text()


@cache
def duckdb_sql(table_name: str) -> str:
    [statement] = sqlglot.transpile(spark_sql(TABLES[table_name]), read="spark", write="duckdb")
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


def contract_document() -> dict:
    """The table contract as glue/tables.json, which `b3 deploy` uploads for the Glue job."""
    return {"tables": [asdict(table) for table in TABLES.values()]}
