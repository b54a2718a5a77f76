"""Materialization metadata: row counts, column schemas and a markdown preview of top weights."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg
import pyarrow as pa

from b3_assets.source.models import parse_br_decimal
from b3_contract.lake_keys import Month, Unit, month_prefix, partition_prefix
from b3_contract.tables import ANALYTIC_TABLES, PREVIEW_TABLES, IndexTable, RefinedTable

if TYPE_CHECKING:
    from b3_assets.defs.resources import LakeResource


def contract_schema(table: RefinedTable | IndexTable) -> dg.TableSchema:
    """A table's columns as the asset page lists them: name, type and the contract's
    description of each (b3_contract.tables says it once)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, kind, description=description)
            for name, kind, description in table.described_columns
        ]
    )


def column_schema(schema: pa.Schema) -> dg.TableSchema:
    """A Parquet file's columns (bronze: B3's fields, which the contract does not describe)."""
    return dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type)) for f in schema])


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


HISTORY_MONTHS = 4  # the months of history the constituents' chart shows


def analytics_metadata(lake: LakeResource, unit: Unit) -> dict[str, dict[str, Any]]:
    """The metadata of each analytic table for one index on the newest date of a run: figures
    Dagster plots over the materializations, and charts as inline PNGs. Read back from the
    lake, so a run on Glue shows the same as one on DuckDB."""
    from b3_assets.analytics import charts

    tables = ANALYTIC_TABLES
    conc = lake.read_table(partition_prefix(tables["carteira_concentracao"].prefix, unit))
    changes = lake.read_table(partition_prefix(tables["carteira_mudancas"].prefix, unit))
    first = (unit.day.replace(day=1) - timedelta(days=31 * (HISTORY_MONTHS - 1))).replace(day=1)
    months = sorted({Month.of(Unit(unit.index, d)) for d in _month_starts(first, unit.day)})
    history = [
        lake.read_table(month_prefix(tables["carteira_historico"].prefix, m)) for m in months
    ]
    rows = [
        r
        for t in history
        if t is not None
        for r in t.select(["data", "acao", "participacao_pct", "setor"]).to_pylist()
    ]
    today = [r for r in rows if r["data"] == unit.day]
    out: dict[str, dict[str, Any]] = {}
    c = conc.to_pylist()[0] if conc is not None and conc.num_rows else None
    out["carteira_concentracao"] = {
        "date": str(unit.day),
        **(
            {
                "constituents": c["total_ativos"],
                "top1_weight_pct": float(c["peso_top1_pct"]),
                "top5_weight_pct": float(c["peso_top5_pct"]),
                "top10_weight_pct": float(c["peso_top10_pct"]),
                "hhi": float(c["hhi"]),
                "effective_constituents": float(c["numero_efetivo"] or 0),
                "largest_sector": c["setor_maior"] or "no sectors in this capture",
                "largest_sector_weight_pct": float(c["peso_setor_maior_pct"] or 0),
            }
            if c
            else {}
        ),
        "weights_chart": _image(
            charts.weights_chart(
                [(r["acao"], float(r["participacao_pct"])) for r in today], unit.day, unit.index
            ),
            f"{unit.index} weights on {unit.day}",
        ),
        "sectors_chart": _image(
            charts.sector_chart(
                [(r["setor"], float(r["participacao_pct"])) for r in today], unit.day, unit.index
            ),
            f"{unit.index} sectors on {unit.day}",
        ),
    }
    moved = changes.to_pylist() if changes is not None else []
    kinds = Counter(r["tipo_mudanca"] for r in moved)
    listed = sorted(
        (r for r in moved if r["tipo_mudanca"] in ("entrada", "saida")),
        key=lambda r: (r["tipo_mudanca"], r["acao"]),
    )
    out["carteira_mudancas"] = {
        "date": str(unit.day),
        "entries": kinds["entrada"],
        "exits": kinds["saida"],
        "quantity_changes": kinds["quantidade"],
        "weight_only_changes": kinds["peso"],
        "previous_captured_session": str(moved[0]["data_anterior"])
        if moved
        else "none captured, or nothing changed",
        "sessions_since_previous": moved[0]["pregoes_desde_anterior"] if moved else 0,
        "rebalance": bool(moved and moved[0]["rebalanceamento"]),
        "entries_and_exits": dg.MetadataValue.md(
            markdown_table(
                ["change", "ticker", "company", "weight before %", "weight now %"],
                [
                    [
                        r["tipo_mudanca"],
                        r["acao"],
                        r["empresa"],
                        r["participacao_anterior_pct"],
                        r["participacao_pct"],
                    ]
                    for r in listed
                ],
            )
            if listed
            else "no entries or exits"
        ),
    }
    out["carteira_historico"] = {
        "date": str(unit.day),
        "constituents": len(today),
        "dates_in_chart": len({r["data"] for r in rows}),
        "largest_weights_chart": _image(
            charts.top_weights_chart(
                [(r["data"], r["acao"], float(r["participacao_pct"])) for r in rows], unit.index
            ),
            f"{unit.index} largest constituents since {first:%Y-%m}",
        ),
    }
    return out


