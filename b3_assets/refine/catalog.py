"""The local catalog (DuckDB views over the lake's refined tables) and read-only Athena SQL on it.

`b3 query` takes the SQL a user would send to Athena (Trino dialect), transpiles it with sqlglot
and runs it on DuckDB. Only single read-only statements pass: the check is on the parsed tree, and
the catalog is opened read-only as a second guard.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from b3_assets.capture.files import file_lock
from b3_contract.lake_keys import INDEX_CODE
from b3_contract.tables import (
    ALL_TABLE_NAMES,
    CATALOG_TABLES,
    INDEX_TABLES,
    IndexTable,
    RefinedTable,
)

DUCKDB_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
    "decimal(7,3)": "DECIMAL(7,3)",
    "decimal(20,8)": "DECIMAL(20,8)",
    "decimal(8,3)": "DECIMAL(8,3)",
    "decimal(10,3)": "DECIMAL(10,3)",
    "decimal(12,4)": "DECIMAL(12,4)",
    "decimal(12,6)": "DECIMAL(12,6)",
    "boolean": "BOOLEAN",
}


class QueryError(ValueError):
    """A query the local catalog refuses or cannot run; the message says why."""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _digest(sql: str) -> str:
    return "b3-lake:" + hashlib.sha256(sql.encode()).hexdigest()


@dataclass(frozen=True)
class IndexSlice:
    """One index's folder of a carteira_* table, in carteira's column order: what `b3 query`
    reads for `carteira_* WHERE indice = 'X'`, instead of listing every index's files."""

    table: RefinedTable
    index: str

    @property
    def name(self) -> str:
        return f"{self.table.name}__{self.index}"

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return self.table.columns

    @property
    def prefix(self) -> str:
        return self.table.index_prefix(self.index)

    @property
    def partition_by(self) -> tuple[str, ...]:
        return self.table.index_partition_by


def index_slices(lake_root: Path) -> list[IndexSlice]:
    """A slice per table and index folder in the lake."""
    return [
        IndexSlice(table, folder.name.removeprefix("indice="))
        for table in CATALOG_TABLES.values()
        if (lake_root / table.prefix).is_dir()
        for folder in sorted((lake_root / table.prefix).glob("indice=*"))
        if INDEX_CODE.fullmatch(folder.name.removeprefix("indice="))
    ]


def view_sql(table: RefinedTable | IndexTable | IndexSlice, lake_root: Path) -> str:
    """A view over the table's hive-partitioned files, or an empty typed view if none exist."""
    columns = ", ".join(name for name, _ in table.columns)
    base = lake_root / table.prefix
    depth = "/".join(f"{column}=*" for column in table.partition_by)
    if not any(base.glob(f"{depth}/*.parquet")):
        typed = ", ".join(
            f"CAST(NULL AS {DUCKDB_TYPES[kind]}) AS {name}" for name, kind in table.columns
        )
        return f"CREATE OR REPLACE VIEW {table.name} AS SELECT {typed} WHERE false"
    hive_types = ", ".join(
        f"{_quote(column)}: {DUCKDB_TYPES[dict(table.columns)[column]]}"
        for column in table.partition_by
    )
    return (
        f"CREATE OR REPLACE VIEW {table.name} AS SELECT {columns} FROM read_parquet("
        f"{_quote(str(base / depth / '*.parquet'))}, hive_partitioning = true, "
        f"hive_types = {{{hive_types}}})"
    )


def catalog_lock(catalog_path: Path) -> AbstractContextManager[None]:
    """DuckDB lets one process open a database file for writing and no one else meanwhile: runs
    registering views and `b3 query` take turns instead of failing on DuckDB's file lock."""
    return file_lock(catalog_path.parent / "tmp" / "locks" / f"{catalog_path.name}.lock")


def register_tables(catalog_path: Path, lake_root: Path) -> None:
    """(Re)creates the catalog's views (carteira_* over every index, ibov_* over IBOV's folder of
    the same files) so they see every partition now in the lake."""
    tables: list[RefinedTable | IndexTable | IndexSlice] = [
        *CATALOG_TABLES.values(),
        *INDEX_TABLES.values(),
        *index_slices(lake_root),
    ]
    wanted = {table.name: view_sql(table, lake_root) for table in tables}
    if catalog_path.exists():
        with duckdb.connect(str(catalog_path), read_only=True) as con:
            current = dict(con.execute("SELECT view_name, comment FROM duckdb_views()").fetchall())
        if all(current.get(name) == _digest(sql) for name, sql in wanted.items()):
            return  # same views: leave the file untouched
    catalog_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(catalog_path)) as con:
        for name, sql in wanted.items():
            con.execute(sql)
            con.execute(f"COMMENT ON VIEW {name} IS {_quote(_digest(sql))}")


