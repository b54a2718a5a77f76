"""The raw layer: each portfolio as received, under its own trading date, with a capture record.

Layout under the data dir:
  raw/YYYY-MM-DD/portfolio_<INDEX>.json     the response as received (one page: its exact bytes)
  raw/YYYY-MM-DD/capture.json               where and when it was captured, and its sha256
  raw/YYYY-MM-DD/<original file>            for CSV imports, the downloaded file itself
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from b3_assets.capture.files import atomic_write_bytes, file_lock, sha256_file
from b3_assets.source.b3_client import FetchedPortfolio
from b3_assets.source.models import PortfolioPage
from b3_assets.source.served_date import DateNotServedError, check_served_date, not_served_message

CAPTURE_FILE = "capture.json"


def partition_dir(root: Path, layer: str, day: date) -> Path:
    return root / layer / day.isoformat()


def raw_json_path(data_dir: Path, day: date, index: str) -> Path:
    return partition_dir(data_dir, "raw", day) / f"portfolio_{index}.json"


def date_lock(data_dir: Path, day: date) -> AbstractContextManager[None]:
    """One writer of a date's raw and bronze files at a time (two runs of one partition)."""
    return file_lock(data_dir / "tmp" / "locks" / f"capture-{day.isoformat()}.lock")


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
