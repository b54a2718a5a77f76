"""The bronze layer: the whole response as one Parquet file per index and trading date, B3's
strings untouched plus ingestion columns, readable back into the original object.

  bronze/INDEX/YYYY-MM-DD/dados_originais.parquet
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from b3_assets.capture.files import write_parquet
from b3_assets.capture.raw import Capture, date_lock, partition_dir, raw_json_path, read_capture
from b3_contract.lake_keys import RAW_FILE, check_index

BRONZE_FILE = RAW_FILE  # uploaded as it is: the lake's raw object

# Bronze column -> (JSON section, JSON key). Values stay B3's original strings.
PAGE_COLUMNS = {
    "page_number": "pageNumber",
    "page_size": "pageSize",
    "total_records": "totalRecords",
    "total_pages": "totalPages",
}
HEADER_COLUMNS = {
    "header_date": "date",
    "header_text": "text",
    "header_part": "part",
    "header_part_acum": "partAcum",
    "header_text_reductor": "textReductor",
    "header_reductor": "reductor",
    "header_theorical_qty": "theoricalQty",
}
RESULT_COLUMNS = {
    "segment": "segment",
    "cod": "cod",
    "asset": "asset",
    "type": "type",
    "part": "part",
    "part_acum": "partAcum",
    "theorical_qty": "theoricalQty",
}

BRONZE_SCHEMA = pa.schema(
    [pa.field(name, pa.int64(), nullable=False) for name in PAGE_COLUMNS]
    + [pa.field(name, pa.string()) for name in HEADER_COLUMNS]
    + [pa.field("result_index", pa.int32(), nullable=False)]
    + [pa.field(name, pa.string()) for name in RESULT_COLUMNS]
    + [
        pa.field("_extra", pa.string()),
        pa.field("_index", pa.string(), nullable=False),
        pa.field("_source_url", pa.string(), nullable=False),
        pa.field("_fetched_at", pa.timestamp("us", tz="UTC")),  # null: a CSV import
        pa.field("_sha256", pa.string(), nullable=False),
        pa.field("_origin", pa.string(), nullable=False),  # b3_contract.origins: api, csv, amostra
    ]
)


def bronze_path(data_dir: Path, day: date, index: str) -> Path:
    return partition_dir(data_dir, "bronze", day, index) / BRONZE_FILE


def bronze_dates(data_dir: Path, index: str) -> list[date]:
    """The dates of an index that have a bronze file, oldest first."""
    found = []
    for path in (data_dir / "bronze" / check_index(index)).glob(f"*/{BRONZE_FILE}"):
        try:
            found.append(date.fromisoformat(path.parent.name))
        except ValueError:
            continue
    return sorted(found)


def bronze_table(response: dict[str, Any], capture: Capture) -> pa.Table:
    """The whole response as one row per result, strings untouched, plus ingestion columns.

    Unknown fields B3 may add are kept as JSON in `_extra` (per result; envelope extras on every
    row) so that reading the file back gives the original object.
    """
    page, header = response["page"], response["header"]
    known_top = {"page", "header", "results"}
    envelope_extra = {
        "top": {k: v for k, v in response.items() if k not in known_top},
        "page": {k: v for k, v in page.items() if k not in PAGE_COLUMNS.values()},
        "header": {k: v for k, v in header.items() if k not in HEADER_COLUMNS.values()},
    }
    rows: dict[str, list[Any]] = {name: [] for name in BRONZE_SCHEMA.names}
    for position, result in enumerate(response["results"]):
        for column, key in PAGE_COLUMNS.items():
            rows[column].append(page[key])
        for column, key in HEADER_COLUMNS.items():
            rows[column].append(header.get(key))
        rows["result_index"].append(position)
        for column, key in RESULT_COLUMNS.items():
            rows[column].append(result.get(key))
        extra = {
            "result": {k: v for k, v in result.items() if k not in RESULT_COLUMNS.values()},
            **{k: v for k, v in envelope_extra.items() if v},
            "order": {
                "top": list(response),
                "page": list(page),
                "header": list(header),
                "result": list(result),
            },
        }
        rows["_extra"].append(json.dumps(extra, ensure_ascii=False, separators=(",", ":")))
        rows["_index"].append(capture.index)
        rows["_source_url"].append(capture.source_url)
        rows["_fetched_at"].append(capture.fetched_at)
        rows["_sha256"].append(capture.sha256)
        rows["_origin"].append(capture.origin)
    return pa.Table.from_pydict(rows, schema=BRONZE_SCHEMA)


def write_bronze(data_dir: Path, response: dict[str, Any], capture: Capture) -> Path:
    target = bronze_path(data_dir, capture.trading_date, capture.index)
    write_parquet(bronze_table(response, capture), target)
    return target


def response_from_bronze(table: pa.Table) -> dict[str, Any]:
    """Rebuilds the original response object (keys, order and values) from a bronze table."""
    rows = table.sort_by("result_index").to_pylist()
    if not rows:
        raise ValueError("bronze table has no rows")
    extras = [json.loads(row["_extra"]) for row in rows]
    first = extras[0]
    order = first["order"]
    page = {key: rows[0][col] for col, key in PAGE_COLUMNS.items()} | first.get("page", {})
    header_known = {key: rows[0][col] for col, key in HEADER_COLUMNS.items()}
    header = header_known | first.get("header", {})
    results = []
    for row, extra in zip(rows, extras, strict=True):
        values = {key: row[col] for col, key in RESULT_COLUMNS.items()} | extra["result"]
        results.append({key: values.get(key) for key in extra["order"]["result"]})
    sections = {"page": page, "header": header, "results": results} | first.get("top", {})
    response = {key: sections[key] for key in order["top"]}
    response["page"] = {key: page.get(key) for key in order["page"]}
    response["header"] = {key: header.get(key) for key in order["header"]}
    return response


_INGESTION_FACTS = ["_sha256", "_origin", "_fetched_at"]


def _describes(table: pa.Table, capture: Capture, schema: pa.Schema | None = None) -> bool:
    """Whether a bronze file is the one this capture makes now: same bytes, same ingestion
    facts, same schema (a file written by an older version is rebuilt, not kept). `table` may
    hold only the ingestion columns when the file's `schema` is given."""
    if not table.num_rows or not (schema or table.schema).equals(BRONZE_SCHEMA):
        return False
    first = table.slice(0, 1).select(_INGESTION_FACTS).to_pylist()[0]
    return first == {
        "_sha256": capture.sha256,
        "_origin": capture.origin,
        "_fetched_at": capture.fetched_at,
    }


