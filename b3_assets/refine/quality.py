"""Data-quality rules of one trading date, as pure functions over B3's response and the refined
rows. The Dagster asset checks (defs/checks.py) only load the data and report these findings.

Every rule reads leniently (a malformed value is a failed finding, never an exception), because
the rules exist for the data that got past the parser: CSV imports, hand edits, a changed B3.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from b3_assets.source.models import parse_b3_date, parse_br_decimal, parse_br_integer, parse_ticker
from b3_contract.origins import TIMED

# The daily portfolio's weights sum to B3's exact total: 100.000 on every real day.
WEIGHT_TOLERANCE = Decimal("0.001")
# B3 rounds each weight to 3 places, so each is off by at most half a thousandth: where nothing
# else makes the total exact (previews, theoretical answers, quadrimester files), n weights may sum
# to 100 ± n × 0.0005.
ROUNDING_PER_WEIGHT = Decimal("0.0005")
# Day-over-day drift: a weight moving more than this (percentage points) is worth a look.
DRIFT_WEIGHT_POINTS = Decimal("1.000")
REBALANCE_MONTHS = (1, 5, 9)  # the portfolio is renewed at each quadrimester

# Columns of the refined tables that the contract never leaves null.
REQUIRED = {
    "carteira_ativos": (
        "indice",
        "empresa",
        "tipo",
        "classe",
        "participacao_pct",
        "qtd_teorica",
        "ranking",
        "participacao_acumulada_pct",
        "dias_desde_rebalanceamento",
        "origem",
        "data",
        "acao",
    ),
    "carteira_header": (
        "indice",
        "data_carteira",
        "qtd_teorica_total",
        "participacao_total_pct",
        "total_ativos",
        "origem",
        "data",
    ),
}

T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    """One rule's verdict on one date, with the figures that decided it."""

    rule: str
    passed: bool
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


def _read(parse: Callable[[str], T], text: Any) -> T | None:
    try:
        return parse(text)
    except (ValueError, TypeError):
        return None


def _unreadable(rule: str, what: str, bad: list[Any]) -> Finding:
    return Finding(
        rule, False, f"{len(bad)} unreadable {what}: {bad[:5]}", {"unreadable": bad[:20]}
    )


def rounding_bound(rows: int) -> Decimal:
    """How far from 100 the sum of `rows` weights that B3 rounded to 3 places can be, by the
    rounding alone: `rows` × 0.0005, exactly (a sum that far off still passes)."""
    return rows * ROUNDING_PER_WEIGHT


# ---------------------------------------------------------------- bronze: B3's response


def bronze_findings(response: dict[str, Any], day: date) -> list[Finding]:
    """The invariants that held on every real B3 day (tests/fixtures/b3/README.md), for `day`'s
    file."""
    page = response.get("page") or {}
    header = response.get("header") or {}
    results = response.get("results") or []
    return [
        _count_matches(page, results),
        _weights_sum_to_100(results),
        _quantities_sum_to_header(header, results),
        _sectors_sum_to_part_acum(results),
        _tickers_unique_and_shaped(results),
        _header_date_is(header, day),
    ]


def _count_matches(page: dict[str, Any], results: list[dict[str, Any]]) -> Finding:
    expected, count = page.get("totalRecords"), len(results)
    return Finding(
        "count_matches_total_records",
        count == expected and count > 0,
        f"{count} constituents, B3 announced totalRecords={expected}",
        {"rows": count, "total_records": expected},
    )


def _weights_sum_to_100(results: list[dict[str, Any]]) -> Finding:
    rule = "weights_sum_to_100"
    weights = [_read(parse_br_decimal, row.get("part")) for row in results]
    bad = [row.get("part") for row, w in zip(results, weights, strict=True) if w is None]
    if bad:
        return _unreadable(rule, "weights", bad)
    total = sum(weights, Decimal(0))
    return Finding(
        rule,
        abs(total - 100) <= WEIGHT_TOLERANCE,
        f"the weights sum to {total} (100 ± {WEIGHT_TOLERANCE} expected)",
        {"sum_part": float(total)},
    )


def _quantities_sum_to_header(header: dict[str, Any], results: list[dict[str, Any]]) -> Finding:
    rule = "quantities_sum_to_header_total"
    quantities = [_read(parse_br_integer, row.get("theoricalQty")) for row in results]
    bad = [row.get("theoricalQty") for row, q in zip(results, quantities, strict=True) if q is None]
    expected = _read(parse_br_integer, header.get("theoricalQty"))
    if expected is None:
        bad.append(header.get("theoricalQty"))
    if bad:
        return _unreadable(rule, "theoretical quantities", bad)
    total = sum(q for q in quantities if q is not None)
    return Finding(
        rule,
        total == expected,
        f"the theoretical quantities sum to {total:,}, the header says {expected:,}",
        {"sum_theorical_qty": total, "header_theorical_qty": expected},
    )


