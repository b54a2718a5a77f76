import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from conftest import import_csvs, tree_state

from b3_assets.capture.bronze import build_bronze, write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.lake.local import LocalLake
from b3_assets.refine import engine as refine
from b3_assets.refine.catalog import QueryError, format_table, register_tables, run_query, to_duckdb
from b3_contract.lake_keys import Unit
from b3_contract.tables import ALL_TABLE_NAMES


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


SEED_COLUMNS = {
    "ibov_ativos": [
        "indice",
        "empresa",
        "tipo",
        "classe",
        "governanca",
        "setor",
        "participacao_pct",
        "participacao_setor_pct",
        "qtd_teorica",
        "ranking",
        "participacao_acumulada_pct",
        "data_coleta",
        "dias_desde_rebalanceamento",
        "origem",
        "data",
        "acao",
    ],
    "ibov_header": [
        "indice",
        "data_carteira",
        "qtd_teorica_total",
        "redutor",
        "participacao_total_pct",
        "total_ativos",
        "data_coleta",
        "defasagem_dias",
        "origem",
        "data",
    ],
    "ibov_setores": [
        "indice",
        "setor",
        "total_ativos",
        "participacao_pct",
        "qtd_teorica",
        "data",
    ],
}
"""The seed's IBOV tables as they were before the index became a dimension."""

IBOV_DAY = Unit("IBOV", date(2025, 7, 14))
IBXX_DAY = Unit("IBXX", date(2025, 6, 20))  # the real IBrX 100 download


def publish(data_dir, bronze_files, units) -> None:
    lake = LocalLake(data_dir / "lake")
    out = refine.refine_files(bronze_files)
    for name, spec in refine.TABLES.items():
        lake.publish_partitions(spec.prefix, out[name], spec.partition_by, units)


@pytest.fixture
def catalog(data_dir, seg2_bytes, fixtures_dir):
    capture, _ = write_raw(
        data_dir, seg2_bytes, "http://b3", datetime(2025, 7, 12, tzinfo=UTC), "IBOV"
    )
    path = write_bronze(data_dir, json.loads(seg2_bytes), capture)
    import_csvs(data_dir, [fixtures_dir / "IBXXDia_20-06-25.csv"])
    ibxx, _, _ = build_bronze(data_dir, IBXX_DAY.day, "IBXX")
    register_tables(data_dir / "catalog.duckdb", data_dir / "lake")  # before any data: empty views
    for name in ALL_TABLE_NAMES:
        count = run_query(data_dir / "catalog.duckdb", f"SELECT count(*) FROM {name}")
        assert count.rows == [(0,)], name
    publish(data_dir, [path, ibxx], [IBOV_DAY, IBXX_DAY])
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
    types = run_query(catalog, "SELECT * FROM carteira_ativos LIMIT 1").types
    assert types[-3:] == ["VARCHAR", "DATE", "VARCHAR"]


