"""The refined rules of one date read from the lake: shared by the refined asset checks and the
catalog, which must refuse bad partitions even in a run without the refine (the Lambda's)."""

from __future__ import annotations

from datetime import date

from b3_assets import quality
from b3_assets.defs.resources.interfaces import LakeResource, raw_object_key
from b3_assets.refine import TABLES


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