def _sectors_sum_to_part_acum(results: list[dict[str, Any]]) -> Finding:
    """Segment 2 only: each sector's weights add up to the partAcum every row of it carries."""
    rule = "sector_weights_match_part_acum"
    if not any(row.get("segment") for row in results):
        return Finding(rule, True, "segment 1 response: no sectors to check", {"sectors": 0})
    sums: dict[str, Decimal] = defaultdict(Decimal)
    announced: dict[str, set[Decimal | None]] = defaultdict(set)
    for row in results:
        sector = row.get("segment") or "(none)"
        sums[sector] += _read(parse_br_decimal, row.get("part")) or Decimal(0)
        announced[sector].add(_read(parse_br_decimal, row.get("partAcum")))
    wrong = {
        sector: {"sum_part": str(sums[sector]), "part_acum": sorted(map(str, values))}
        for sector, values in announced.items()
        if len(values) != 1
        or None in values
        or abs(sums[sector] - next(iter(values))) > WEIGHT_TOLERANCE  # type: ignore[operator]
    }
    return Finding(
        rule,
        not wrong,
        f"{len(wrong)} of {len(sums)} sectors do not add up to their partAcum"
        + (f": {sorted(wrong)[:5]}" if wrong else ""),
        {"sectors": len(sums), "sectors_wrong": wrong},
    )


def _tickers_unique_and_shaped(results: list[dict[str, Any]]) -> Finding:
    tickers = [row.get("cod") for row in results]
    seen: set[Any] = set()
    repeated = sorted({str(t) for t in tickers if t in seen or seen.add(t)})
    malformed = [t for t in tickers if _read(parse_ticker, t) is None]
    problems = []
    if repeated:
        problems.append(f"repeated {repeated[:5]}")
    if malformed:
        problems.append(f"not shaped like B3 tickers {malformed[:5]}")
    return Finding(
        "tickers_unique_and_b3_shaped",
        not problems,
        "; ".join(problems) or f"{len(tickers)} distinct B3 tickers",
        {"tickers": len(tickers), "repeated": repeated[:20], "malformed": malformed[:20]},
    )


def _header_date_is(header: dict[str, Any], day: date) -> Finding:
    text = header.get("date")
    served = _read(parse_b3_date, text)
    return Finding(
        "header_date_is_partition",
        served == day,
        f"the header date {text!r} is {served}, the partition is {day}",
        {"header_date": str(text), "partition": day.isoformat()},
    )


# ---------------------------------------------------------------- refined: the tables as written


def refined_findings(
    ativos: list[dict[str, Any]], header: list[dict[str, Any]], bronze_rows: int
) -> dict[str, list[Finding]]:
    """The refined rows of one date against the bronze file they came from, by table."""
    return {
        "carteira_ativos": [
            Finding(
                "rows_match_bronze",
                len(ativos) == bronze_rows,
                f"carteira_ativos has {len(ativos)} rows, the bronze file {bronze_rows}",
                {"rows": len(ativos), "bronze_rows": bronze_rows},
            ),
            _no_nulls("carteira_ativos", ativos),
            _ranking_is_dense(ativos),
            _cumulative_weight_ends_at_100(ativos),
        ],
        "carteira_header": [
            _no_nulls("carteira_header", header),
            Finding(
                "header_has_one_row",
                len(header) == 1,
                f"carteira_header has {len(header)} row(s) for the date",
                {"header_rows": len(header)},
            ),
        ],
    }


def _no_nulls(table: str, rows: list[dict[str, Any]]) -> Finding:
    """The contract's required columns, and the capture time wherever it is known (every row
    fetched from the API, and the offline sample's: only a CSV import has none)."""
    nulls = {
        column: count
        for column in REQUIRED[table]
        if (count := sum(row.get(column) is None for row in rows))
    }
    if count := sum(row.get("origem") in TIMED and row.get("data_coleta") is None for row in rows):
        nulls["data_coleta"] = count
    return Finding(
        "required_columns_not_null",
        not nulls,
        f"nulls in required columns of {table}: {nulls}" if nulls else "no nulls",
        {"null_counts": nulls, "rows": len(rows)},
    )


def _ranking_is_dense(ativos: list[dict[str, Any]]) -> Finding:
    ranks = sorted(r for row in ativos if (r := row.get("ranking")) is not None)
    expected = list(range(1, len(ativos) + 1))
    missing = sorted(set(expected) - set(ranks))
    return Finding(
        "ranking_is_1_to_n",
        ranks == expected,
        f"rankings 1..{len(ativos)} expected; missing {missing[:10]}, "
        f"repeated {len(ranks) - len(set(ranks))}",
        {"rows": len(ativos), "missing": missing[:20], "max_ranking": max(ranks, default=None)},
    )


