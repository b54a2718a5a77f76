"""Athena queries through boto3: start, poll with backoff and a timeout, page through the rows,
and give them back typed. `b3 query` with B3_ENV=aws and the Athena resource use this."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from b3_assets.aws.clients import aws_errors
from b3_assets.refine.catalog import QueryError, QueryResult, check_query

RUNNING_STATES = ("QUEUED", "RUNNING")


def _timestamp(text: str) -> datetime:
    # Athena prints "2025-07-14 10:00:00.000" (and "... UTC" for timestamp with time zone).
    return datetime.fromisoformat(text.removesuffix(" UTC").replace(" ", "T"))


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "boolean": lambda v: v.lower() == "true",
    "tinyint": int,
    "smallint": int,
    "integer": int,
    "int": int,
    "bigint": int,
    "double": float,
    "float": float,
    "real": float,
    "decimal": Decimal,
    "date": date.fromisoformat,
    "timestamp": _timestamp,
    "timestamp with time zone": _timestamp,
}


def convert(value: dict[str, str], athena_type: str) -> Any:
    """One cell of get_query_results: a missing VarCharValue is NULL; unknown types stay text."""
    if "VarCharValue" not in value:
        return None
    text = value["VarCharValue"]
    converter = CONVERTERS.get(athena_type.lower())
    if converter is None:
        return text
    try:
        return converter(text)
    except ValueError as exc:
        raise QueryError(f"Athena returned {text!r} for a {athena_type} column: {exc}") from exc


def type_label(column: dict[str, Any]) -> str:
    kind = str(column.get("Type", "varchar"))
    if kind.lower() == "decimal" and column.get("Precision"):
        return f"DECIMAL({column['Precision']},{column.get('Scale', 0)})"
    return kind.upper()


class AthenaQueries:
    """Runs read-only queries in one workgroup and database."""

    def __init__(
        self,
        client: Any,
        workgroup: str,
        database: str,
        output_location: str | None = None,
        poll_interval: float = 0.25,
        max_poll_interval: float = 5.0,
        timeout: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client = client
        self.workgroup = workgroup
        self.database = database
        self.output_location = output_location
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock

    def start(self, sql: str) -> str:
        check_query(sql)
        params: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database, "Catalog": "AwsDataCatalog"},
            "WorkGroup": self.workgroup,
        }
        if self.output_location:
            params["ResultConfiguration"] = {
                "OutputLocation": self.output_location,
                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
            }
        with aws_errors(f"starting the Athena query in workgroup {self.workgroup}"):
            return self.client.start_query_execution(**params)["QueryExecutionId"]

    def wait(self, execution_id: str) -> dict[str, Any]:
        """Polls until the query ends; FAILED or CANCELLED raise with Athena's reason."""
        deadline = self.clock() + self.timeout
        interval = self.poll_interval
        while True:
            with aws_errors(f"polling Athena query {execution_id}"):
                execution = self.client.get_query_execution(QueryExecutionId=execution_id)
            status = execution["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return execution["QueryExecution"]
            if state not in RUNNING_STATES:
                reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get(
                    "ErrorMessage", "no reason given"
                )
                raise QueryError(f"Athena query {execution_id} {state}: {reason}")
            if self.clock() >= deadline:
                with aws_errors(f"cancelling Athena query {execution_id}"):
                    self.client.stop_query_execution(QueryExecutionId=execution_id)
                raise QueryError(
                    f"Athena query {execution_id} still {state} after {self.timeout:g} s; "
                    "cancelled it"
                )
            self.sleep(interval)
            interval = min(interval * 2, self.max_poll_interval)

    def results(self, execution_id: str) -> QueryResult:
        columns: list[dict[str, Any]] = []
        rows: list[tuple[Any, ...]] = []
        with aws_errors(f"reading the results of Athena query {execution_id}"):
            pages = self.client.get_paginator("get_query_results").paginate(
                QueryExecutionId=execution_id
            )
            for number, page in enumerate(pages):
                result = page["ResultSet"]
                if not columns:
                    columns = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                data = [row.get("Data", []) for row in result.get("Rows", [])]
                names = [c.get("Label") or c.get("Name") for c in columns]
                if number == 0 and data and [d.get("VarCharValue") for d in data[0]] == names:
                    data = data[1:]  # a SELECT's first row repeats the column names
                for cells in data:
                    if len(cells) != len(columns):
                        raise QueryError(
                            f"Athena returned a row of {len(cells)} values for "
                            f"{len(columns)} columns"
                        )
                    typed = zip(cells, (str(c.get("Type")) for c in columns), strict=True)
                    rows.append(tuple(convert(cell, kind) for cell, kind in typed))
        names = [str(c.get("Label") or c.get("Name")) for c in columns]
        return QueryResult(names, [type_label(c) for c in columns], rows)

    def run(self, sql: str) -> QueryResult:
        execution_id = self.start(sql)
        self.wait(execution_id)
        return self.results(execution_id)
