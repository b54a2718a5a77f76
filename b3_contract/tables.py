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

    def index_prefix(self, index: str) -> str:
        """One index's folder of the table: every file under it holds that index only."""
        return f"{self.prefix}/indice={index}"

    @property
    def index_partition_by(self) -> tuple[str, ...]:
        """The partition levels inside one index's `indice=` folder."""
        return tuple(name for name in self.partition_by if name != "indice")

    @property
    def file_columns(self) -> list[str]:
        """What a partition's files hold: the data columns plus `indice`, which the IBOV tables
        read from the files (their location is one index's folder)."""
        return ["indice", *(name for name, _ in self.data_columns)]

    @property
    def partition_columns(self) -> list[tuple[str, str]]:
        kinds = dict(self.columns)
        return [(name, kinds[name]) for name in self.partition_by]


TABLES: dict[str, RefinedTable] = {
    table.name: table
    for table in (
        RefinedTable(
            "carteira_ativos",
            "ativos.sql",
            "refined/ativos",
            (
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
                ("indice", "string"),
                ("data", "date"),
                ("acao", "string"),
            ),
            ("indice", "data", "acao"),
            "One row per constituent per index and trading date.",
            ("indice", "data", "acao"),
        ),
        RefinedTable(
            "carteira_header",
            "header.sql",
            "refined/header",
            (
                ("data_carteira", "date"),
                ("qtd_teorica_total", "bigint"),
                ("redutor", "decimal(20,8)"),
                ("participacao_total_pct", "decimal(7,3)"),
                ("total_ativos", "int"),
                ("data_coleta", "timestamp"),
                ("defasagem_dias", "int"),
                ("origem", "string"),
                ("indice", "string"),
                ("data", "date"),
            ),
            ("indice", "data"),
            "One row per index and trading date: the portfolio's totals.",
            ("indice", "data"),
        ),
        RefinedTable(
            "carteira_setores",
            "setores.sql",
            "refined/setores",
            (
                ("setor", "string"),
                ("total_ativos", "int"),
                ("participacao_pct", "decimal(7,3)"),
                ("qtd_teorica", "bigint"),
                ("indice", "string"),
                ("data", "date"),
            ),
            ("indice", "data"),
            "One row per sector per index and trading date (segment-2 captures only).",
            ("indice", "data", "setor"),
        ),
    )
}


ANALYTIC_TABLES: dict[str, RefinedTable] = {
    table.name: table
    for table in (
        RefinedTable(
            "carteira_historico",
            "historico.sql",
            "refined/historico",
            (
                ("data", "date"),
                ("acao", "string"),
                ("empresa", "string"),
                ("tipo", "string"),
                ("classe", "string"),
                ("governanca", "string"),
                ("setor", "string"),
                ("participacao_pct", "decimal(7,3)"),
                ("qtd_teorica", "bigint"),
                ("ranking", "int"),
                ("participacao_acumulada_pct", "decimal(7,3)"),
                ("origem", "string"),
                ("indice", "string"),
                ("mes", "string"),
            ),
            ("indice", "mes"),
            "One row per constituent per index and trading date, one file per index and month "
            "sorted by date and ticker: the table to read history from.",
            ("indice", "data", "acao"),
        ),
        RefinedTable(
            "carteira_mudancas",
            "mudancas.sql",
            "refined/mudancas",
            (
                ("acao", "string"),
                ("tipo_mudanca", "string"),
                ("empresa", "string"),
                ("setor", "string"),
                ("participacao_anterior_pct", "decimal(7,3)"),
                ("participacao_pct", "decimal(7,3)"),
                ("variacao_pp", "decimal(8,3)"),
                ("qtd_teorica_anterior", "bigint"),
                ("qtd_teorica", "bigint"),
                ("variacao_qtd_pct", "decimal(12,4)"),
                ("data_anterior", "date"),
                ("pregoes_desde_anterior", "int"),
                ("rebalanceamento", "boolean"),
                ("data_rebalanceamento", "date"),
                ("indice", "string"),
                ("data", "date"),
            ),
            ("indice", "data"),
            "Per index and date with a captured previous session: each ticker that entered, left "
            "or changed weight or quantity since that session.",
            ("indice", "data", "acao"),
        ),
        RefinedTable(
            "carteira_concentracao",
            "concentracao.sql",
            "refined/concentracao",
            (
                ("total_ativos", "int"),
                ("peso_top1_pct", "decimal(7,3)"),
                ("peso_top5_pct", "decimal(7,3)"),
                ("peso_top10_pct", "decimal(7,3)"),
                ("hhi", "decimal(12,6)"),
                ("numero_efetivo", "decimal(10,3)"),
                ("setor_maior", "string"),
                ("peso_setor_maior_pct", "decimal(7,3)"),
                ("indice", "string"),
                ("data", "date"),
            ),
            ("indice", "data"),
            "One row per index and trading date: how concentrated the portfolio is (top weights, "
            "Herfindahl-Hirschman index, effective number of constituents, largest sector).",
            ("indice", "data"),
        ),
    )
}
"""The analytics: built from carteira_ativos (not from bronze) by the same engine run, over the
run's units and the captured sessions around them (b3_contract.analytics plans which)."""

