"""The freshness check: it runs on its own (freshness_schedule), since a check that ran only
inside capture runs could not notice that the captures stopped. The rules on the data run inside
the chain's step (b3_assets/defs/lake_quality.py)."""

from collections.abc import Iterator, Sequence
from datetime import date

import dagster as dg

from b3_assets.defs.assets import LAKE, asset_key
from b3_assets.defs.resources import LakeResource
from b3_assets.refine import quality
from b3_assets.source.trading_calendar import previous_session
from b3_contract.lake_keys import RAW_PREFIX, raw_key_unit


def build_checks(indices: Sequence[str]) -> list[dg.AssetChecksDefinition]:
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
        checked = context.op_execution_context.selected_asset_check_keys
        for index in sorted({key.asset_key.path[0] for key in checked}):
            finding = quality.freshness_finding(newest.get(index), expected)
            yield dg.AssetCheckResult(
                asset_key=asset_key(index, LAKE),
                check_name="fresh",
                passed=finding.passed,
                severity=dg.AssetCheckSeverity.WARN,
                description=finding.message,
                metadata=finding.figures,
            )

    return [freshness_checks]
