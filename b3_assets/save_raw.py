"""Raw JSON and bronze Parquet writers (DESIGN.md section 5), atomic and idempotent.

Layout under the data dir:
  raw/YYYY-MM-DD/portfolio_<INDEX>.json     the response as received (one page: its exact bytes)
  raw/YYYY-MM-DD/capture.json               where and when it was captured, and its sha256
  raw/YYYY-MM-DD/<original file>            for CSV imports, the downloaded file itself
  bronze/YYYY-MM-DD/dados_originais.parquet the whole response as strings + ingestion columns
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from b3_assets.b3_scraper import B3ApiError, FetchedPortfolio
from b3_assets.ibov import PortfolioPage, format_b3_date
from b3_assets.trading_calendar import non_trading_kind

BRONZE_FILE = "dados_originais.parquet"
CAPTURE_FILE = "capture.json"

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
        pa.field("_fetched_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("_sha256", pa.string(), nullable=False),
    ]
)


def partition_dir(root: Path, layer: str, day: date) -> Path:
    return root / layer / day.isoformat()


def raw_json_path(data_dir: Path, day: date, index: str) -> Path:
    return partition_dir(data_dir, "raw", day) / f"portfolio_{index}.json"


def bronze_path(data_dir: Path, day: date) -> Path:
    return partition_dir(data_dir, "bronze", day) / BRONZE_FILE


def bronze_dates(data_dir: Path) -> list[date]:
    """The dates that have a bronze file, oldest first."""
    found = []
    for path in (data_dir / "bronze").glob(f"*/{BRONZE_FILE}"):
        try:
            found.append(date.fromisoformat(path.parent.name))
        except ValueError:
            continue
    return sorted(found)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes; the kernel releases it if the holder is killed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def date_lock(data_dir: Path, day: date) -> AbstractContextManager[None]:
    """One writer of a date's raw and bronze files at a time (two runs of one partition)."""
    return file_lock(data_dir / "tmp" / "locks" / f"capture-{day.isoformat()}.lock")


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yields a temp path beside target; renames it over target only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with tmp_path.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


@dataclass(frozen=True)
class Capture:
    """The facts about one captured portfolio that the bronze ingestion columns carry."""

    trading_date: date
    index: str
    raw_file: str
    sha256: str
    source_url: str
    fetched_at: datetime
    pages: int = 1

    def to_json(self) -> bytes:
        body = {
            "trading_date": self.trading_date.isoformat(),
            "index": self.index,
            "raw_file": self.raw_file,
            "sha256": self.sha256,
            "source_url": self.source_url,
            "fetched_at": self.fetched_at.isoformat(),
            "pages": self.pages,
        }
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Capture:
        body = json.loads(data)
        return cls(
            trading_date=date.fromisoformat(body["trading_date"]),
            index=body["index"],
            raw_file=body["raw_file"],
            sha256=body["sha256"],
            source_url=body["source_url"],
            fetched_at=datetime.fromisoformat(body["fetched_at"]),
            pages=body.get("pages", 1),
        )


def read_capture(data_dir: Path, day: date, index: str) -> Capture | None:
    """The capture of `day` if it is complete and its raw bytes still match their checksum."""
    meta = partition_dir(data_dir, "raw", day) / CAPTURE_FILE
    raw = raw_json_path(data_dir, day, index)
    if not meta.exists() or not raw.exists():
        return None
    capture = Capture.from_json(meta.read_bytes())
    if capture.index != index or sha256_file(raw) != capture.sha256:
        return None
    return capture


def write_raw(
    data_dir: Path,
    raw: bytes,
    source_url: str,
    fetched_at: datetime,
    index: str,
    pages: int = 1,
    original: tuple[str, bytes] | None = None,
) -> tuple[Capture, bool]:
    """Stores a response under its own header date; returns (capture, whether anything changed).

    Identical bytes already stored are left alone (keeping the first capture time), so re-running
    a capture changes nothing. `original` keeps a source file (a CSV download) beside the JSON.
    """
    day = PortfolioPage.model_validate(json.loads(raw)).trading_date
    with date_lock(data_dir, day):
        return _write_raw(data_dir, day, raw, source_url, fetched_at, index, pages, original)