@dataclass(frozen=True)
class CurrentBronze:
    path: Path
    rows: int
    has_sectors: bool  # a segment-2 capture split by sector: its unit has carteira_setores rows


def current_bronze(data_dir: Path, day: date, index: str) -> CurrentBronze | None:
    """The unit's bronze file if it is the one its capture makes now (build_bronze would keep
    it as is), else None. Reads only a few columns: cheap enough to ask for years of units."""
    with date_lock(data_dir, day, index):
        capture = read_capture(data_dir, day, index)
        target = bronze_path(data_dir, day, index)
        if capture is None or not target.exists():
            return None
        file = pq.ParquetFile(target)
        table = file.read(columns=[*_INGESTION_FACTS, "segment"])
        if not _describes(table, capture, file.schema_arrow):
            return None
        has_sectors = table["segment"].null_count < table.num_rows
        return CurrentBronze(target, table.num_rows, has_sectors)


def build_bronze(data_dir: Path, day: date, index: str) -> tuple[Path, pa.Table, bool]:
    """Writes the bronze file of a captured unit; returns (path, table, whether it changed)."""
    with date_lock(data_dir, day, index):
        return _build_bronze(data_dir, day, index)


def _build_bronze(data_dir: Path, day: date, index: str) -> tuple[Path, pa.Table, bool]:
    capture = read_capture(data_dir, day, index)
    if capture is None:
        raise FileNotFoundError(
            f"no complete raw capture of {index} {day} under {data_dir / 'raw'}"
        )
    target = bronze_path(data_dir, day, index)
    if target.exists():
        current = pq.read_table(target)
        if _describes(current, capture):
            return target, current, False
    response = json.loads(raw_json_path(data_dir, day, index).read_bytes())
    table = bronze_table(response, capture)
    write_parquet(table, target)
    return target, table, True
