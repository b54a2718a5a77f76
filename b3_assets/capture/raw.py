"""The raw layer: each portfolio as received, under its index and trading date, with a capture
record. Two indices never share a folder, so they never touch each other's files.

Layout under the data dir:
  raw/INDEX/YYYY-MM-DD/portfolio_<INDEX>.json   the response as received (one page: its bytes)
  raw/INDEX/YYYY-MM-DD/capture.json             where and when it was captured, and its sha256
  raw/INDEX/YYYY-MM-DD/<original file>          for CSV imports, the downloaded file itself
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from b3_assets.capture.files import atomic_write_bytes, file_lock, sha256_file
from b3_assets.source.b3_client import FetchedPortfolio
from b3_assets.source.models import PortfolioPage
from b3_assets.source.served_date import DateNotServedError, check_served_date, not_served_message
from b3_contract.lake_keys import check_index

CAPTURE_FILE = "capture.json"
ORIGINS = ("api", "csv")  # fetched from B3's API, or imported from B3's CSV download


def partition_dir(root: Path, layer: str, day: date, index: str) -> Path:
    return root / layer / check_index(index) / day.isoformat()


def raw_json_path(data_dir: Path, day: date, index: str) -> Path:
    return partition_dir(data_dir, "raw", day, index) / f"portfolio_{index}.json"


def date_lock(data_dir: Path, day: date, index: str) -> AbstractContextManager[None]:
    """One writer of an (index, date)'s raw and bronze files at a time (two runs of one unit);
    other indices of the same date go on in parallel."""
    name = f"capture-{check_index(index)}-{day.isoformat()}.lock"
    return file_lock(data_dir / "tmp" / "locks" / name)


@dataclass(frozen=True)
class Capture:
    """The facts about one captured portfolio that the bronze ingestion columns carry.

    `fetched_at` is when B3 served it, known only for API captures: a CSV download says
    nothing of when it was downloaded, so an import has no capture time (its `imported_at` is
    when it entered the lake, which is not the same fact).
    """

    trading_date: date
    index: str
    raw_file: str
    sha256: str
    source_url: str
    fetched_at: datetime | None
    pages: int = 1
    origin: str = "api"
    imported_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"capture origin {self.origin!r} is not one of {ORIGINS}")
        if (self.fetched_at is None) != (self.origin == "csv"):
            raise ValueError("an API capture has a fetch time; a CSV import has none")

    def to_json(self) -> bytes:
        body = {
            "trading_date": self.trading_date.isoformat(),
            "index": self.index,
            "raw_file": self.raw_file,
            "sha256": self.sha256,
            "source_url": self.source_url,
            "origin": self.origin,
            "fetched_at": _iso(self.fetched_at),
            "imported_at": _iso(self.imported_at),
            "pages": self.pages,
        }
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Capture:
        """Reads a capture record; one written before records had an origin is upgraded: an
        import (a file:// source) then gets no capture time, its recorded time being the
        import's."""
        body = json.loads(data)
        origin = body.get("origin") or (
            "csv" if str(body["source_url"]).startswith("file:") else "api"
        )
        fetched_at, imported_at = _moment(body.get("fetched_at")), _moment(body.get("imported_at"))
        if origin == "csv" and "origin" not in body:
            fetched_at, imported_at = None, fetched_at
        return cls(
            trading_date=date.fromisoformat(body["trading_date"]),
            index=body["index"],
            raw_file=body["raw_file"],
            sha256=body["sha256"],
            source_url=body["source_url"],
            fetched_at=fetched_at,
            pages=body.get("pages", 1),
            origin=origin,
            imported_at=imported_at,
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def read_capture(data_dir: Path, day: date, index: str) -> Capture | None:
    """The capture of `day` if it is complete and its raw bytes still match their checksum."""
    meta = partition_dir(data_dir, "raw", day, index) / CAPTURE_FILE
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
) -> tuple[Capture, bool]:
    """Stores a response under its own header date; returns (capture, whether anything changed).

    Identical bytes already stored are left alone (keeping the first capture time), so re-running
    a capture changes nothing.
    """
    day = PortfolioPage.model_validate(json.loads(raw)).trading_date
    with date_lock(data_dir, day, index):
        return _write_raw(data_dir, raw, Capture(day, index, "", "", source_url, fetched_at, pages))


def write_import(
    data_dir: Path, raw: bytes, source: Path, source_bytes: bytes, index: str, imported_at: datetime
) -> tuple[Capture, bool]:
    """Stores the response a CSV download stands for, with the download's bytes beside it; the
    capture has no fetch time (see Capture)."""
    day = PortfolioPage.model_validate(json.loads(raw)).trading_date
    capture = Capture(day, index, "", "", source.resolve().as_uri(), None, 1, "csv", imported_at)
    with date_lock(data_dir, day, index):
        return _write_raw(data_dir, raw, capture, (source.name, source_bytes))


def _write_raw(
    data_dir: Path, raw: bytes, wanted: Capture, original: tuple[str, bytes] | None = None
) -> tuple[Capture, bool]:
    """Writes `wanted` (its file name and checksum filled in here) unless the same bytes are
    stored already."""
    day = wanted.trading_date
    existing = read_capture(data_dir, day, wanted.index)
    digest = hashlib.sha256(raw).hexdigest()
    if existing is not None and existing.sha256 == digest:
        return existing, False
    folder = partition_dir(data_dir, "raw", day, wanted.index)
    if original is not None:
        atomic_write_bytes(folder / Path(original[0]).name, original[1])
    target = raw_json_path(data_dir, day, wanted.index)
    capture = replace(wanted, raw_file=target.name, sha256=digest)
    atomic_write_bytes(target, raw)
    atomic_write_bytes(folder / CAPTURE_FILE, capture.to_json())
    return capture, True


def capture_portfolio(
    data_dir: Path, day: date, index: str, fetch: Callable[[], FetchedPortfolio]
) -> tuple[Capture, bool]:
    """The capture of `day`: kept if already stored, else fetched and stored under its own date.

    Returns (capture, whether it was fetched now). Never stores a portfolio under another date.
    """
    with date_lock(data_dir, day, index):  # a second run of the unit waits, then keeps it
        existing = read_capture(data_dir, day, index)
        if existing is not None:
            return existing, False
        fetched = fetch()
        served = check_served_date(fetched.portfolio.trading_date)
        if served != day:
            raise DateNotServedError(not_served_message(day, served, index))
        wanted = Capture(day, index, "", "", fetched.source_url, fetched.fetched_at, fetched.pages)
        capture, _ = _write_raw(data_dir, fetched.raw, wanted)
        return capture, True
