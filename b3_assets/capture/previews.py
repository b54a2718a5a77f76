"""The preview's raw and bronze layers: B3's next-quadrimester preview and its current theoretical
portfolio as received, under the index and the **capture session** (their header has no date),
with a capture record that says, per endpoint, whether B3 served one.

Layout under the data dir:
  previa/raw/INDEX/YYYY-MM-DD/previa_<INDEX>.json   GetQuartelyPreview's answer as received
  previa/raw/INDEX/YYYY-MM-DD/teorica_<INDEX>.json  GetTheoricalPortfolio's answer as received
  previa/raw/INDEX/YYYY-MM-DD/capture.json          per endpoint: served or not, source, time,
                                                    sha256; the preview's target quadrimester
  previa/raw/INDEX/YYYY-MM-DD/<original file>       for a quadrimester CSV import, the download
  previa/bronze/INDEX/YYYY-MM-DD/dados_originais.parquet  every served answer, B3's strings
                                                    untouched, a `_carteira` column telling them
                                                    apart (what the lake's previa/raw/ holds)

"None served" (outside the weeks before a rebalance B3 answers with no rows) is a fact worth
keeping, not an error: the record says so and the answer's bytes are kept like any other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from b3_assets.capture.bronze import BRONZE_SCHEMA, bronze_table, response_from_bronze
from b3_assets.capture.files import atomic_write_bytes, file_lock, sha256_file, write_parquet
from b3_assets.capture.raw import CAPTURE_FILE, Capture, partition_dir
from b3_assets.source.b3_client import FetchedTheoretical
from b3_assets.source.csv_download import QuadrimesterCsv
from b3_assets.source.trading_calendar import trading_days
from b3_contract.lake_keys import RAW_FILE, Unit, check_index
from b3_contract.origins import API, CSV, SAMPLE, recorded_origin, replaces
from b3_contract.previews import (
    current_quadrimester,
    next_quadrimester,
    quadrimester_label,
    quadrimester_start,
)

RAW_LAYER, BRONZE_LAYER = "previa/raw", "previa/bronze"
# The table's name for each endpoint -> the client's kind.
KINDS = {"previa": "preview", "teorica": "theoretical"}

PREVIEW_BRONZE_SCHEMA = pa.schema(
    [
        *BRONZE_SCHEMA,
        pa.field("_carteira", pa.string(), nullable=False),  # previa or teorica
        pa.field("_data_captura", pa.date32(), nullable=False),  # the capture session
        pa.field("_quadrimestre", pa.string(), nullable=False),  # the portfolio's quadrimester
    ]
)


def preview_lock(data_dir: Path, unit: Unit) -> AbstractContextManager[None]:
    name = f"previa-{check_index(unit.index)}-{unit.day.isoformat()}.lock"
    return file_lock(data_dir / "tmp" / "locks" / name)


def raw_dir(data_dir: Path, unit: Unit) -> Path:
    return partition_dir(data_dir, RAW_LAYER, unit.day, unit.index)


def preview_bronze_path(data_dir: Path, unit: Unit) -> Path:
    return partition_dir(data_dir, BRONZE_LAYER, unit.day, unit.index) / RAW_FILE


def import_session(quadrimester: str) -> date:
    """Where a quadrimester CSV is filed: the last session before the quadrimester starts (the
    download carries no date; the preview it stands for is the final one)."""
    start = quadrimester_start(quadrimester)
    before = [day for day in trading_days(start - timedelta(days=30), start) if day < start]
    if not before:
        raise ValueError(f"no B3 session is known before quadrimester {quadrimester}")
    return before[-1]


@dataclass(frozen=True)
class Answer:
    """One endpoint's answer in the capture record."""

    served: bool
    raw_file: str
    sha256: str
    source_url: str
    origin: str  # b3_contract.origins: api, csv or amostra (the offline sample)
    fetched_at: datetime | None
    pages: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "served": self.served,
            "raw_file": self.raw_file,
            "sha256": self.sha256,
            "source_url": self.source_url,
            "origin": self.origin,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "pages": self.pages,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Answer:
        moment = body.get("fetched_at")
        return cls(
            served=bool(body["served"]),
            raw_file=body["raw_file"],
            sha256=body["sha256"],
            source_url=body["source_url"],
            origin=recorded_origin(body["origin"], body["source_url"]),  # an older sample: api
            fetched_at=datetime.fromisoformat(moment) if moment else None,
            pages=int(body.get("pages", 1)),
        )