def _write_raw(
    data_dir: Path,
    day: date,
    raw: bytes,
    source_url: str,
    fetched_at: datetime,
    index: str,
    pages: int,
    original: tuple[str, bytes] | None,
) -> tuple[Capture, bool]:
    existing = read_capture(data_dir, day, index)
    digest = hashlib.sha256(raw).hexdigest()
    if existing is not None and existing.sha256 == digest:
        return existing, False
    folder = partition_dir(data_dir, "raw", day)
    if original is not None:
        atomic_write_bytes(folder / Path(original[0]).name, original[1])
    target = raw_json_path(data_dir, day, index)
    capture = Capture(day, index, target.name, digest, source_url, fetched_at, pages)
    atomic_write_bytes(target, raw)
    atomic_write_bytes(folder / CAPTURE_FILE, capture.to_json())
    return capture, True


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
    return pa.Table.from_pydict(rows, schema=BRONZE_SCHEMA)


def write_parquet(table: pa.Table, target: Path) -> None:
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_bronze(data_dir: Path, response: dict[str, Any], capture: Capture) -> Path:
    target = bronze_path(data_dir, capture.trading_date)
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


class DateNotServedError(RuntimeError):
    """B3 serves another date than the one asked for; B3 has no date parameter."""


def not_served_message(asked: date, served: date) -> str:
    csv = f"IBOVDia_{asked.strftime('%d-%m-%y')}.csv"
    return (
        f"B3 is serving the portfolio of {served}, not {asked}. B3 has no date parameter: it "
        f"serves only the current portfolio, so {asked} can only come from data already captured "
        f"or from B3's CSV download of that day: `b3 import {csv}`. Nothing was written."
    )


def check_served_date(served: date) -> date:
    """B3's header date must be a BVMF session: anything else is a B3 fault, never a partition."""
    try:
        kind = non_trading_kind(served)
    except ValueError as exc:
        raise B3ApiError(f"B3's header date {format_b3_date(served)} is unusable: {exc}") from None
    if kind:
        raise B3ApiError(
            f"B3's header date {format_b3_date(served)} ({served}, {kind}) is not a B3 trading "
            "day; refusing to store a portfolio under it. Nothing was written."
        )
    return served


def capture_portfolio(
    data_dir: Path, day: date, index: str, fetch: Callable[[], FetchedPortfolio]
) -> tuple[Capture, bool]:
    """The capture of `day`: kept if already stored, else fetched and stored under its own date.

    Returns (capture, whether it was fetched now). Never stores a portfolio under another date.
    """
    with date_lock(data_dir, day):  # a second run of the date waits, then keeps this capture
        existing = read_capture(data_dir, day, index)
        if existing is not None:
            return existing, False
        fetched = fetch()
        served = check_served_date(fetched.portfolio.trading_date)
        if served != day:
            raise DateNotServedError(not_served_message(day, served))
        capture, _ = _write_raw(
            data_dir, day, fetched.raw, fetched.source_url, fetched.fetched_at, index,
            fetched.pages, None,
        )  # fmt: skip
        return capture, True


def build_bronze(data_dir: Path, day: date, index: str) -> tuple[Path, pa.Table, bool]:
    """Writes the bronze file of a captured date; returns (path, table, whether it changed)."""
    with date_lock(data_dir, day):
        return _build_bronze(data_dir, day, index)


def _build_bronze(data_dir: Path, day: date, index: str) -> tuple[Path, pa.Table, bool]:
    capture = read_capture(data_dir, day, index)
    if capture is None:
        raise FileNotFoundError(f"no complete raw capture of {day} under {data_dir / 'raw'}")
    target = bronze_path(data_dir, day)
    if target.exists():
        current = pq.read_table(target)
        if current.num_rows and current["_sha256"][0].as_py() == capture.sha256:
            return target, current, False
    response = json.loads(raw_json_path(data_dir, day, index).read_bytes())
    table = bronze_table(response, capture)
    write_parquet(table, target)
    return target, table, True
