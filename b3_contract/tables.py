"""The refined tables' contract: name, SQL file under glue/sql, lake prefix, columns in order
(partition columns last) with their Spark SQL types, and the key that orders a partition's rows.

The DuckDB refine and the catalog (b3_assets) and the Glue job (glue/refine_job.py) all read
this one definition; the SQL must produce exactly these columns.
"""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def data_columns(self) -> list[tuple[str, str]]:
        return [column for column in self.columns if column[0] not in self.partition_by]

    @property
    def partition_columns(self) -> list[tuple[str, str]]:
        kinds = dict(self.columns)
        return [(name, kinds[name]) for name in self.partition_by]


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
                ("origem", "string"),
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
                ("origem", "string"),
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
