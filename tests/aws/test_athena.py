"""The Athena client: its mechanics against moto (injected results), failures with a stub."""

from datetime import date, datetime
from decimal import Decimal

import pytest
import requests
from botocore.stub import Stubber

from b3_assets.aws import clients as aws_mod
from b3_assets.aws.athena import AthenaQueries, convert
from b3_assets.refine.catalog import QueryError

COLUMNS = [
    {"Name": "acao", "Label": "acao", "Type": "varchar"},
    {
        "Name": "participacao_pct",
        "Label": "participacao_pct",
        "Type": "decimal",
        "Precision": 7,
        "Scale": 3,
    },
    {"Name": "ranking", "Label": "ranking", "Type": "integer"},
    {"Name": "qtd_teorica", "Label": "qtd_teorica", "Type": "bigint"},
    {"Name": "data", "Label": "data", "Type": "date"},
    {"Name": "data_coleta", "Label": "data_coleta", "Type": "timestamp"},
    {"Name": "governanca", "Label": "governanca", "Type": "varchar"},
]


def row(*values):
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


def inject(endpoint: str, rows: list[dict]) -> None:
    body = {"results": [{"rows": rows, "column_info": COLUMNS}]}
    response = requests.post(
        f"{endpoint}/moto-api/static/athena/query-results", json=body, timeout=10
    )
    assert response.status_code == 201


def queries(**kwargs) -> AthenaQueries:
    return AthenaQueries(
        aws_mod.client("athena"), "primary", "b3_refined", "s3://b3-lake-test/athena/", **kwargs
    )


def test_rows_come_back_typed_without_the_header_row(aws) -> None:
    inject(
        aws.endpoint,
        [
            row(*[c["Name"] for c in COLUMNS]),  # Athena repeats the names as the first row
            row("PETR4", "7.123", "2", "4509757936", "2025-07-14", "2025-07-12 13:00:00.000", "N2"),
            row(
                "VALE3", "11.477", "1", "3688870616", "2025-07-14", "2025-07-12 13:00:00.000", None
            ),
        ],
    )
    sql = "SELECT acao, participacao_pct FROM ibov_ativos WHERE data = DATE '2025-07-14'"
    result = queries().run(sql)
    assert result.columns == [c["Name"] for c in COLUMNS]
    assert result.types[:3] == ["VARCHAR", "DECIMAL(7,3)", "INTEGER"]
    assert result.rows[0] == (
        "PETR4",
        Decimal("7.123"),
        2,
        4509757936,
        date(2025, 7, 14),
        datetime(2025, 7, 12, 13, 0),
        "N2",
    )
    assert result.rows[1][-1] is None
    assert len(result.rows) == 2


def test_the_query_is_sent_to_the_workgroup_and_database(aws) -> None:
    client = aws_mod.client("athena")
    execution_id = AthenaQueries(client, "primary", "b3_refined", None).start(
        "SELECT count(*) FROM ibov_header"
    )
    execution = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["QueryExecutionContext"]["Database"] == "b3_refined"
    assert execution["WorkGroup"] == "primary"
    assert execution["Query"] == "SELECT count(*) FROM ibov_header"


def test_every_index_table_is_queried_on_athena(aws) -> None:
    """carteira_* (every index) and ibov_* (IBOV alone) both go to Athena as written."""
    client = aws_mod.client("athena")
    sql = (
        "SELECT c.indice, count(*) FROM carteira_ativos c JOIN ibov_header h ON c.data = h.data "
        "WHERE c.indice IN ('IBOV', 'IBXX') GROUP BY c.indice"
    )
    execution_id = AthenaQueries(client, "primary", "b3_refined", None).start(sql)
    execution = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["Query"] == sql
    assert execution["QueryExecutionContext"]["Database"] == "b3_refined"


def test_writes_and_unknown_tables_are_refused_before_athena(aws) -> None:
    with pytest.raises(QueryError, match="only read-only"):
        queries().run("DROP TABLE ibov_ativos")
    with pytest.raises(QueryError, match="unknown table.*carteira_ativos.*ibov_ativos"):
        queries().run("SELECT * FROM secrets")


def stubbed(states: list[dict]) -> tuple[AthenaQueries, Stubber, list[float]]:
    client = aws_mod.client("athena")
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    for status in states:
        stub.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}},
            {"QueryExecutionId": "q-1"},
        )
    sleeps: list[float] = []
    return AthenaQueries(client, "primary", "b3_refined", None, sleep=sleeps.append), stub, sleeps


def test_failed_query_raises_athenas_reason(aws) -> None:
    client, stub, sleeps = stubbed(
        [
            {"State": "QUEUED"},
            {"State": "RUNNING"},
            {"State": "FAILED", "StateChangeReason": "COLUMN_NOT_FOUND: line 1:8: Column 'x'"},
        ]
    )
    with stub, pytest.raises(QueryError, match="q-1 FAILED: COLUMN_NOT_FOUND: line 1:8"):
        client.run("SELECT x FROM ibov_ativos")
    assert sleeps == [0.25, 0.5]  # backoff between polls


def test_cancelled_query_raises(aws) -> None:
    client, stub, _ = stubbed([{"State": "CANCELLED", "StateChangeReason": "Query cancelled"}])
    with stub, pytest.raises(QueryError, match="CANCELLED: Query cancelled"):
        client.run("SELECT 1 FROM ibov_header")


def test_a_query_past_the_timeout_is_cancelled(aws) -> None:
    client = aws_mod.client("athena")
    stub = Stubber(client)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"})
    for _ in range(3):
        stub.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": "q-2", "Status": {"State": "RUNNING"}}},
        )
    stub.add_response("stop_query_execution", {}, {"QueryExecutionId": "q-2"})
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    queries_ = AthenaQueries(
        client, "primary", "b3_refined", None, timeout=0.6, sleep=sleep, clock=lambda: now[0]
    )
    with stub, pytest.raises(QueryError, match="still RUNNING after 0.6 s; cancelled it"):
        queries_.run("SELECT 1 FROM ibov_header")
    stub.assert_no_pending_responses()


def test_bad_values_are_named() -> None:
    assert convert({"VarCharValue": "true"}, "boolean") is True
    assert convert({"VarCharValue": "[1, 2]"}, "array") == "[1, 2]"
    with pytest.raises(QueryError, match="'abc' for a integer column"):
        convert({"VarCharValue": "abc"}, "integer")
