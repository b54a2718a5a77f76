"""The rules of b3_assets/refine/quality.py as Dagster asset checks, per (index, trading date).

The chain's step evaluates them where the data is (the bronze file before upload, the refined
rows read back from the lake), reports a verdict per rule and date, and its lake and catalog
stages refuse the units that break a blocking rule. They block there rather than as Dagster
blocking checks, which would stop the whole rest of the step, and with it every other index.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING

import dagster as dg

from b3_assets.defs.partitions import trading_date_partitions
from b3_assets.defs.resources.interfaces import LakeResource
from b3_assets.refine import quality
from b3_assets.source.trading_calendar import trading_days
from b3_contract.lake_keys import Unit, partition_prefix, raw_object_key
from b3_contract.tables import PREVIEW_TABLES, TABLES

if TYPE_CHECKING:
    from b3_assets.defs.assets import ChainRun

# Partitioned checks are a Dagster preview; they are what shows a verdict per trading date.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

BRONZE_RULES = {
    "count_matches_total_records": "Constituents = the page's totalRecords.",
    "weights_sum_to_100": "Σ part = 100.000 (± 0.001: B3's daily total is exact).",
    "quantities_sum_to_header_total": "Σ theoricalQty = the header's theoricalQty.",
    "sector_weights_match_part_acum": "Segment 2: each sector's Σ part = its partAcum.",
    "tickers_unique_and_b3_shaped": "Tickers are unique and shaped like B3 tickers.",
    "header_date_is_partition": "The header date is the partition's trading date.",
}
DRIFT = "day_over_day_drift"
DRIFT_DESCRIPTION = (
    "Warns when tickers enter or leave outside a quadrimester rebalance, or a weight moves "
    f"more than {quality.DRIFT_WEIGHT_POINTS} points, since the index's previous session (only "
    "when that session is captured)."
)
# The refined rules by table, with their descriptions: the checks' specs.
REFINED_RULES = {
    "carteira_ativos": {
        "rows_match_bronze": "Rows of the date = rows of its bronze file.",
        "required_columns_not_null": "No nulls in the columns the contract requires.",
        "ranking_is_1_to_n": "Ranking is 1..N with no gap or repeat.",
        "cumulative_weight_ends_at_100": "The last cumulative weight is 100.000 (± 0.001).",
    },
    "carteira_header": {
        "required_columns_not_null": "No nulls in the columns the contract requires.",
        "header_has_one_row": "Exactly one header row per date.",
    },
}


PREVIEW_RULES = {
    "weights_sum_to_100": (
        "Σ participacao_pct of the preview = 100.000 (± n × 0.0005 for n weights: B3 rounds "
        "each weight to 3 places)."
    ),
    "quantities_positive": "Every theoretical quantity of the preview is positive.",
    "no_repeated_ticker": "No ticker appears twice in one preview.",
}
"""carteira_previa's rules, per (index, capture session). They judge a forecast: a failure is
reported, and nothing is refused."""


def chain_check_specs(indices: Sequence[str]) -> list[dg.AssetCheckSpec]:
    """Every rule of every index, on the asset it judges."""
    rules = {
        "portfolio_bronze": {**BRONZE_RULES, DRIFT: DRIFT_DESCRIPTION},
        **REFINED_RULES,
        "carteira_previa": PREVIEW_RULES,
    }
    return [
        dg.AssetCheckSpec(
            name,
            asset=dg.AssetKey([index, asset]),
            description=text,
            partitions_def=trading_date_partitions,
        )
        for index in indices
        for asset, by_name in rules.items()
        for name, text in by_name.items()
    ]


def _verdict(finding: quality.Finding) -> dict:
    return {"passed": finding.passed, "description": finding.message, "metadata": finding.figures}


def report(
    run: ChainRun,
    asset: dg.AssetKey,
    rules: Mapping[str, str],
    findings: Mapping[date, list[quality.Finding]],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> Iterator[dg.AssetCheckResult]:
    """One result per rule for the step; in a range, one evaluation per rule and date too."""
    op_context = run.context.op_execution_context
    single = op_context.has_partition_key
    for rule in rules:
        verdicts = {
            day: finding
            for day, found in findings.items()
            for finding in found
            if finding.rule == rule
        }
        common = {"asset_key": asset, "check_name": rule, "severity": severity}
        if single and len(verdicts) == 1:
            yield dg.AssetCheckResult(**common, **_verdict(next(iter(verdicts.values()))))
            continue
        for day, finding in sorted(verdicts.items()):
            op_context.log_event(
                dg.AssetCheckEvaluation(**common, **_verdict(finding), partition=day.isoformat())
            )
        bad = {str(day): f.message for day, f in sorted(verdicts.items()) if not f.passed}
        yield dg.AssetCheckResult(
            **common,
            passed=not bad,
            description="; ".join(f"{day}: {message}" for day, message in bad.items())
            or f"passed on {len(verdicts)} date(s)",
            metadata={"dates_checked": len(verdicts), "dates_failed": list(bad)},
        )


def session_before(day: date) -> date | None:
    """The B3 session before `day` (None at the calendar's start)."""
    earlier = trading_days(day - timedelta(days=15), day - timedelta(days=1))
    return earlier[-1] if earlier else None


def drift_findings(
    captured: set[date],
    response_of: Callable[[Unit], dict],
    index: str,
    dates: Sequence[date],
) -> dict[date, list[quality.Finding]]:
    """Each captured date (`captured`: the index's dates with a bronze file) against the same
    index's previous session, when that is captured."""
    weights = cache(lambda day: quality.weights(response_of(Unit(index, day))))
    findings = {}
    for day in dates:
        if day not in captured:
            continue
        before = session_before(day)
        previous = (before, weights(before)) if before in captured else None
        findings[day] = [quality.drift_finding(previous, (day, weights(day)))]
    return findings


def _rows(lake: LakeResource, table: str, unit: Unit) -> list[dict]:
    found = lake.read_table(partition_prefix(TABLES[table].prefix, unit))
    return [] if found is None else found.to_pylist()


def preview_findings(lake: LakeResource, unit: Unit) -> list[quality.Finding] | None:
    """None when the unit has no carteira_previa rows (no preview served that session)."""
    found = lake.read_table(partition_prefix(PREVIEW_TABLES["carteira_previa"].prefix, unit))
    return None if found is None else quality.preview_findings(found.to_pylist())


def refined_findings(lake: LakeResource, unit: Unit) -> dict[str, list[quality.Finding]] | None:
    """None when the lake has no raw object for the unit (nothing was refined for it)."""
    raw = lake.read_table(raw_object_key(unit))
    if raw is None:
        return None
    return quality.refined_findings(
        _rows(lake, "carteira_ativos", unit), _rows(lake, "carteira_header", unit), raw.num_rows
    )
