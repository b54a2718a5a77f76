"""Asset checks: the rules of b3_assets/refine/quality.py, evaluated per (index, trading date).

The bronze and refined rules block: a unit whose bronze file breaks one never reaches the lake
(the lake stage refuses it, so neither the Lambda nor the refine sees it), and refined rows that
break one are not registered in the catalog (the catalog stage refuses them). They block there, in
the stage that would pass the data on, rather than as Dagster blocking checks, because a failed
Dagster blocking check stops the whole next step, and with it every other index of the run. These
checks show each index's and date's verdict in the UI. Freshness and drift only warn.

A single-run backfill is one step for many dates, so besides the step's own result every date
gets its own evaluation, so the UI shows each partition's verdict.
"""

import warnings
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from functools import cache

import dagster as dg

from b3_assets.defs.assets import BRONZE, LAKE, asset_key
from b3_assets.defs.lake_quality import REFINED_RULES, refined_findings
from b3_assets.defs.partitions import partition_dates, trading_date_partitions
from b3_assets.defs.resources import CaptureStoreResource, LakeResource
from b3_assets.refine import quality
from b3_assets.source.trading_calendar import previous_session, trading_days
from b3_contract.lake_keys import RAW_PREFIX, Unit, raw_key_unit

# Partitioned checks are a Dagster preview; they are what shows a verdict per trading date.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

BRONZE_RULES = {
    "count_matches_total_records": "Constituents = the page's totalRecords.",
    "weights_sum_to_100": "Σ part = 100.000 (± 0.001).",
    "quantities_sum_to_header_total": "Σ theoricalQty = the header's theoricalQty.",
    "sector_weights_match_part_acum": "Segment 2: each sector's Σ part = its partAcum.",
    "tickers_unique_and_b3_shaped": "Tickers are unique and shaped like B3 tickers.",
    "header_date_is_partition": "The header date is the partition's trading date.",
}
DRIFT = "day_over_day_drift"


def _specs(indices: Sequence[str], asset: str, rules: Mapping[str, str]):
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset_key(index, asset),
            description=text,
            partitions_def=trading_date_partitions,
        )
        for index in indices
        for name, text in rules.items()
    ]


def _verdict(finding: quality.Finding) -> dict:
    return {"passed": finding.passed, "description": finding.message, "metadata": finding.figures}


def _report(
    context: dg.AssetCheckExecutionContext,
    asset: dg.AssetKey,
    rules: Mapping[str, str],
    findings: Mapping[date, list[quality.Finding]],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> Iterator[dg.AssetCheckResult]:
    """One result per rule for the step; in a range, one evaluation per rule and date too."""
    op_context = context.op_execution_context
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


def _checked_indices(context: dg.AssetCheckExecutionContext) -> list[str]:
    keys = context.op_execution_context.selected_asset_check_keys
    return sorted({key.asset_key.path[0] for key in keys})


def session_before(day: date) -> date | None:
    """The B3 session before `day` (None at the calendar's start)."""
    earlier = trading_days(day - timedelta(days=15), day - timedelta(days=1))
    return earlier[-1] if earlier else None


def build_checks(indices: Sequence[str]) -> list[dg.AssetChecksDefinition]:
    @dg.multi_asset_check(
        specs=_specs(indices, BRONZE, BRONZE_RULES),
        name="bronze_checks",
        can_subset=True,
    )
    def bronze_checks(
        context: dg.AssetCheckExecutionContext, capture_store: CaptureStoreResource
    ) -> Iterator[dg.AssetCheckResult]:
        """B3's invariants on each unit's bronze file, before it is uploaded to the lake."""
        for index in _checked_indices(context):
            findings = {
                day: quality.bronze_findings(capture_store.bronze_response(Unit(index, day)), day)
                for day in partition_dates(context)  # type: ignore[arg-type]
                if capture_store.has_bronze(Unit(index, day))
            }
            yield from _report(context, asset_key(index, BRONZE), BRONZE_RULES, findings)

    @dg.multi_asset_check(
        specs=[
            spec for name, rules in REFINED_RULES.items() for spec in _specs(indices, name, rules)
        ],
        name="refined_checks",
        can_subset=True,
    )
    def refined_checks(
        context: dg.AssetCheckExecutionContext, lake: LakeResource
    ) -> Iterator[dg.AssetCheckResult]:
        """The refined rows of each unit, read back from the lake, against its raw object."""
        wanted = context.op_execution_context.selected_asset_check_keys
        for index in _checked_indices(context):
            findings: dict[str, dict[date, list[quality.Finding]]] = {n: {} for n in REFINED_RULES}
            for day in partition_dates(context):  # type: ignore[arg-type]
                for name, found in (refined_findings(lake, Unit(index, day)) or {}).items():
                    findings[name][day] = found
            for name, rules in REFINED_RULES.items():
                key = asset_key(index, name)
                mine = {r: t for r, t in rules.items() if dg.AssetCheckKey(key, r) in wanted}
                yield from _report(context, key, mine, findings[name])

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                DRIFT,
                asset=asset_key(index, BRONZE),
                description=(
                    "Warns when tickers enter or leave outside a quadrimester rebalance, or a "
                    f"weight moves more than {quality.DRIFT_WEIGHT_POINTS} points, since the "
                    "index's previous session (only when that session is captured)."
                ),
                partitions_def=trading_date_partitions,
            )
            for index in indices
        ],
        name="drift_checks",
        can_subset=True,
    )
    def drift_checks(
        context: dg.AssetCheckExecutionContext, capture_store: CaptureStoreResource
    ) -> Iterator[dg.AssetCheckResult]:
        for index in _checked_indices(context):
            captured = set(capture_store.bronze_dates(index))
            weights = cache(
                lambda day, index=index: quality.weights(
                    capture_store.bronze_response(Unit(index, day))
                )
            )
            findings = {}
            for day in partition_dates(context):  # type: ignore[arg-type]
                if day not in captured:
                    continue
                before = session_before(day)
                previous = (before, weights(before)) if before in captured else None
                findings[day] = [quality.drift_finding(previous, (day, weights(day)))]
            yield from _report(
                context,
                asset_key(index, BRONZE),
                {DRIFT: ""},
                findings,
                dg.AssetCheckSeverity.WARN,
            )

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                "fresh",
                asset=asset_key(index, LAKE),
                description="Warns when the lake has no raw object of the index for the "
                "previous B3 session.",
            )
            for index in indices
        ],
        name="freshness_checks",
        can_subset=True,
    )
    def freshness_checks(
        context: dg.AssetCheckExecutionContext, lake: LakeResource
    ) -> Iterator[dg.AssetCheckResult]:
        newest: dict[str, date] = {}
        for item in lake.list_objects(RAW_PREFIX):
            unit = raw_key_unit(item.key)
            if unit and unit.day > newest.get(unit.index, date.min):
                newest[unit.index] = unit.day
        expected = previous_session()
        for index in _checked_indices(context):
            finding = quality.freshness_finding(newest.get(index), expected)
            yield dg.AssetCheckResult(
                asset_key=asset_key(index, LAKE),
                check_name="fresh",
                passed=finding.passed,
                severity=dg.AssetCheckSeverity.WARN,
                description=finding.message,
                metadata=finding.figures,
            )

    return [bronze_checks, refined_checks, drift_checks, freshness_checks]
