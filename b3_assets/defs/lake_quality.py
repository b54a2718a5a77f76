"""The refined rules of one (index, date) read from the lake: shared by the refined asset checks
and the catalog, which must refuse bad partitions even in a run without the refine (the
Lambda's)."""

from __future__ import annotations

from b3_assets.defs.resources.interfaces import LakeResource
from b3_assets.refine import quality
from b3_contract.lake_keys import Unit, partition_prefix, raw_object_key
from b3_contract.tables import TABLES

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


def _rows(lake: LakeResource, table: str, unit: Unit) -> list[dict]:
    found = lake.read_table(partition_prefix(TABLES[table].prefix, unit))
    return [] if found is None else found.to_pylist()


def refined_findings(lake: LakeResource, unit: Unit) -> dict[str, list[quality.Finding]] | None:
    """None when the lake has no raw object for the unit (nothing was refined for it)."""
    raw = lake.read_table(raw_object_key(unit))
    if raw is None:
        return None
    return quality.refined_findings(
        _rows(lake, "carteira_ativos", unit), _rows(lake, "carteira_header", unit), raw.num_rows
    )
