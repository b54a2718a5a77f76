"""Which partitions of the analytic tables a refine of some units rewrites, and what it must read.

A unit changes more than its own rows: its month of carteira_historico is one file, and the next
captured session of its index now compares with it in carteira_mudancas (a date imported into a
gap changes the change list after it). Both engines (the local DuckDB refine and the Glue job)
follow this one plan. Standard library only: it ships to Glue in b3_contract.zip.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from b3_contract.lake_keys import Month, Unit
from b3_contract.tables import ANALYTIC_TABLES

CARTEIRA_COLUMNS = [
    name for name, _ in ANALYTIC_TABLES["carteira_historico"].columns if name != "mes"
]
"""The view `carteira` the analytic SQL reads: carteira_ativos' columns that
carteira_historico keeps (the fresh refine output and the stored history, alike)."""


@dataclass(frozen=True)
class AnalyticsPlan:
    units: tuple[Unit, ...]  # carteira_concentracao: the run's units
    changes: tuple[Unit, ...]  # carteira_mudancas: the run's units and the session after each
    months: tuple[Month, ...]  # carteira_historico: every month the run touches, whole
    context: tuple[Unit, ...]  # captured units outside the run the SQL reads

    def targets(self) -> dict[str, tuple[Unit, ...] | tuple[Month, ...]]:
        """Each analytic table's partitions this plan rewrites (both engines write these)."""
        return {
            "carteira_historico": self.months,
            "carteira_mudancas": self.changes,
            "carteira_concentracao": self.units,
        }

    @property
    def first_day(self) -> date:
        """The first day the trading sessions must cover: the start of the earliest month read
        (the SQL finds each month's first session, a rebalance in Jan, May and Sep)."""
        first = min(unit.day for unit in (*self.units, *self.context))
        return first.replace(day=1)

    @property
    def last_day(self) -> date:
        return max(unit.day for unit in (*self.units, *self.context, *self.changes))


def plan_analytics(units: Iterable[Unit], captured: Mapping[str, Iterable[date]]) -> AnalyticsPlan:
    """The plan for refining `units`, given every captured date of each index (the dates with
    carteira_ativos partitions, the run's own included or not)."""
    run = sorted(set(units))
    if not run:
        raise ValueError("no units to plan the analytics of")
    months = sorted({Month.of(unit) for unit in run})
    changes, context = set(run), set()
    for index in sorted({unit.index for unit in run}):
        days = sorted(set(captured.get(index, ())) | {u.day for u in run if u.index == index})
        mine = [unit.day for unit in run if unit.index == index]
        for day in mine:
            at = bisect_left(days, day)
            if at > 0:
                context.add(Unit(index, days[at - 1]))  # the session it compares with
            after = bisect_right(days, day)
            if after < len(days):
                nxt = Unit(index, days[after])
                changes.add(nxt)
                context.add(nxt)  # its previous session is a unit of the run
        for month in (m for m in months if m.index == index):
            context.update(Unit(index, d) for d in days if d.strftime("%Y-%m") == month.month)
    return AnalyticsPlan(
        units=tuple(run),
        changes=tuple(sorted(changes)),
        months=tuple(months),
        context=tuple(sorted(context - set(run))),
    )
