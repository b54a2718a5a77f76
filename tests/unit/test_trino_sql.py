"""Every statement b3-lake sends to Athena is Trino SQL (issue 22, part 6).

Locally the SQL only ever runs transpiled to DuckDB by sqlglot, which is lenient both ways: it
reads DuckDB-only constructs as if they were Trino (QUALIFY, `[1, 2]`) and it rewrites some
(`arg_max` becomes MAX_BY), so a statement Athena rejects can pass every local test. Here each
statement is checked by `trino_problems`: trino-sql-validator's Trino grammar and its catalog of
Trino's documented functions and types, a few DuckDB constructs that validator lets through, and
the read-only check Athena's resource runs before it starts a query.

The statements are gathered from where the code keeps them, never from a copied list: the
report's queries as `b3 report` sends them (its loaders run on the synthetic tables of
tests/report_data.py, with their parameters filled by the report itself), the ```sql blocks and
`b3 query "..."` examples of every markdown file, and the CLI's `--help` examples. A module that
starts using the query resource fails `test_only_known_modules_send_sql_to_the_query_resource`
until its statements are gathered here too.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import pytest
import report_data
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType
from trino_sql_validator import validate

from b3_assets.analytics.report import held_range, load_report_data
from b3_assets.cli import EXAMPLES
from b3_assets.refine.catalog import QueryError, QueryResult, check_query

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {"build", "dist", "node_modules", "__pycache__"}  # plus hidden and .egg-info
SQL_BLOCK = re.compile(r"^[ \t]*```sql[^\n]*\n(?P<body>.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
QUERY_EXAMPLE = re.compile(r"\bb3 query\s+(?P<quoted>\"(?:[^\"\\]|\\.)*\"|'[^']*')", re.DOTALL)
PLACEHOLDER = re.compile(r"\s*(\.\.\.|…)\s*")  # `b3 query "..." --format csv`
TRINO = Dialect.get_or_raise("trino")
# a `[` after one of these is a subscript (`x[1]`, `f(x)[1]`) or Trino's ARRAY[...] constructor
SUBSCRIPTED = {
    TokenType.ARRAY,
    TokenType.VAR,
    TokenType.IDENTIFIER,
    TokenType.R_PAREN,
    TokenType.R_BRACKET,
}


# --- the check --------------------------------------------------------------------------------


def _near(sql: str, line: int | None, column: int | None) -> str:
    """The text around a parser error, so the message names the construct: the validator
    points past a DuckDB keyword it read as an alias (`FROM t QUALIFY ▸row_number()`)."""
    if line is None or column is None:
        return ""
    lines = sql.splitlines() or [""]
    text = lines[min(line, len(lines)) - 1]
    cut = max(column - 1, 0)
    return f' near "{text[max(cut - 30, 0) : cut]}▸{text[cut : cut + 30]}"'


def _duckdb_constructs(sql: str) -> list[str]:
    """DuckDB syntax trino-sql-validator accepts (or refuses without naming it) but Trino does
    not: FROM-first SELECT, ILIKE, `{...}` struct literals, `[...]` list literals and
    `SELECT * EXCLUDE/REPLACE`."""
    try:
        tokens = TRINO.tokenize(sql)
    except sqlglot.errors.TokenError as exc:
        return [f"not tokenizable as Trino: {exc}"]
    found = []
    if tokens and tokens[0].token_type == TokenType.FROM:
        found.append(
            "FROM-first SELECT (`FROM t SELECT ...`) is DuckDB's; Trino starts with SELECT"
        )
    if any(token.token_type == TokenType.ILIKE for token in tokens):
        found.append("ILIKE is DuckDB's; Trino writes lower(x) LIKE lower(pattern)")
    if any(token.token_type == TokenType.L_BRACE for token in tokens):
        found.append("`{...}` struct literal is DuckDB's; Trino writes CAST(ROW(...) AS ROW(...))")
    for before, token in zip([None, *tokens], tokens, strict=False):
        if token.token_type == TokenType.L_BRACKET and (
            before is None or before.token_type not in SUBSCRIPTED
        ):
            found.append(f"`[...]` list literal (line {token.line}) is DuckDB's; Trino: ARRAY[...]")
    try:
        trees = sqlglot.parse(sql, read="trino")
    except sqlglot.errors.ParseError:
        return found  # the validator or check_query names the syntax error
    for tree in trees:
        for star in tree.find_all(exp.Star) if tree is not None else ():
            if any(star.args.get(key) for key in ("except_", "replace", "rename")):
                found.append(
                    "`SELECT * EXCLUDE/REPLACE/RENAME (...)` is DuckDB's; Trino names the columns"
                )
    return found


def trino_problems(sql: str) -> list[str]:
    """Why Athena (Trino) would refuse `sql`, or [] when it is one valid Trino statement that
    calls only Trino's functions and passes the checks run before Athena sees a query."""
    problems = []
    result = validate(sql, jinja="reject")
    if not result.valid:
        error = result.error
        near = _near(sql, error.line, error.column) if error else ""
        problems.append(f"not Trino SQL: {error or 'refused by the Trino grammar'}{near}")
    if result.statement_count > 1:
        problems.append(f"Athena runs one statement per query, this has {result.statement_count}")
    if result.unknown_functions:
        names = ", ".join(dict.fromkeys(result.unknown_functions))
        problems.append(f"not Trino functions: {names}")
    if result.unknown_types:
        problems.append(f"not Trino types: {', '.join(dict.fromkeys(result.unknown_types))}")
    problems.extend(_duckdb_constructs(sql))
    try:
        check_query(sql)  # what AthenaQueries.start runs before start_query_execution
    except QueryError as exc:
        problems.append(f"refused before Athena: {exc}")
    return problems


