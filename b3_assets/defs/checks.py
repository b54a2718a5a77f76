"""Asset checks: the rules of b3_assets/quality.py, evaluated per trading-date partition.

The bronze and refined checks block: a date whose bronze file breaks an invariant never reaches
the lake (so neither the Lambda nor the refine sees it), and refined tables that break one are not
registered in the catalog. Freshness and drift only warn.

A single-run backfill is one step for many dates, so besides the step's own result (which is
what blocks) every date gets its own evaluation, so the UI shows each partition's verdict.
"""

import warnings
from collections.abc import Iterator, Mapping
from datetime import date
from functools import cache

import dagster as dg

from b3_assets.defs.assets import ibov_lake_raw_object, ibov_portfolio_bronze
from b3_assets.defs.lake_quality import REFINED_RULES, refined_findings
from b3_assets.defs.partitions import partition_dates, trading_date_partitions
from b3_assets.defs.resources import CaptureStoreResource, LakeResource
from b3_assets.refine import quality
from b3_assets.source.trading_calendar import previous_session
from b3_contract.lake_keys import RAW_PREFIX, raw_key_date

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


def _specs(asset: str | dg.AssetsDefinition, rules: Mapping[str, str], blocking: bool):
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset,
            description=text,
            blocking=blocking,
            partitions_def=trading_date_partitions,
        )
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


@dg.multi_asset_check(
    specs=_specs("ibov_portfolio_bronze", BRONZE_RULES, blocking=True),
    name="ibov_bronze_checks",
    can_subset=False,
)
def ibov_bronze_checks(
    context: dg.AssetCheckExecutionContext, capture_store: CaptureStoreResource
) -> Iterator[dg.AssetCheckResult]:
    """B3's invariants on each date's bronze file, before it is uploaded to the lake."""
    findings = {
        day: quality.bronze_findings(capture_store.bronze_response(day), day)
        for day in partition_dates(context)  # type: ignore[arg-type]
        if capture_store.has_bronze(day)
    }
    yield from _report(context, dg.AssetKey("ibov_portfolio_bronze"), BRONZE_RULES, findings)


@dg.multi_asset_check(
    specs=[
        spec for name, rules in REFINED_RULES.items() for spec in _specs(name, rules, blocking=True)
    ],
    name="ibov_refined_checks",
    can_subset=False,
)
def ibov_refined_checks(
    context: dg.AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[dg.AssetCheckResult]:
    """The refined rows of each date, read back from the lake, against its raw object."""
    findings: dict[str, dict[date, list[quality.Finding]]] = {name: {} for name in REFINED_RULES}
    for day in partition_dates(context):  # type: ignore[arg-type]
        by_table = refined_findings(lake, day)
        for name, found in (by_table or {}).items():
            findings[name][day] = found
    for name, rules in REFINED_RULES.items():
        yield from _report(context, dg.AssetKey(name), rules, findings[name])


@dg.asset_check(
    asset=ibov_portfolio_bronze,
    name="day_over_day_drift",
    description=(
        "Warns when tickers enter or leave outside a quadrimester rebalance, or a weight moves "
        f"more than {quality.DRIFT_WEIGHT_POINTS} points since the previous captured date."
    ),
    partitions_def=trading_date_partitions,
)
def ibov_drift_check(
    context: dg.AssetCheckExecutionContext, capture_store: CaptureStoreResource
) -> Iterator[dg.AssetCheckResult]:
    captured = capture_store.bronze_dates()
    weights = cache(lambda day: quality.weights(capture_store.bronze_response(day)))
    findings = {}
    for day in partition_dates(context):  # type: ignore[arg-type]
        if day not in captured:
            continue
        earlier = [d for d in captured if d < day]
        previous = (earlier[-1], weights(earlier[-1])) if earlier else None
        findings[day] = [quality.drift_finding(previous, (day, weights(day)))]
    yield from _report(
        context,
        ibov_portfolio_bronze.key,
        {"day_over_day_drift": ""},
        findings,
        dg.AssetCheckSeverity.WARN,
    )


@dg.asset_check(
    asset=ibov_lake_raw_object,
    name="fresh",
    description="Warns when the lake has no raw object for the previous B3 session.",
)
def ibov_freshness_check(lake: LakeResource) -> dg.AssetCheckResult:
    dates = [d for item in lake.list_objects(RAW_PREFIX) if (d := raw_key_date(item.key))]
    finding = quality.freshness_finding(max(dates, default=None), previous_session())
    return dg.AssetCheckResult(
        passed=finding.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=finding.message,
        metadata=finding.figures,
    )


ALL_CHECKS = [ibov_bronze_checks, ibov_refined_checks, ibov_drift_check, ibov_freshness_check]