def test_the_eleven_views_exist(catalog) -> None:
    import duckdb

    with duckdb.connect(str(catalog), read_only=True) as con:
        views = {name for (name,) in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    assert set(ALL_TABLE_NAMES) == {
        "carteira_ativos",
        "carteira_header",
        "carteira_setores",
        "carteira_historico",
        "carteira_previa",
        "carteira_previa_mudancas",
        "carteira_mudancas",
        "carteira_concentracao",
        "ibov_ativos",
        "ibov_header",
        "ibov_setores",
    }
    assert set(ALL_TABLE_NAMES) <= views
    for name in ALL_TABLE_NAMES:
        to_duckdb(f"SELECT * FROM {name}")  # `b3 query` accepts each of them


def test_carteira_tables_hold_every_index(catalog) -> None:
    ativos = run_query(
        catalog, "SELECT indice, data, count(*) FROM carteira_ativos GROUP BY 1, 2 ORDER BY 1"
    )
    assert ativos.rows == [("IBOV", date(2025, 7, 14), 84), ("IBXX", date(2025, 6, 20), 97)]
    header = run_query(
        catalog, "SELECT indice, total_ativos, origem FROM carteira_header ORDER BY indice"
    )
    assert header.rows == [("IBOV", 84, "api"), ("IBXX", 97, "csv")]
    # Only the segment-2 API capture has sectors; the CSV download has none.
    setores = run_query(catalog, "SELECT DISTINCT indice FROM carteira_setores")
    assert setores.rows == [("IBOV",)]
    # Each index is ranked on its own.
    ranks = run_query(
        catalog,
        "SELECT indice, min(ranking), max(ranking) FROM carteira_ativos GROUP BY 1 ORDER BY 1",
    )
    assert ranks.rows == [("IBOV", 1, 84), ("IBXX", 1, 97)]


@pytest.mark.parametrize("name", ["ativos", "header", "setores"])
def test_ibov_tables_answer_only_ibov_with_the_seeds_columns(catalog, name) -> None:
    ibov = run_query(catalog, f"SELECT * FROM ibov_{name}")
    assert ibov.columns == SEED_COLUMNS[f"ibov_{name}"]
    assert ibov.rows and {row[0] for row in ibov.rows} == {"IBOV"}
    # The same rows as carteira_* restricted to IBOV, column for column.
    columns = ", ".join(SEED_COLUMNS[f"ibov_{name}"])
    carteira = run_query(catalog, f"SELECT {columns} FROM carteira_{name} WHERE indice = 'IBOV'")
    assert sorted(map(repr, ibov.rows)) == sorted(map(repr, carteira.rows))
    others = run_query(catalog, f"SELECT count(*) FROM carteira_{name} WHERE indice <> 'IBOV'")
    assert others.rows == [({"ativos": 97, "header": 1, "setores": 0}[name],)]


def test_ibov_tables_read_the_carteira_files_without_a_copy(catalog, data_dir) -> None:
    import duckdb

    lake = data_dir / "lake"
    files = sorted(p.relative_to(lake).as_posix() for p in lake.rglob("*") if p.is_file())
    # Every file of the lake is a carteira_* partition file, partitioned by index then date:
    # there is no second copy for the ibov_* tables.
    expected = []
    for spec in refine.TABLES.values():
        folder = lake / spec.prefix
        parts = sorted(p.relative_to(lake).as_posix() for p in folder.rglob("*.parquet"))
        assert all(f.startswith(f"{spec.prefix}/indice=") for f in parts), spec.name
        expected += parts
    assert files == sorted(expected)
    ibov_files = [f for f in files if "/indice=IBOV/" in f]
    assert ibov_files and len(ibov_files) < len(files)
    # The ibov_* views read IBOV's folder of those very files.
    with duckdb.connect(str(catalog), read_only=True) as con:
        sql = dict(con.execute("SELECT view_name, sql FROM duckdb_views()").fetchall())
    for name in ("ativos", "header", "setores"):
        assert str(lake / f"refined/{name}/indice=IBOV/") in sql[f"ibov_{name}"]
        assert str(lake / f"refined/{name}/indice=*/") in sql[f"carteira_{name}"]
    # Registering the views again copies and changes nothing in the lake.
    before = tree_state(lake)
    register_tables(catalog, lake)
    assert tree_state(lake) == before


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


def test_a_query_of_one_index_reads_only_that_indexs_folder_with_the_same_answer(
    catalog,
) -> None:
    """`carteira_* WHERE indice = 'X'` is rewritten to X's slice view (DuckDB would otherwise
    list every index's files first); anything that is not a plain top-level equality is not."""
    from b3_assets.refine.catalog import to_duckdb

    slices = frozenset({"carteira_ativos__IBOV"})
    pruned = to_duckdb(
        "SELECT count(*) FROM carteira_ativos c WHERE c.indice = 'IBOV' AND data > DATE "
        "'2024-01-01'",
        slices,
    )
    assert "FROM carteira_ativos__IBOV AS c" in pruned
    for kept in (
        "SELECT count(*) FROM carteira_ativos WHERE indice = 'IBOV' OR acao = 'VALE3'",
        "SELECT count(*) FROM carteira_ativos WHERE indice = 'SMLL'",  # no such slice
        "SELECT count(*) FROM carteira_ativos WHERE indice IN ('IBOV', 'SMLL')",
        "SELECT a.acao FROM carteira_ativos a JOIN carteira_header h ON a.data = h.data "
        "WHERE a.indice = 'IBOV'",
    ):
        assert "__" not in to_duckdb(kept, slices), kept
    for index in ("IBOV", "IBXX"):
        pruned_rows = run_query(
            catalog, f"SELECT * FROM carteira_ativos WHERE indice = '{index}' ORDER BY acao"
        )
        unpruned = run_query(  # an OR keeps the whole view
            catalog,
            f"SELECT * FROM carteira_ativos WHERE indice = '{index}' OR indice IS NULL "
            "ORDER BY acao",
        )
        assert pruned_rows.columns == unpruned.columns
        assert pruned_rows.rows == unpruned.rows and len(pruned_rows.rows) > 80
