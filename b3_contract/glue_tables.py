"""The refined tables as the Glue Data Catalog holds them: one definition for the Glue job (which
registers its partitions), `b3 deploy` (which creates the tables before any run) and the tests.
Standard library only: it ships to Glue in b3_contract.zip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from b3_contract.lake_keys import Unit
from b3_contract.tables import CATALOG_TABLES, INDEX_TABLES, IndexTable, RefinedTable

PARQUET_SERDE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}

Table = RefinedTable | IndexTable


def glue_columns(table: Table, columns: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Glue's column entries, each with the contract's description as its Comment (what the
    Glue and Athena consoles show beside the column)."""
    return [
        {"Name": name, "Type": kind, "Comment": table.descriptions[name]} for name, kind in columns
    ]


def table_input(table: Table, location: str) -> dict[str, Any]:
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": glue_columns(table, table.partition_columns),
        "StorageDescriptor": {
            "Columns": glue_columns(table, table.data_columns),
            "Location": location,
            **PARQUET_SERDE,
        },
    }


def partition_location(location: str, table: Table, values: Sequence[str]) -> str:
    parts = "/".join(f"{n}={v}" for n, v in zip(table.partition_by, values, strict=True))
    return f"{location.rstrip('/')}/{parts}/"


def partition_input(table: Table, location: str, values: Sequence[str]) -> dict[str, Any]:
    return {
        "Values": list(values),
        "StorageDescriptor": {
            "Columns": glue_columns(table, table.data_columns),
            "Location": partition_location(location, table, values),
            **PARQUET_SERDE,
        },
    }


def unit_expression(table: Table, unit: Unit) -> str:
    """The catalog filter of one unit's partitions (the IBOV tables have no `indice` key; a
    month-partitioned table holds the unit in its month's partition)."""
    if "mes" in table.partition_by:
        day = f"mes = '{unit.day:%Y-%m}'"
    else:
        day = f"data = '{unit.day.isoformat()}'"
    return f"indice = '{unit.index}' AND {day}" if "indice" in table.partition_by else day


def all_table_inputs(bucket: str) -> list[dict[str, Any]]:
    """Every table of the catalog (carteira_*, the analytics and the IBOV tables) located in
    `bucket`."""
    tables: list[Table] = [*CATALOG_TABLES.values(), *INDEX_TABLES.values()]
    return [table_input(table, f"s3://{bucket}/{table.prefix}/") for table in tables]