@dataclass(frozen=True)
class PreviewCapture:
    """What was captured of one index on one session: per endpoint (`previa`, `teorica`) B3's
    answer, served or not; an import holds only `previa`."""

    unit: Unit
    quadrimester: str  # what the preview forecasts: the next of Jan/May/Sep (or the CSV's)
    answers: dict[str, Answer]
    imported_at: datetime | None = None

    def served(self, kind: str) -> bool:
        answer = self.answers.get(kind)
        return answer is not None and answer.served

    @property
    def any_served(self) -> bool:
        return any(answer.served for answer in self.answers.values())

    @property
    def origin(self) -> str:
        """The preview's origin (the theoretical portfolio's when the record holds no preview):
        api, csv or amostra. A sample's answers are all `amostra`; B3's data never mixes with
        it (an import replacing a sample drops its theoretical portfolio)."""
        answer = self.answers.get("previa") or next(iter(self.answers.values()))
        return answer.origin

    def to_json(self) -> bytes:
        body = {
            "session": self.unit.day.isoformat(),
            "index": self.unit.index,
            "target_quadrimester": self.quadrimester,
            "answers": {kind: answer.to_json() for kind, answer in sorted(self.answers.items())},
            "imported_at": self.imported_at.isoformat() if self.imported_at else None,
        }
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PreviewCapture:
        body = json.loads(data)
        moment = body.get("imported_at")
        return cls(
            unit=Unit(body["index"], date.fromisoformat(body["session"])),
            quadrimester=body["target_quadrimester"],
            answers={kind: Answer.from_json(a) for kind, a in body["answers"].items()},
            imported_at=datetime.fromisoformat(moment) if moment else None,
        )


def read_preview_capture(data_dir: Path, unit: Unit) -> PreviewCapture | None:
    """The unit's capture if complete: every answer's bytes present and matching."""
    folder = raw_dir(data_dir, unit)
    meta = folder / CAPTURE_FILE
    if not meta.exists():
        return None
    capture = PreviewCapture.from_json(meta.read_bytes())
    for answer in capture.answers.values():
        path = folder / answer.raw_file
        if capture.unit != unit or not path.exists() or sha256_file(path) != answer.sha256:
            return None
    return capture


def preview_sessions(data_dir: Path, index: str) -> list[date]:
    """The sessions of an index with a preview capture record, oldest first."""
    found = []
    for path in (data_dir / RAW_LAYER / check_index(index)).glob(f"*/{CAPTURE_FILE}"):
        try:
            found.append(date.fromisoformat(path.parent.name))
        except ValueError:
            continue
    return sorted(found)


def _write(
    data_dir: Path,
    unit: Unit,
    quadrimester: str,
    bodies: dict[str, tuple[bytes, Answer]],
    original: tuple[str, bytes] | None = None,
    imported_at: datetime | None = None,
) -> PreviewCapture:
    """Writes the answers' bytes, then the record that names them (a reader trusts the record
    only when every file it names matches its checksum)."""
    folder = raw_dir(data_dir, unit)
    if original is not None:
        atomic_write_bytes(folder / Path(original[0]).name, original[1])
    answers = {}
    for kind, (raw, answer) in bodies.items():
        atomic_write_bytes(folder / answer.raw_file, raw)
        answers[kind] = answer
    capture = PreviewCapture(unit, quadrimester, answers, imported_at)
    atomic_write_bytes(folder / CAPTURE_FILE, capture.to_json())
    return capture


def capture_previews(
    data_dir: Path,
    unit: Unit,
    fetch: Callable[[str], FetchedTheoretical] | None,
    origin: str = API,
) -> tuple[PreviewCapture | None, bool]:
    """The capture of `unit`: kept if its preview is held; else, when `fetch` is given (the
    unit's session is the one B3 serves now), both endpoints asked and stored, served or not.
    `origin` is what `fetch` gives: B3's API, or the offline sample (`amostra`).

    Returns (capture or None when nothing is held and nothing can be asked, whether fetched now).
    A "none served" record is asked again while its session is current: B3 may publish later
    that day. A held offline sample is asked again by a real capture (B3's answers replace it);
    a sample never replaces B3's answers, served or not.
    """
    with preview_lock(data_dir, unit):
        existing = read_preview_capture(data_dir, unit)
        replacing = existing is not None and replaces(origin, existing.origin)
        if existing is not None and (
            fetch is None
            or (existing.served("previa") and not replacing)
            or (origin == SAMPLE and existing.origin != SAMPLE)
        ):
            return existing, False
        if fetch is None:
            return None, False
        bodies = {}
        for kind, client_kind in KINDS.items():
            fetched = fetch(client_kind)
            answer = Answer(
                served=fetched.served,
                raw_file=f"{kind}_{unit.index}.json",
                sha256=fetched.sha256,
                source_url=fetched.source_url,
                origin=origin,
                fetched_at=fetched.fetched_at,
                pages=fetched.pages,
            )
            bodies[kind] = (fetched.raw, answer)
        if (
            existing is not None
            and not replacing
            and all(
                existing.answers.get(kind) is not None
                and existing.answers[kind].sha256 == answer.sha256
                for kind, (_, answer) in bodies.items()
            )
        ):
            return existing, False  # the same answers: keep the first capture time
        return _write(data_dir, unit, next_quadrimester(unit.day), bodies), True