PORTFOLIO_TABLES: dict[str, RefinedTable] = {**TABLES, **ANALYTIC_TABLES}
"""The daily portfolio's tables: what one refine of (index, trading date) units writes."""

PREVIEW_TABLES: dict[str, RefinedTable] = {
    table.name: table
    for table in (
        RefinedTable(
            "carteira_previa",
            "previa.sql",
            "refined/previa",
            (
                ("empresa", "string"),
                ("tipo", "string"),
                ("participacao_pct", "decimal(7,3)"),
                ("qtd_teorica", "bigint"),
                ("ranking", "int"),
                ("quadrimestre", "string"),
                ("data_coleta", "timestamp"),
                ("origem", "string"),
                ("acao", "string"),
                ("indice", "string"),
                ("data", "date"),
            ),
            ("indice", "data"),
            "B3's preview of the next quadrimester's portfolio, one row per ticker per index and "
            "capture session (`data`; the preview has no date of its own). `quadrimestre` is the "
            "portfolio it forecasts ('2025-09': Sep-Dec 2025), the next of Jan, May and Sep "
            "after the session; `origem` is api (GetQuartelyPreview) or csv (B3's quadrimester "
            "download, filed under the last session before its quadrimester).",
            ("indice", "data", "acao"),
        ),
        RefinedTable(
            "carteira_previa_mudancas",
            "previa_mudancas.sql",
            "refined/previa_mudancas",
            (
                ("comparacao", "string"),
                ("acao", "string"),
                ("empresa", "string"),
                ("tipo_mudanca", "string"),
                ("participacao_antes_pct", "decimal(7,3)"),
                ("participacao_depois_pct", "decimal(7,3)"),
                ("variacao_pp", "decimal(8,3)"),
                ("qtd_teorica_antes", "bigint"),
                ("qtd_teorica_depois", "bigint"),
                ("quadrimestre", "string"),
                ("data_carteira", "date"),
                ("indice", "string"),
                ("data", "date"),
            ),
            ("indice", "data"),
            "Per index and preview capture session (`data`): with comparacao 'previa', the "
            "preview against the daily portfolio of `data_carteira` (the latest captured session "
            "up to `data`): who enters, who leaves, how weights move (antes = today's portfolio, "
            "depois = the preview). With comparacao 'realizada', only on the last preview before "
            "the rebalance once its first session (`data_carteira`) is captured: the forecast "
            "error (antes = the preview, depois = the portfolio B3 actually started).",
            ("indice", "data", "comparacao", "acao"),
        ),
    )
}
"""The preview's tables: what one refine of (index, capture session) preview units writes."""

CATALOG_TABLES: dict[str, RefinedTable] = {**PORTFOLIO_TABLES, **PREVIEW_TABLES}
"""Every partitioned table of the catalog over every index."""


@dataclass(frozen=True)
class IndexTable:
    """One index's slice of a refined table under the seed's name (ibov_ativos): the same files,
    read from that index's folder, with the columns in the seed's order (`indice` first)."""

    name: str
    table: RefinedTable
    index: str

    @property
    def prefix(self) -> str:
        return self.table.index_prefix(self.index)

    @property
    def partition_by(self) -> tuple[str, ...]:
        return self.table.index_partition_by

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        kinds = dict(self.table.columns)
        rest = [c for c in self.table.data_columns]
        return (("indice", kinds["indice"]), *rest, *((n, kinds[n]) for n in self.partition_by))

    @property
    def data_columns(self) -> list[tuple[str, str]]:
        return [column for column in self.columns if column[0] not in self.partition_by]

    @property
    def partition_columns(self) -> list[tuple[str, str]]:
        kinds = dict(self.columns)
        return [(name, kinds[name]) for name in self.partition_by]

    @property
    def description(self) -> str:
        return f"{self.table.description} {self.index} only (the {self.table.name} files)."


INDEX_TABLES: dict[str, IndexTable] = {
    f"ibov_{name.removeprefix('carteira_')}": IndexTable(
        f"ibov_{name.removeprefix('carteira_')}", table, "IBOV"
    )
    for name, table in TABLES.items()
}
"""The seed's IBOV tables, kept with their names, columns and answers over the same files."""

ALL_TABLE_NAMES = (*CATALOG_TABLES, *INDEX_TABLES)
