import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from b3_assets.capture.bronze import write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.lake.local import LocalLake
from b3_assets.refine import engine as refine
from b3_assets.refine.catalog import QueryError, format_table, register_tables, run_query, to_duckdb


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("DELETE FROM ibov_ativos", "not DELETE"),
        ("INSERT INTO ibov_ativos SELECT * FROM ibov_ativos", "not INSERT"),
        ("DROP TABLE ibov_ativos", "not DROP"),
        ("CREATE TABLE x AS SELECT 1", "not CREATE"),
        ("SELECT 1; DROP TABLE ibov_ativos", "exactly one statement"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table functions are not allowed"),
        ("SELECT * FROM secrets", "unknown table 'secrets'"),
        ("SELEC 1", "not valid Athena SQL"),
        ("", "exactly one statement"),
    ],
)
def test_refuses_writes_and_unknown_sources(sql: str, reason: str) -> None:
    with pytest.raises(QueryError, match=reason):
        to_duckdb(sql)


def test_transpiles_athena_sql() -> None:
    duck = to_duckdb(
        "WITH t AS (SELECT data FROM ibov_ativos) "
        "SELECT date_add('day', 1, data), approx_percentile(1, 0.5) FROM t"
    )
    assert "INTERVAL" in duck and "APPROX_QUANTILE" in duck


@pytest.fixture
def catalog(data_dir, seg2_bytes):
    capture, _ = write_raw(
        data_dir, seg2_bytes, "http://b3", datetime(2025, 7, 12, tzinfo=UTC), "IBOV"
    )
    path = write_bronze(data_dir, json.loads(seg2_bytes), capture)
    lake = LocalLake(data_dir / "lake")
    out = refine.refine_files([path])
    register_tables(data_dir / "catalog.duckdb", data_dir / "lake")  # before any data: empty views
    assert run_query(data_dir / "catalog.duckdb", "SELECT count(*) FROM ibov_ativos").rows == [(0,)]
    for name, spec in refine.TABLES.items():
        lake.publish_partitions(spec.prefix, out[name], spec.partition_by, [date(2025, 7, 14)])
    register_tables(data_dir / "catalog.duckdb", data_dir / "lake")
    return data_dir / "catalog.duckdb"


def test_queries_the_refined_tables(catalog) -> None:
    result = run_query(catalog, "SELECT count(*) FROM ibov_ativos WHERE data = DATE '2025-07-14'")
    assert result.rows == [(84,)]
    top = run_query(
        catalog,
        "SELECT acao, participacao_pct FROM ibov_ativos ORDER BY ranking LIMIT 2",
    )
    assert top.rows == [("VALE3", Decimal("11.375")), ("ITUB4", Decimal("7.910"))]
    header = run_query(catalog, "SELECT total_ativos, qtd_teorica_total FROM ibov_header")
    assert header.rows == [(84, 91_922_324_640)]
    types = run_query(catalog, "SELECT * FROM ibov_ativos LIMIT 1").types
    assert types[-2:] == ["DATE", "VARCHAR"]


def test_catalog_is_read_only_even_past_the_parser(catalog) -> None:
    import duckdb

    with duckdb.connect(str(catalog), read_only=True) as con, pytest.raises(duckdb.Error):
        con.execute("CREATE TABLE x (a INT)")


def test_format_table_is_readable(catalog) -> None:
    result = run_query(catalog, "SELECT acao, ranking FROM ibov_ativos ORDER BY ranking LIMIT 3")
    text = format_table(result)
    lines = text.splitlines()
    assert lines[0].split(" | ") == ["acao ", "ranking"]
    assert lines[2].startswith("VALE3") and lines[2].endswith("1")
    assert lines[-1] == "(3 rows)"


def test_query_without_catalog_says_what_to_do(tmp_path) -> None:
    with pytest.raises(QueryError, match="run `b3 run` or `b3 import`"):
        run_query(tmp_path / "catalog.duckdb", "SELECT 1 FROM ibov_header")