# --- where the statements come from -----------------------------------------------------------


def markdown_files() -> list[Path]:
    """The repository's markdown files (README.md, docs/, the folders' READMEs)."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in SKIPPED_DIRS and not d.endswith(".egg-info")
        )
        found += [Path(folder) / name for name in sorted(files) if name.endswith(".md")]
    return found


def sql_blocks(text: str) -> list[str]:
    """The bodies of the ```sql fences: each is a query for Athena (or `b3 query`)."""
    return [match["body"].strip() for match in SQL_BLOCK.finditer(text)]


def query_examples(text: str) -> list[str]:
    """The SQL of each `b3 query "SQL"` in `text`, unquoted as the shell would; the `"..."`
    placeholder of "b3 query "..." --format csv" is no SQL."""
    found = []
    for match in QUERY_EXAMPLE.finditer(text):
        [sql] = shlex.split(match["quoted"])
        if not PLACEHOLDER.fullmatch(sql):
            found.append(sql)
    return found


def doc_statements() -> dict[str, str]:
    """Every example the docs and `--help` give for Athena, by where it is."""
    found: dict[str, str] = {}
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT).as_posix()
        for kind, statements in (
            ("sql block", sql_blocks(text)),
            ("b3 query", query_examples(text)),
        ):
            for number, sql in enumerate(statements, 1):
                found[f"{where} {kind} {number}"] = sql
    for command, line in sorted(EXAMPLES.items()):
        for number, sql in enumerate(query_examples(line), 1):
            found[f"b3 {command} --help example {number}"] = sql
    return found


def _recording(
    query: Callable[[str], QueryResult], sent: list[str]
) -> Callable[[str], QueryResult]:
    def record(sql: str) -> QueryResult:
        sent.append(sql)
        return query(sql)

    return record


@cache
def synthetic_tables() -> report_data.Synthetic:
    """The report's synthetic tables with previews: a rebalance in the period, a next one."""
    return report_data.build(sessions=60, tickers=80, previews=True)


def _table(sql: str) -> str:
    found = re.search(r"\bFROM (\w+)", sql)
    return found[1] if found else "query"


def report_periods(tables: report_data.Synthetic) -> dict[str, date]:
    """The ends of the three periods the report is loaded over (all start at the first day)."""
    [rebalance] = tables.outcomes
    assert tables.next_preview is not None
    return {
        "whole period": tables.end,
        "ending before the rebalance": max(day for day in tables.captured if day < rebalance),
        "ending before the next previews": tables.next_preview.sessions[0] - timedelta(days=1),
    }


@cache
def report_statements() -> dict[str, str]:
    """What `b3 report` sends, by running its loaders: held_range, then load_report_data over
    three periods of the synthetic tables with previews, so carteira_previa_mudancas is asked in
    its three shapes (the latest preview and the period's rebalance; the preview only, ending
    before the rebalance; the rebalance only, ending before the next previews)."""
    tables = synthetic_tables()
    found: dict[str, str] = {}
    sent: list[str] = []
    held_range(_recording(tables.query, sent), tables.index)
    found["report held_range"] = sent.pop()
    for period, end in report_periods(tables).items():
        load_report_data(_recording(tables.query, sent), tables.index, tables.start, end)
        for sql in sent:
            if sql not in found.values():
                found[f"report {_table(sql)} ({period})"] = sql
        sent.clear()
    return found


def verify_statements() -> dict[str, str]:
    """What `b3 verify` sends: the reserved unit read back from each compared table."""
    from b3_assets.aws.verify import COMPARED, verify_sql
    from b3_contract.tables import TABLES

    return {f"b3 verify {name}": verify_sql(TABLES[name]) for name in COMPARED}


def athena_statements() -> dict[str, str]:
    return {**report_statements(), **doc_statements(), **verify_statements()}


# --- the statements ---------------------------------------------------------------------------


@pytest.mark.parametrize("source", sorted(athena_statements()))
def test_every_athena_statement_is_trino(source: str) -> None:
    """Each statement the project sends to Athena parses as Trino and calls Trino functions."""
    sql = athena_statements()[source]
    assert trino_problems(sql) == [], sql


def test_the_statements_cover_the_report_and_every_documented_example() -> None:
    """The gathering finds what is there: every report query in each of its shapes, and the
    README's, docs/aws.md's, docs/previews.md's and `--help`'s examples."""
    report = report_statements()
    assert {_table(sql) for sql in report.values()} == {
        "carteira_historico",
        "carteira_concentracao",
        "carteira_mudancas",
        "carteira_header",
        "carteira_previa",
        "carteira_previa_mudancas",
    }
    shapes = [sql for sql in report.values() if "FROM carteira_previa_mudancas" in sql]
    assert {("'previa'" in sql, "'realizada'" in sql) for sql in shapes} == {
        (True, True),
        (True, False),
        (False, True),
    }
    docs = doc_statements()
    where = {name.split(" ")[0] for name in docs}
    assert {"README.md", "docs/aws.md", "docs/previews.md", "b3"} <= where
    assert sum(" sql block " in name for name in docs) >= 6
    assert sum(" b3 query " in name or "--help" in name for name in docs) >= 5
    assert all(sql and "..." not in sql for sql in docs.values())


def test_query_examples_are_unquoted_as_the_shell_does() -> None:
    """A multi-line example and one in single quotes come out as the SQL the CLI receives."""
    text = (
        "b3 query \"SELECT acao FROM ibov_ativos\n   WHERE data = DATE '2025-01-02'\"\n"
        "b3 query 'SELECT count(*) FROM carteira_header' --format csv\n"
        'b3 query "..." --format json\n'
    )
    assert query_examples(text) == [
        "SELECT acao FROM ibov_ativos\n   WHERE data = DATE '2025-01-02'",
        "SELECT count(*) FROM carteira_header",
    ]


def test_only_known_modules_send_sql_to_the_query_resource() -> None:
    """The query resource's users are the ones whose statements are gathered above: `b3 query`
    (the docs' examples) and `b3 report`. An asset check, sensor or job that starts querying
    fails this test until its statements join `athena_statements`."""
    entry = re.compile(
        r'\["queries"\]|\bQueryResource\b|\bAthenaQueries\b|\bAthenaResource\b|\brun_query\b'
        r"|start_query_execution|\b_queries\(|\bload_report_data\(|\bheld_range\("
    )
    users = sorted(
        path.relative_to(ROOT).as_posix()
        for folder in ("b3_assets", "b3_contract", "glue", "lambda_fn")
        for path in (ROOT / folder).rglob("*.py")
        if entry.search(path.read_text(encoding="utf-8"))
    )
    assert users == [
        "b3_assets/analytics/report.py",  # defines load_report_data and held_range
        "b3_assets/aws/athena.py",  # AthenaQueries: the client
        "b3_assets/aws/verify.py",  # `b3 verify`: verify_statements
        "b3_assets/cli.py",  # `b3 query` (user SQL: the docs' examples) and `b3 report`
        "b3_assets/defs/resources/__init__.py",  # the "queries" resource per environment
        "b3_assets/defs/resources/aws.py",  # AthenaResource
        "b3_assets/defs/resources/interfaces.py",  # QueryResource
        "b3_assets/defs/resources/local.py",  # DuckDBQueryResource
        "b3_assets/refine/catalog.py",  # run_query: the local catalog
    ]


# --- the check refuses DuckDB ----------------------------------------------------------------


DUCKDB_ONLY = {
    "QUALIFY": "SELECT data, acao FROM carteira_ativos "
    "QUALIFY row_number() OVER (PARTITION BY data ORDER BY ranking) = 1",
    "arg_max": "SELECT indice, arg_max(acao, participacao_pct) FROM carteira_ativos GROUP BY 1",
    "list_value": "SELECT list_value(acao, empresa) FROM carteira_ativos",
    "strftime": "SELECT strftime(data, '%Y-%m') FROM carteira_ativos",
    "epoch_ms": "SELECT epoch_ms(data_coleta) FROM carteira_header",
    "list_aggregate": "SELECT list_aggregate(list(acao), 'count') FROM carteira_ativos",
    "::": "SELECT ranking::VARCHAR FROM carteira_ativos",
    "ILIKE": "SELECT acao FROM carteira_ativos WHERE empresa ILIKE 'petro%'",
    "GROUP BY ALL": "SELECT indice, count(*) FROM carteira_ativos GROUP BY ALL",
    "USING": "SELECT acao FROM carteira_ativos USING SAMPLE 10",
    "FROM-first": "FROM carteira_ativos SELECT acao",
    "struct literal": "SELECT {'acao': acao} FROM carteira_ativos",
    "list literal": "SELECT [acao, empresa] FROM carteira_ativos",
    "EXCLUDE": "SELECT * EXCLUDE (empresa) FROM carteira_ativos",
    "read_parquet": "SELECT * FROM read_parquet('lake/refined/ativos/*/*/*.parquet')",
    "one statement": "SELECT 1 FROM carteira_ativos; SELECT 2 FROM carteira_ativos",
}


@pytest.mark.parametrize("construct", sorted(DUCKDB_ONLY))
def test_a_duckdb_only_construct_fails_the_check_by_name(construct: str) -> None:
    """The same check that passes the real statements refuses each DuckDB-only construct,
    naming it, so the statements' test would fail on it."""
    problems = trino_problems(DUCKDB_ONLY[construct])
    assert problems, DUCKDB_ONLY[construct]
    assert construct.lower() in " ".join(problems).lower(), problems


def test_the_trino_spellings_of_those_constructs_pass() -> None:
    """Not a refuse-everything check: Trino's own spellings of the same questions pass."""
    trino = [
        "SELECT data, acao FROM (SELECT data, acao, row_number() OVER (PARTITION BY data "
        "ORDER BY ranking) AS n FROM carteira_ativos) WHERE n = 1",
        "SELECT indice, max_by(acao, participacao_pct) FROM carteira_ativos GROUP BY 1",
        "SELECT ARRAY[acao, empresa], date_format(data, '%Y-%m') FROM carteira_ativos",
        "SELECT to_unixtime(data_coleta), CAST(ranking AS VARCHAR) FROM carteira_header "
        "CROSS JOIN carteira_ativos",
        "SELECT acao FROM carteira_ativos WHERE lower(empresa) LIKE 'petro%' LIMIT 5",
        "SELECT a[1] FROM (SELECT ARRAY[acao] AS a FROM carteira_ativos)",
    ]
    assert {sql: trino_problems(sql) for sql in trino} == {sql: [] for sql in trino}


def _dates(sql: str) -> Iterator[date]:
    for text in re.findall(r"DATE '(\d{4}-\d{2}-\d{2})'", sql):
        yield date.fromisoformat(text)


def test_the_report_statements_carry_the_periods_the_report_filled_in() -> None:
    """The report's statements are the filled ones (dates of the synthetic period), not
    templates: each period bound the report passed is in a statement checked above."""
    tables = synthetic_tables()
    dated = {day for sql in report_statements().values() for day in _dates(sql)}
    assert {tables.start, *report_periods(tables).values()} <= dated
