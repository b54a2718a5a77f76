"""The refined rules of one date read from the lake: shared by the refined asset checks and the
catalog, which must refuse bad partitions even in a run without the refine (the Lambda's)."""

from __future__ import annotations

from datetime import date

from b3_assets.defs.resources.interfaces import LakeResource
from b3_assets.refine import quality
from b3_contract.lake_keys import raw_object_key
from b3_contract.tables import TABLES

# The refined rules by table, with their descriptions: the checks' specs.
REFINED_RULES = {
    "ibov_ativos": {
        "rows_match_bronze": "Rows of the date = rows of its bronze file.",
        "required_columns_not_null": "No nulls in the columns the contract requires.",
        "ranking_is_1_to_n": "Ranking is 1..N with no gap or repeat.",
        "cumulative_weight_ends_at_100": "The last cumulative weight is 100.000 (± 0.001).",
    },
    "ibov_header": {
        "required_columns_not_null": "No nulls in the columns the contract requires.",
        "header_has_one_row": "Exactly one header row per date.",
    },
}


def _rows(lake: LakeResource, table: str, day: date) -> list[dict]:
    found = lake.read_table(f"{TABLES[table].prefix}/data={day.isoformat()}/")
    return [] if found is None else found.to_pylist()


def refined_findings(lake: LakeResource, day: date) -> dict[str, list[quality.Finding]] | None:
    """None when the lake has no raw object for the date (nothing was refined for it)."""
    raw = lake.read_table(raw_object_key(day))
    if raw is None:
        return None
    return quality.refined_findings(
        _rows(lake, "ibov_ativos", day), _rows(lake, "ibov_header", day), raw.num_rows
    )
