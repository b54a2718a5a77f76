"""What a unit's refined partitions were built from, so a re-run of unchanged data writes nothing.

After a daily refine writes and registers a unit, the job puts one small JSON object per unit at
`manifests/refine/INDEX/YYYY-MM-DD.json` (outside `refined/`, so no table, crawler, Spark listing
or Athena query reads it, and `refined/` holds only Parquet; the job role may read, write and list
that prefix). It records the
contract version (`contract_version`: a digest of the SQL as deployed, the tables' contract and
B3's sessions) and the ETag of every raw object the unit's partitions read (`unit_inputs`: its own,
and those of the captured sessions its analytics read: the session before, the session after,
whose change list it rewrites, and the other dates of its month file). A later run skips the unit
only when the manifest holds the same version and the same inputs, and the unit still has its
carteira_ativos partition: anything else (no manifest, a replaced neighbour, a new session
captured in a gap, a SQL change) refines it. Standard library only: it ships in b3_contract.zip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from b3_contract import sessions_data
from b3_contract.analytics import plan_analytics
from b3_contract.lake_keys import Unit
from b3_contract.tables import PORTFOLIO_TABLES

MANIFEST_PREFIX = "manifests/refine/"
MANIFEST_FORMAT = 1


def manifest_key(unit: Unit) -> str:
    """Where a unit's manifest lives: manifests/refine/IBOV/2025-07-14.json."""
    return f"{MANIFEST_PREFIX}{unit.index}/{unit.day.isoformat()}.json"


def contract_version(sql: Mapping[str, str]) -> str:
    """A digest of what decides a daily refine's output besides the raw objects: the SQL texts
    the job runs (as deployed), the tables' contract (names, columns, types, partitions, folders)
    and B3's sessions the analytics count. The same inputs give the same digest every time."""
    tables = {
        name: {
            "sql_file": table.sql_file,
            "prefix": table.prefix,
            "columns": [list(column) for column in table.columns],
            "partition_by": list(table.partition_by),
            "key": list(table.key),
        }
        for name, table in sorted(PORTFOLIO_TABLES.items())
    }
    payload = {
        "format": MANIFEST_FORMAT,
        "sql": dict(sorted(sql.items())),
        "tables": tables,
        "sessions": [
            sessions_data.FIRST_DAY,
            sessions_data.LAST_DAY,
            sorted(sessions_data.NON_SESSION_WEEKDAYS),
        ],
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def unit_inputs(
    unit: Unit, captured: Mapping[str, Iterable[date]], raw_etags: Mapping[Unit, str]
) -> dict[str, str | None]:
    """{unit: its raw object's ETag (None: no object)} for the unit and every captured session
    its partitions read (b3_contract.analytics.plan_analytics of the unit alone)."""
    plan = plan_analytics([unit], captured)
    return {str(u): raw_etags.get(u) for u in sorted({unit, *plan.context})}


def manifest(
    unit: Unit, version: str, inputs: Mapping[str, str | None], rows: Mapping[str, int]
) -> dict[str, Any]:
    """The manifest body: what the unit was built from, and its rows per table (what a run that
    skips it reports)."""
    return {
        "format": MANIFEST_FORMAT,
        "unit": str(unit),
        "contract_version": version,
        "inputs": dict(sorted(inputs.items())),
        "rows": dict(sorted(rows.items())),
    }


def unchanged(
    recorded: Mapping[str, Any] | None, version: str, inputs: Mapping[str, str | None]
) -> bool:
    """Whether a recorded manifest says the unit was built from exactly these inputs with this
    contract version (no manifest, or any other format, is a change)."""
    if not recorded or recorded.get("format") != MANIFEST_FORMAT:
        return False
    return recorded.get("contract_version") == version and recorded.get("inputs") == dict(inputs)