def _image(fig: Any, alt: str) -> dg.MetadataValue:
    from b3_assets.analytics import charts

    return dg.MetadataValue.md(charts.markdown_image(charts.png_bytes(fig, dpi=80), alt))


def _month_starts(first: date, last: date) -> list[date]:
    days, day = [], first
    while day <= last:
        days.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return days


def preview_metadata(lake: LakeResource, name: str, units: Iterable[Unit]) -> dict[str, Any]:
    """Figures of one preview table for the newest session of the run that has a preview, read
    back from the lake (Glue and DuckDB runs alike); carteira_previa_mudancas also draws the
    entering and leaving names."""
    from b3_assets.analytics import charts

    spec = PREVIEW_TABLES[name]
    for unit in sorted(units, reverse=True):
        found = lake.read_table(partition_prefix(spec.prefix, unit))
        if found is not None and found.num_rows:
            break
    else:
        return {}
    rows = found.to_pylist()
    if name == "carteira_previa":
        return {
            "session": str(unit.day),
            "target_quadrimester": rows[0]["quadrimestre"],
            "origin": rows[0]["origem"],
            "constituents": len(rows),
            "weights_sum_pct": float(sum(r["participacao_pct"] for r in rows)),
        }
    ahead = [r for r in rows if r["comparacao"] == "previa"]
    done = [r for r in rows if r["comparacao"] == "realizada"]
    kinds = Counter(r["tipo_mudanca"] for r in ahead)
    missed = Counter(r["tipo_mudanca"] for r in done)
    out: dict[str, Any] = {
        "session": str(unit.day),
        "target_quadrimester": rows[0]["quadrimestre"],
        "entering": kinds["entrada"],
        "leaving": kinds["saida"],
        "staying": kinds["permanece"],
        "compared_with_portfolio_of": str(ahead[0]["data_carteira"]) if ahead else "none held",
        "forecast_error_checked": bool(done),
    }
    if done:
        out["unforecast_entries"] = missed["entrada"]
        out["forecast_entries_that_did_not_happen"] = missed["saida"]
        out["largest_weight_error_pp"] = float(max(abs(r["variacao_pp"]) for r in done))
    if ahead:
        out["entering_and_leaving_chart"] = _image(
            charts.rebalance_chart(ahead, unit.index, rows[0]["quadrimestre"], unit.day),
            f"{unit.index} preview of {unit.day}",
        )
        out["entries_and_exits"] = dg.MetadataValue.md(
            markdown_table(
                ["change", "ticker", "company", "weight now %", "weight in preview %"],
                [
                    [
                        r["tipo_mudanca"],
                        r["acao"],
                        r["empresa"],
                        r["participacao_antes_pct"],
                        r["participacao_depois_pct"],
                    ]
                    for r in sorted(ahead, key=lambda r: (r["tipo_mudanca"], r["acao"]))
                    if r["tipo_mudanca"] != "permanece"
                ],
            )
        )
    return out
