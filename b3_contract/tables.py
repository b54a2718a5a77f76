"""The refined tables' contract: name, SQL file under glue/sql, lake prefix, columns in order
(partition columns last) with their Spark SQL types, the key that orders a partition's rows, and
what each column means.

The DuckDB refine and the catalog (b3_assets) and the Glue job (glue/refine_job.py) all read
this one definition; the SQL must produce exactly these columns. Each column's meaning is said
here once: the Dagster asset pages, the Glue Data Catalog's column comments (so Athena shows
them) and the README's table section (b3_assets/contract_docs.py) take it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMMENT_LIMIT = 255
"""The longest column comment the Glue Data Catalog takes: every description fits in it."""


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
    descriptions: dict[str, str] = field(hash=False)
    """What each column means, by name (partition columns too)."""

    @property
    def data_columns(self) -> list[tuple[str, str]]:
        return [column for column in self.columns if column[0] not in self.partition_by]

    @property
    def described_columns(self) -> list[tuple[str, str, str]]:
        """(name, type, description) of every column in order: what the UI and docs show."""
        return [(name, kind, self.descriptions[name]) for name, kind in self.columns]

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


INDICE = "the index's code as B3 writes it (IBOV, SMLL, IFIX, ...)"
ORIGEM = "`api` (captured from B3's API) or `csv` (imported from one of B3's CSV downloads)"
DATA_COLETA = (
    "when it was captured from B3's API (UTC); null for a CSV import, whose capture time is unknown"
)

CONSTITUENT: dict[str, str] = {
    "empresa": "the company, as B3 names it (B3's `asset`)",
    "tipo": "the share's type as B3 writes it, runs of spaces collapsed: `PN EJ N1`",
    "classe": "the share class, the type's first word: ON, PN, PNA, PNB, UNT, CI (funds), "
    "DRN (BDRs) ... as B3 writes it",
    "governanca": "the governance listing segment, NM, N1 or N2 (the type's last word); null "
    "when the type names none",
    "setor": "the sector; only in segment-2 captures of indices B3 splits by sector, null for "
    "CSV imports and fund indices",
    "participacao_pct": "the weight in the index, in percent (B3 rounds it to three places)",
    "participacao_setor_pct": "the total weight of the ticker's sector, in percent (B3's "
    "`partAcum`); null without sectors",
    "qtd_teorica": "the theoretical quantity: the ticker's shares in the index's theoretical "
    "portfolio",
    "ranking": "1 = the largest weight of that index on that date (ties broken by ticker)",
    "participacao_acumulada_pct": "the running sum of the weights by ranking; ends at the sum "
    "of B3's weights, 100 give or take their rounding",
    "data_coleta": DATA_COLETA,
    "dias_desde_rebalanceamento": "days from the quadrimester's start (Jan 1, May 1 or Sep 1) "
    "to `data`",
    "origem": ORIGEM,
    "indice": INDICE,
    "data": "the portfolio's own date, a B3 trading date (B3's `header.date`, or the title line "
    "of a CSV download), never the capture's clock date",
    "acao": "the ticker (B3's `cod`)",
}
"""What the columns of one constituent on one date mean: carteira_ativos holds them all, and
carteira_historico most of them."""

HISTORY_COLUMNS = (
    "data",
    "acao",
    "empresa",
    "tipo",
    "classe",
    "governanca",
    "setor",
    "participacao_pct",
    "qtd_teorica",
    "ranking",
    "participacao_acumulada_pct",
    "origem",
    "indice",
)
"""The columns of carteira_ativos that carteira_historico keeps, meaning the same."""

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
            descriptions=CONSTITUENT,
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
            descriptions={
                "data_carteira": "the portfolio's date as B3's header gives it (the same as "
                "`data`)",
                "qtd_teorica_total": "the total theoretical quantity of the portfolio, from B3's "
                "header",
                "redutor": "the index's reducer from B3's header: the divisor that turns the "
                "portfolio's value into index points",
                "participacao_total_pct": "the total weight from B3's header, in percent "
                "(normally 100)",
                "total_ativos": "the number of constituents (rows of carteira_ativos of that "
                "index and date)",
                "data_coleta": DATA_COLETA,
                "defasagem_dias": "`data_carteira` minus the UTC date of `data_coleta` (on a "
                "Saturday B3 already serves Monday's portfolio: 2); null when `data_coleta` is",
                "origem": ORIGEM,
                "indice": INDICE,
                "data": CONSTITUENT["data"],
            },
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
            descriptions={
                "setor": "the sector, as B3 names it",
                "total_ativos": "the number of the index's constituents in the sector",
                "participacao_pct": "the sector's weight in the index: the sum of its "
                "constituents' weights, in percent",
                "qtd_teorica": "the sum of the sector's constituents' theoretical quantities",
                "indice": INDICE,
                "data": CONSTITUENT["data"],
            },
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
            descriptions={
                **{name: CONSTITUENT[name] for name in HISTORY_COLUMNS},
                "mes": "the month of `data`, `2025-07`: one file per index and month",
            },
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
            descriptions={
                "acao": CONSTITUENT["acao"],
                "tipo_mudanca": "`entrada` (entered), `saida` (left), `quantidade` (the "
                "theoretical quantity changed) or `peso` (only the weight moved)",
                "empresa": CONSTITUENT["empresa"],
                "setor": "the sector; null without sectors",
                "participacao_anterior_pct": "the weight on `data_anterior`, in percent; null "
                "when the ticker entered",
                "participacao_pct": "the weight on `data`, in percent; null when the ticker left",
                "variacao_pp": "the weight's change in percentage points, exact (an absent "
                "weight counts as 0)",
                "qtd_teorica_anterior": "the theoretical quantity on `data_anterior`; null when "
                "the ticker entered",
                "qtd_teorica": "the theoretical quantity on `data`; null when the ticker left",
                "variacao_qtd_pct": "the theoretical quantity's change, in percent of "
                "`qtd_teorica_anterior`; null when the ticker entered or left",
                "data_anterior": "the index's previous captured session, the one compared with",
                "pregoes_desde_anterior": "B3 sessions from `data_anterior` to `data`: 1 = "
                "consecutive, more = a gap in the captures",
                "rebalanceamento": "true when a rebalance (the first session of January, May "
                "or September) lies in (`data_anterior`, `data`]; false: a change in between, "
                "a corporate event or an exclusion",
                "data_rebalanceamento": "the rebalance's session (the latest, if the gap spans "
                "more than one); null when `rebalanceamento` is false",
                "indice": INDICE,
                "data": "the portfolio's date, compared with `data_anterior`",
            },
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
            descriptions={
                "total_ativos": "the number of constituents",
                "peso_top1_pct": "the largest constituent's weight, in percent",
                "peso_top5_pct": "the five largest constituents' weight, in percent",
                "peso_top10_pct": "the ten largest constituents' weight, in percent",
                "hhi": "the Herfindahl-Hirschman index on percent weights: the sum of their "
                "squares, 0 to 10,000, exact",
                "numero_efetivo": "10,000 / `hhi`: the number of equal weights that would be as "
                "concentrated",
                "setor_maior": "the sector of the largest total weight (ties broken by name); "
                "null without sectors",
                "peso_setor_maior_pct": "that sector's total weight, in percent; null without "
                "sectors",
                "indice": INDICE,
                "data": CONSTITUENT["data"],
            },
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
            descriptions={
                "empresa": CONSTITUENT["empresa"],
                "tipo": "the share's type as B3 writes it, runs of spaces collapsed",
                "participacao_pct": "the weight in the preview, in percent",
                "qtd_teorica": "the theoretical quantity of the next quadrimester",
                "ranking": "1 = the largest weight in the preview (ties broken by ticker)",
                "quadrimestre": "the quadrimester the preview forecasts: `2025-09` = Sep-Dec 2025",
                "data_coleta": "when B3 served it (UTC); null for a CSV import",
                "origem": "`api` (GetQuartelyPreview) or `csv` (B3's quadrimester download)",
                "acao": CONSTITUENT["acao"],
                "indice": INDICE,
                "data": "the capture session (the preview has no date of its own; a "
                "quadrimester download is filed under the last session before its quadrimester)",
            },
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
            descriptions={
                "comparacao": "`previa`: today's portfolio against the preview; `realizada`: "
                "the last preview against the portfolio B3 started (the forecast's error)",
                "acao": CONSTITUENT["acao"],
                "empresa": CONSTITUENT["empresa"],
                "tipo_mudanca": "`entrada` (only the after side holds it), `saida` (only the "
                "before side) or `permanece` (both)",
                "participacao_antes_pct": "the weight before, in percent: today's portfolio "
                "(previa) or the preview (realizada); null where the ticker is absent",
                "participacao_depois_pct": "the weight after, in percent: the preview (previa) "
                "or the portfolio B3 started (realizada); null where the ticker is absent",
                "variacao_pp": "after minus before, in percentage points, exact (absent = 0); "
                "for realizada the actual minus the forecast weight",
                "qtd_teorica_antes": "the theoretical quantity before; null where the ticker "
                "is absent",
                "qtd_teorica_depois": "the theoretical quantity after; null where the ticker "
                "is absent",
                "quadrimestre": "the quadrimester the preview forecasts: `2025-09` = Sep-Dec 2025",
                "data_carteira": "the daily portfolio compared: the latest captured session up "
                "to `data` (previa), or the rebalance's first session (realizada)",
                "indice": INDICE,
                "data": "the preview's capture session",
            },
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

    @property
    def descriptions(self) -> dict[str, str]:
        """The table's, but `indice`, which here is always this index (read from the files)."""
        return {
            **self.table.descriptions,
            "indice": f"the index's code, always {self.index} here (read from the files of "
            f"{self.index}'s folder)",
        }

    @property
    def described_columns(self) -> list[tuple[str, str, str]]:
        descriptions = self.descriptions
        return [(name, kind, descriptions[name]) for name, kind in self.columns]


INDEX_TABLES: dict[str, IndexTable] = {
    f"ibov_{name.removeprefix('carteira_')}": IndexTable(
        f"ibov_{name.removeprefix('carteira_')}", table, "IBOV"
    )
    for name, table in TABLES.items()
}
"""The seed's IBOV tables, kept with their names, columns and answers over the same files."""

ALL_TABLE_NAMES = (*CATALOG_TABLES, *INDEX_TABLES)
