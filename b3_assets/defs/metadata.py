"""Materialization metadata: row counts, column schemas and a markdown preview of top weights."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
import pyarrow as pa

from b3_assets.source.models import parse_br_decimal


def contract_schema(columns: Iterable[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    return contract_schema((field.name, str(field.type)) for field in schema)


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def top_weights_from_bronze(table: pa.Table, limit: int = 10) -> str:
    """Top weights of one bronze date, read from B3's strings."""
    rows = table.select(["cod", "asset", "part", "segment"]).to_pylist()
    rows.sort(key=lambda r: (-parse_br_decimal(r["part"]), r["cod"]))
    return markdown_table(
        ["#", "ticker", "company", "weight %", "sector"],
        [
            [i, r["cod"], r["asset"], parse_br_decimal(r["part"]), r["segment"]]
            for i, r in enumerate(rows[:limit], start=1)
        ],
    )


def top_weights_from_ativos(table: pa.Table, limit: int = 10) -> str:
    """Top weights of the newest date in a refined ibov_ativos result."""
    if table.num_rows == 0:
        return "(no rows)"
    newest = max(table["data"].to_pylist())
    rows = [r for r in table.to_pylist() if r["data"] == newest]
    rows.sort(key=lambda r: r["ranking"])
    body = markdown_table(
        ["ranking", "ticker", "company", "weight %", "cumulative %", "sector"],
        [
            [
                r["ranking"],
                r["acao"],
                r["empresa"],
                r["participacao_pct"],
                r["participacao_acumulada_pct"],
                r["setor"],
            ]
            for r in rows[:limit]
        ],
    )
    return f"**{newest}**\n\n{body}"