def write_preview_import(
    data_dir: Path,
    quadrimester_csv: QuadrimesterCsv,
    raw: bytes,
    source: Path,
    source_bytes: bytes,
    imported_at: datetime,
) -> tuple[PreviewCapture, bool]:
    """Stores a quadrimester CSV as the preview of the last session before its quadrimester
    (with the download beside it); returns (capture, whether anything changed). The same bytes
    already stored are left alone. An offline sample held for that session is replaced whole
    (its theoretical portfolio too); B3's theoretical portfolio is kept beside the import."""
    quadrimester = quadrimester_label(quadrimester_csv.first_day)
    unit = Unit(quadrimester_csv.index, import_session(quadrimester))
    digest = hashlib.sha256(raw).hexdigest()
    with preview_lock(data_dir, unit):
        existing = read_preview_capture(data_dir, unit)
        held = existing.answers.get("previa") if existing is not None else None
        if held is not None and held.sha256 == digest and not replaces(CSV, held.origin):
            return existing, False
        answer = Answer(
            True, f"previa_{unit.index}.json", digest, source.resolve().as_uri(), CSV, None
        )
        bodies = {"previa": (raw, answer)}
        teorica = existing.answers.get("teorica") if existing is not None else None
        if teorica is not None and teorica.origin != SAMPLE:  # keep what the API gave
            kept = (raw_dir(data_dir, unit) / teorica.raw_file).read_bytes()
            bodies["teorica"] = (kept, teorica)
        capture = _write(
            data_dir, unit, quadrimester, bodies, (source.name, source_bytes), imported_at
        )
        if teorica is not None and "teorica" not in bodies:  # a sample's: B3's data replaces it
            (raw_dir(data_dir, unit) / teorica.raw_file).unlink(missing_ok=True)
        return capture, True


def preview_bronze_table(data_dir: Path, capture: PreviewCapture) -> pa.Table | None:
    """Every served answer of the capture as one table (None when B3 served none)."""
    parts = []
    folder = raw_dir(data_dir, capture.unit)
    for kind, answer in sorted(capture.answers.items()):
        if not answer.served:
            continue
        response = json.loads((folder / answer.raw_file).read_bytes())
        facts = Capture(
            capture.unit.day,
            capture.unit.index,
            answer.raw_file,
            answer.sha256,
            answer.source_url,
            answer.fetched_at,
            answer.pages,
            answer.origin,
            capture.imported_at,
        )
        table = bronze_table(response, facts)
        quadrimester = (
            capture.quadrimester if kind == "previa" else current_quadrimester(capture.unit.day)
        )
        n = table.num_rows
        table = (
            table.append_column("_carteira", pa.array([kind] * n, pa.string()))
            .append_column("_data_captura", pa.array([capture.unit.day] * n, pa.date32()))
            .append_column("_quadrimestre", pa.array([quadrimester] * n, pa.string()))
        )
        parts.append(table.cast(PREVIEW_BRONZE_SCHEMA))
    return pa.concat_tables(parts) if parts else None


def build_preview_bronze(data_dir: Path, unit: Unit) -> tuple[Path | None, pa.Table | None, bool]:
    """Writes the unit's preview bronze file from its capture; returns (path, table, whether it
    changed). (None, None, False) when B3 served neither endpoint. A file that already holds the
    capture's answers in the current schema is kept."""
    with preview_lock(data_dir, unit):
        capture = read_preview_capture(data_dir, unit)
        if capture is None:
            raise FileNotFoundError(
                f"no complete preview capture of {unit} under {data_dir / RAW_LAYER}"
            )
        target = preview_bronze_path(data_dir, unit)
        served = {
            (kind, answer.sha256, answer.origin)
            for kind, answer in capture.answers.items()
            if answer.served
        }
        if target.exists() and served:  # kept when it holds these answers, as built now
            current = pq.read_table(target)
            if current.schema.equals(PREVIEW_BRONZE_SCHEMA) and _answers(current) == served:
                return target, current, False
        table = preview_bronze_table(data_dir, capture)
        if table is None:
            target.unlink(missing_ok=True)
            return None, None, False
        write_parquet(table, target)
        return target, table, True


def _answers(table: pa.Table) -> set[tuple[str, str, str]]:
    """The (kind, sha256, origin) of each answer a preview bronze table holds."""
    facts = table.select(["_carteira", "_sha256", "_origin"]).group_by(
        ["_carteira", "_sha256", "_origin"]
    )
    return {tuple(row.values()) for row in facts.aggregate([]).to_pylist()}


def responses_from_bronze(table: pa.Table) -> dict[str, dict[str, Any]]:
    """B3's answers (previa, teorica) a preview bronze table holds, as the original objects."""
    kinds = sorted(set(table["_carteira"].to_pylist()))
    return {
        kind: response_from_bronze(
            table.filter(pc.equal(table["_carteira"], kind)).select(BRONZE_SCHEMA.names)
        )
        for kind in kinds
    }
