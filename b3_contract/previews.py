"""Quadrimesters, and which partitions of the preview tables a preview refine rewrites.

B3 rebalances its indices on the first sessions of January, May and September. A preview
captured on a session forecasts the next of those quadrimesters; a quadrimester CSV names its own.
carteira_previa_mudancas compares each preview with the daily portfolio of its session (the latest
captured one up to it) and, once the rebalance's first session is captured, the last preview
before it with the portfolio B3 actually started. Which pairs exist depends on every stored
preview and daily session, so this plan decides them once for both engines (the local DuckDB
refine and the Glue job): the SQL only compares the pairs it is given. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from b3_contract.lake_keys import Unit

START_MONTHS = (1, 5, 9)
COMPARISONS = ("previa", "realizada")


def quadrimester_label(first_day: date) -> str:
    """'2025-09' for the quadrimester that starts on 2025-09-01."""
    if first_day.day != 1 or first_day.month not in START_MONTHS:
        raise ValueError(f"{first_day} is not the first day of a quadrimester (Jan, May or Sep 1)")
    return first_day.strftime("%Y-%m")


def quadrimester_start(label: str) -> date:
    """The first day of '2025-09'; ValueError names anything else."""
    try:
        first = date.fromisoformat(f"{label}-01")
    except ValueError:
        first = None
    if first is None or first.month not in START_MONTHS or len(label) != 7:
        raise ValueError(f"{label!r} is not a quadrimester (YYYY-01, YYYY-05 or YYYY-09)")
    return first


def current_quadrimester(day: date) -> str:
    """The quadrimester `day` lies in."""
    month = max(m for m in START_MONTHS if m <= day.month)
    return quadrimester_label(date(day.year, month, 1))


def next_quadrimester(day: date) -> str:
    """The quadrimester a preview captured on `day` forecasts: the next Jan, May or Sep 1 after
    it (a preview captured in Sep-Dec forecasts January)."""
    later = [m for m in START_MONTHS if m > day.month]
    first = date(day.year, later[0], 1) if later else date(day.year + 1, 1, 1)
    return quadrimester_label(first)


@dataclass(frozen=True, order=True)
class Comparison:
    """One pair carteira_previa_mudancas compares, filed under the preview's session `unit`:
    'previa' (today's portfolio -> the preview) or 'realizada' (the preview -> the portfolio of
    the rebalance's first session)."""

    unit: Unit
    comparison: str
    quadrimester: str
    portfolio_day: date  # the daily portfolio compared: data_carteira


@dataclass(frozen=True)
class PreviewPlan:
    units: tuple[Unit, ...]  # carteira_previa: the run's units, whole
    changes: tuple[Unit, ...]  # carteira_previa_mudancas: the partitions rewritten
    comparisons: tuple[Comparison, ...]  # the pairs those partitions hold
    previews_read: tuple[Unit, ...]  # stored carteira_previa partitions the SQL reads
    daily_read: tuple[Unit, ...]  # daily sessions (carteira) the SQL reads

    def targets(self) -> dict[str, tuple[Unit, ...]]:
        return {"carteira_previa": self.units, "carteira_previa_mudancas": self.changes}


def plan_previews(
    units: Iterable[Unit],
    fresh: Iterable[Unit],
    stored: Mapping[str, Iterable[date]],
    daily: Mapping[str, Iterable[date]],
    first_session: Callable[[str], date | None],
) -> PreviewPlan:
    """The plan for refining preview `units` (index, capture session).

    `fresh`: the run's units whose objects hold a preview now; `stored`: each index's sessions
    with carteira_previa partitions before the run (the run's units among them are replaced);
    `daily`: each index's captured daily sessions; `first_session('2025-09')`: B3's first
    session of a quadrimester, None if the calendar does not reach it.

    Rewritten change lists: the run's units, and for every quadrimester a unit lies in or
    forecasts, its last preview and the one before (a new last preview takes the 'realizada'
    comparison from the old one, and a captured rebalance gives it one).
    """
    run = sorted(set(units))
    if not run:
        raise ValueError("no preview units to plan")
    now = set(fresh)
    if not now <= set(run):
        raise ValueError("fresh previews must be units of the run")
    changes: set[Unit] = set(run)
    comparisons: list[Comparison] = []
    daily_read: set[Unit] = set()
    for index in sorted({unit.index for unit in run}):
        mine = {unit.day for unit in run if unit.index == index}
        previews = sorted(
            (set(stored.get(index, ())) - mine) | {u.day for u in now if u.index == index}
        )
        days = sorted(set(daily.get(index, ())))
        lasts: dict[str, date] = {}
        for quadrimester in sorted(
            {q for day in mine for q in (current_quadrimester(day), next_quadrimester(day))}
        ):
            first = first_session(quadrimester)
            before = [
                d
                for d in previews
                if next_quadrimester(d) == quadrimester and (first is None or d < first)
            ]
            changes.update(Unit(index, d) for d in before[-2:])
            if before:
                lasts[quadrimester] = before[-1]
        for unit in sorted(u for u in changes if u.index == index):
            if unit.day not in previews:
                continue
            quadrimester = next_quadrimester(unit.day)
            held = [d for d in days if d <= unit.day]
            if held:
                comparisons.append(Comparison(unit, "previa", quadrimester, held[-1]))
                daily_read.add(Unit(index, held[-1]))
            first = first_session(quadrimester)
            if lasts.get(quadrimester) == unit.day and first is not None and first in days:
                comparisons.append(Comparison(unit, "realizada", quadrimester, first))
                daily_read.add(Unit(index, first))
    read = {c.unit for c in comparisons} - now
    return PreviewPlan(
        units=tuple(run),
        changes=tuple(sorted(changes)),
        comparisons=tuple(sorted(comparisons)),
        previews_read=tuple(sorted(read)),
        daily_read=tuple(sorted(daily_read)),
    )
