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
from b3_contract.origins import API, CSV, ORIGINS, SAMPLE, recorded_origin, replaces

CAPTURE_FILE = "capture.json"


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

    `fetched_at` is when B3 served it, known only for API captures (and for the offline
    sample, origin `amostra`: when it was generated): a CSV download says nothing of when it was
    downloaded, so an import has no capture time (its `imported_at` is when it entered the lake,
    which is not the same fact).
    """

    trading_date: date
    index: str
    raw_file: str
    sha256: str
    source_url: str
    fetched_at: datetime | None
    pages: int = 1
    origin: str = API
    imported_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"capture origin {self.origin!r} is not one of {tuple(ORIGINS)}")
        if (self.fetched_at is None) != (self.origin == CSV):
            raise ValueError("an API capture has a fetch time; a CSV import has none")

    @property
    def is_sample(self) -> bool:
        """The offline sample: invented data, never B3's (b3_contract.origins)."""
        return self.origin == SAMPLE

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
        import's. An offline sample recorded as `api` (before `amostra`) is read as `amostra`,
        so its bronze file no longer describes it and the unit's next run rewrites it."""
        body = json.loads(data)
        source_url = str(body["source_url"])
        origin = body.get("origin") or (CSV if source_url.startswith("file:") else API)
        origin = recorded_origin(origin, source_url)
        fetched_at, imported_at = _moment(body.get("fetched_at")), _moment(body.get("imported_at"))
        if origin == CSV and "origin" not in body:
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
    capture = Capture(day, index, "", "", source.resolve().as_uri(), None, 1, CSV, imported_at)
    with date_lock(data_dir, day, index):
        return _write_raw(data_dir, raw, capture, (source.name, source_bytes))


def _write_raw(
    data_dir: Path, raw: bytes, wanted: Capture, original: tuple[str, bytes] | None = None
) -> tuple[Capture, bool]:
    """Writes `wanted` (its file name and checksum filled in here) unless the same bytes are
    stored already (as B3's data: the same bytes as a sample are B3's once B3 gives them)."""
    day = wanted.trading_date
    existing = read_capture(data_dir, day, wanted.index)
    digest = hashlib.sha256(raw).hexdigest()
    if (
        existing is not None
        and existing.sha256 == digest
        and not replaces(wanted.origin, existing.origin)
    ):
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
    data_dir: Path,
    day: date,
    index: str,
    fetch: Callable[[], FetchedPortfolio],
    origin: str = API,
) -> tuple[Capture, bool]:
    """The capture of `day`: kept if already stored, else fetched and stored under its own date.
    `origin` is what `fetch` gives: B3's API, or the offline sample (`amostra`).

    A held offline sample is not kept by a real capture: B3's portfolio of that date replaces
    it (a past date B3 no longer serves fails as any uncaptured one, the sample left as it is).
    A sample never replaces B3's data: an offline capture keeps a real one.

    Returns (capture, whether it was fetched now). Never stores a portfolio under another date.
    """
    if origin not in (API, SAMPLE):
        raise ValueError(f"a fetched capture is {API} or {SAMPLE}, not {origin!r}")
    with date_lock(data_dir, day, index):  # a second run of the unit waits, then keeps it
        existing = read_capture(data_dir, day, index)
        if existing is not None and not replaces(origin, existing.origin):
            return existing, False
        fetched = fetch()
        served = check_served_date(fetched.portfolio.trading_date)
        if served != day:
            raise DateNotServedError(not_served_message(day, served, index))
        wanted = Capture(
            day, index, "", "", fetched.source_url, fetched.fetched_at, fetched.pages, origin
        )
        capture, _ = _write_raw(data_dir, fetched.raw, wanted)
        return capture, True