def check_query(sql: str) -> exp.Query:
    """Athena (Trino) SQL parsed and accepted only as one read-only query on the known tables."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        reason = first.get("description", str(exc))
        raise QueryError(f"not valid Athena SQL{where}: {reason}") from exc
    if len(statements) != 1:
        raise QueryError(f"exactly one statement is allowed, got {len(statements)}")
    [statement] = statements
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper()
        raise QueryError(f"only read-only queries (SELECT/WITH/...) are allowed, not {kind}")
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Merge, exp.Command)
    found = next(iter(statement.find_all(*writes)), None)
    if found is not None:
        raise QueryError(f"the query contains a write ({found.key.upper()}); refused")
    known = set(ALL_TABLE_NAMES) | {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise QueryError(f"table functions are not allowed: {table.this.sql('trino')}")
        if table.name not in known:
            tables = ", ".join(ALL_TABLE_NAMES)
            raise QueryError(f"unknown table {table.sql('trino')!r}; the tables are {tables}")
    return statement


def to_duckdb(sql: str, slices: frozenset[str] = frozenset()) -> str:
    """The checked query in DuckDB's dialect; `carteira_*` read with `indice = 'X'` reads the
    index's slice view when `slices` has it (same rows: the folder holds only that index)."""
    return prune_to_index(check_query(sql), slices).sql(dialect="duckdb")


def _conjuncts(condition: exp.Expression) -> list[exp.Expression]:
    if isinstance(condition, exp.And):
        return [*_conjuncts(condition.this), *_conjuncts(condition.expression)]
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    return [condition]


def prune_to_index(statement: exp.Query, slices: frozenset[str]) -> exp.Query:
    """Rewrites each single-table SELECT over a carteira_* table whose WHERE requires
    `indice = '<code>'` (a top-level AND term) to read that index's slice view."""
    for select in statement.find_all(exp.Select):
        source, where = select.args.get("from_"), select.args.get("where")
        if source is None or where is None or select.args.get("joins"):
            continue
        table = source.this
        if not isinstance(table, exp.Table) or table.name not in CATALOG_TABLES or table.db:
            continue
        codes = set()
        for term in _conjuncts(where.this):
            if not isinstance(term, exp.EQ):
                continue
            left, right = term.this, term.expression
            if isinstance(right, exp.Column):
                left, right = right, left
            if (
                isinstance(left, exp.Column)
                and left.name == "indice"
                and left.table in ("", table.alias_or_name)
                and isinstance(right, exp.Literal)
                and right.is_string
            ):
                codes.add(right.this)
        if len(codes) != 1:
            continue
        view = f"{table.name}__{codes.pop()}"
        if view not in slices:
            continue
        alias = table.alias_or_name
        table.set("this", exp.to_identifier(view))
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return statement


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]


def run_query(catalog_path: Path, sql: str) -> QueryResult:
    check_query(sql)
    if not catalog_path.exists():
        raise QueryError(
            f"no catalog at {catalog_path}: nothing has been refined yet "
            "(run `b3 run` or `b3 import`)"
        )
    with catalog_lock(catalog_path), duckdb.connect(str(catalog_path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        duck_sql = to_duckdb(sql, frozenset(name for (name,) in views if "__" in name))
        try:
            relation = con.sql(duck_sql)
        except duckdb.Error as exc:
            raise QueryError(f"query failed: {exc}") from exc
        if relation is None:
            raise QueryError("the statement returned no result set")
        return QueryResult(relation.columns, [str(t) for t in relation.types], relation.fetchall())


def format_table(result: QueryResult, max_width: int = 40) -> str:
    """A plain-text grid: right-aligned numbers, NULL shown as such, long text cut."""

    def cell(value: Any) -> str:
        text = "NULL" if value is None else str(value)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in result.rows]
    widths = [
        max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(result.columns)
    ]
    numeric = [
        any(
            t.startswith(p)
            for p in (
                "INT",
                "BIGINT",
                "DECIMAL",
                "DOUBLE",
                "FLOAT",
                "HUGEINT",
                "SMALLINT",
                "TINYINT",
                "UBIGINT",
            )
        )
        for t in result.types
    ]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return " | ".join(parts).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    body = [line(list(result.columns)), rule, *(line(row) for row in cells)]
    count = len(result.rows)
    body.append(f"({count} row{'s' if count != 1 else ''})")
    return "\n".join(body)