def _cumulative_weight_ends_at_100(ativos: list[dict[str, Any]]) -> Finding:
    rule = "cumulative_weight_ends_at_100"
    last = max(ativos, key=lambda row: row.get("ranking") or 0, default=None)
    final = None if last is None else last.get("participacao_acumulada_pct")
    if final is None:
        return Finding(rule, False, "no cumulative weight to check", {"final_cumulative": None})
    final = Decimal(str(final))
    return Finding(
        rule,
        abs(final - 100) <= WEIGHT_TOLERANCE,
        f"the cumulative weight of the last-ranked constituent is {final}",
        {"final_cumulative": float(final)},
    )


# ---------------------------------------------------------------- warnings: freshness and drift


def preview_findings(rows: list[dict[str, Any]]) -> list[Finding]:
    """The preview's rules on one (index, capture session) of carteira_previa: a forecast is
    still a portfolio, so its weights sum to 100 (within B3's rounding of each weight: a
    preview's total is not exact, `rounding_bound`), every quantity is positive, no ticker
    twice."""
    weights = [row.get("participacao_pct") for row in rows]
    total = sum((w for w in weights if w is not None), Decimal(0))
    missing = sum(w is None for w in weights)
    not_positive = sorted(
        str(row.get("acao")) for row in rows if not (row.get("qtd_teorica") or 0) > 0
    )
    seen: set[Any] = set()
    repeated = sorted(
        {str(r.get("acao")) for r in rows if r.get("acao") in seen or seen.add(r.get("acao"))}
    )
    bound = rounding_bound(len(rows))
    return [
        Finding(
            "weights_sum_to_100",
            bool(rows) and not missing and abs(total - 100) <= bound,
            f"{len(rows)} weights sum to {total} (100 ± {bound.normalize():f} expected: "
            f"{len(rows)} weights rounded to 3 places)"
            + (f"; {missing} missing" if missing else ""),
            {"sum_participacao_pct": float(total), "rows": len(rows), "bound": float(bound)},
        ),
        Finding(
            "quantities_positive",
            bool(rows) and not not_positive,
            f"quantity missing or not positive: {not_positive[:5]}"
            if not_positive
            else f"{len(rows)} positive theoretical quantities",
            {"not_positive": not_positive[:20]},
        ),
        Finding(
            "no_repeated_ticker",
            not repeated,
            f"repeated tickers: {repeated[:5]}" if repeated else f"{len(rows)} distinct tickers",
            {"repeated": repeated[:20]},
        ),
    ]


def freshness_finding(newest: date | None, previous_session: date) -> Finding:
    """Warns when nothing has been captured for the last B3 session before today."""
    return Finding(
        "fresh",
        newest is not None and newest >= previous_session,
        f"newest captured trading date {newest}, previous B3 session {previous_session}",
        {"newest_captured": str(newest), "previous_session": previous_session.isoformat()},
    )


def crosses_rebalance(before: date, after: date) -> bool:
    """Whether a quadrimester start (Jan 1, May 1, Sep 1) falls in (before, after]."""
    starts = (date(y, m, 1) for y in range(before.year, after.year + 1) for m in REBALANCE_MONTHS)
    return any(before < start <= after for start in starts)


def weights(response: dict[str, Any]) -> dict[str, Decimal]:
    return {
        row["cod"]: weight
        for row in response.get("results") or []
        if (weight := _read(parse_br_decimal, row.get("part"))) is not None
    }


def drift_finding(
    previous: tuple[date, dict[str, Decimal]] | None,
    current: tuple[date, dict[str, Decimal]],
    threshold: Decimal = DRIFT_WEIGHT_POINTS,
) -> Finding:
    """Warns on tickers entering or leaving outside a rebalance and on large weight moves since
    `previous`: the same index's previous session, or None when that session is not captured
    (comparing across a gap would flag every change of the gap as one day's drift)."""
    rule = "day_over_day_drift"
    day, now = current
    if previous is None:
        return Finding(
            rule,
            True,
            f"the session before {day} is not captured: no day-over-day comparison",
            {"compared_with": None},
        )
    before_day, before = previous
    rebalance = crosses_rebalance(before_day, day)
    entered, left = sorted(set(now) - set(before)), sorted(set(before) - set(now))
    moves = {
        ticker: float(now[ticker] - before[ticker])
        for ticker in sorted(set(now) & set(before))
        if abs(now[ticker] - before[ticker]) > threshold
    }
    problems = []
    if (entered or left) and not rebalance:
        problems.append(f"entered {entered} and left {left} outside a rebalance")
    if moves:
        problems.append(f"{len(moves)} weight(s) moved more than {threshold} points: {moves}")
    return Finding(
        rule,
        not problems,
        "; ".join(problems)
        or f"{len(entered)} entered, {len(left)} left, no weight moved over {threshold} points",
        {
            "compared_with": before_day.isoformat(),
            "rebalance_between": rebalance,
            "entered": entered,
            "left": left,
            "moves_over_threshold": moves,
        },
    )


def failed(findings: Iterable[Finding]) -> list[Finding]:
    return [finding for finding in findings if not finding.passed]
