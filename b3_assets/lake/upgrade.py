"""Moves a data dir or a bucket written in the earlier IBOV-only layout into the multi-index one.

  earlier layout                                      this layout
  raw/YYYY-MM-DD/{capture.json, portfolio_I.json, CSV} raw/I/YYYY-MM-DD/...           (data dir)
  bronze/YYYY-MM-DD/dados_originais.parquet            bronze/I/YYYY-MM-DD/...        (data dir)
  raw/YYYY-MM-DD/dados_originais.parquet               raw/I/YYYY-MM-DD/...           (lake)
  refined/T/data=D/[acao=X/]*.parquet                  refined/T/indice=I/data=D/...  (lake)

The index I always comes from the data, never from a default: the capture record's "index", the
name `portfolio_I.json`, the bronze and raw objects' `_index` column, each refined file's own
`indice` column (an empty refined file takes the index of its date's raw object).

Planning reads and changes nothing; `describe()` is the dry run. Applying moves one file (object)
at a time and never loses a byte: the target is written beside the source (a hard link on one
filesystem, else a copy; on S3 `copy_object` with If-None-Match), checked against the source
(size and sha256, or the ETag), and only then is the source removed. A crash therefore leaves
every file in the old place, the new place or both (identical), and planning again finishes the
job. A target that already holds other bytes is a conflict: both are kept and it is reported. A
target with the same bytes just loses its source. What is not recognisable as the earlier
layout (a stray file) is reported and left where it is.

Order: refined files first, then bronze, then the raw captures (capture.json last, so a capture
is only complete in its new place once everything it records is there), and the lake's raw
objects last: a new raw key starts a refine (the Lambda, the raw/ sensor), which then finds its
refined partitions already moved and replaces them exactly.

Not touched: `catalog.duckdb` (the caller registers the catalogs again for `plan.units`), `tmp/`
and `glue/`, and everything already in the new layout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import groupby
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from b3_assets.capture.files import sha256_file
from b3_contract.lake_keys import (
    INDEX_CODE,
    LEGACY_RAW_KEY,
    RAW_FILE,
    Unit,
    partition_prefix,
    raw_object_key,
)

CAPTURE_FILE = "capture.json"
PORTFOLIO_FILE = re.compile(r"portfolio_(.+)\.json")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# The earlier layout's refined tables and the partition levels each had below data=.
OLD_TABLES: dict[str, tuple[str, ...]] = {"ativos": ("acao",), "header": (), "setores": ()}
LAKE_PREFIXES = ("raw/", "refined/")
THREADS = 16  # concurrent requests to a bucket

# Phases, applied in this order (see the module docstring).
REFINED, BRONZE, RAW_FILES, RAW_CAPTURE, LAKE_RAW = range(5)


@dataclass(frozen=True)
class Move:
    """One file (object) from its earlier-layout place to its new one; paths are relative to
    the data dir (keys, for a bucket)."""

    source: str
    target: str
    unit: Unit
    identical: bool = False  # the target held the same bytes when planned: only the source goes
    phase: int = REFINED

    def describe(self) -> str:
        if self.identical:
            return f"drop {self.source} (the same bytes are at {self.target})"
        return f"move {self.source} -> {self.target}"


@dataclass
class UpgradePlan:
    """What an upgrade would do (from plan_*) or did (from apply_*).

    moves      files to move (planned) or moved (applied), in the order they are applied
    conflicts  earlier-layout files whose target holds other bytes: both kept, nothing moved
    strays     earlier-layout places holding something not recognisable: left in place
    """

    moves: list[Move] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)

    @property
    def units(self) -> set[Unit]:
        """The (index, date) units the moves belong to: their catalogs need registering again."""
        return {move.unit for move in self.moves}

    @property
    def empty(self) -> bool:
        """Nothing to move (conflicts and strays may still be reported)."""
        return not self.moves

    def describe(self) -> list[str]:
        """Human lines: a summary, then every move, conflict and stray."""
        units = sorted(self.units)
        head = f"{len(self.moves)} file(s) of {len(units)} unit(s)"
        if units:
            head += ": " + ", ".join(map(str, units))
        lines = [head]
        lines += [move.describe() for move in self.moves]
        lines += [f"conflict: {text}" for text in self.conflicts]
        lines += [f"left in place: {text}" for text in self.strays]
        return lines


# ------------------------------------------------------------------ reading the index from data


def _valid_index(code: object) -> str | None:
    return code if isinstance(code, str) and INDEX_CODE.fullmatch(code) else None


def _day(text: str) -> date | None:
    if not DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parquet_indices(source: Path | bytes, column: str) -> set[str] | None:
    """The values of a Parquet file's index `column` (empty: no rows); None if it is not such a
    file, lacks the column or holds something that is not an index code."""
    try:
        handle = pq.ParquetFile(
            pa.BufferReader(source) if isinstance(source, bytes) else str(source)
        )
        if column not in handle.schema_arrow.names:
            return None
        values = set(handle.read(columns=[column]).column(column).unique().to_pylist())
    except (OSError, pa.ArrowException):
        return None
    return values if all(_valid_index(value) for value in values) else None


def _one(values: set[str] | None) -> str | None:
    return next(iter(values)) if values is not None and len(values) == 1 else None


@dataclass(frozen=True)
class _CaptureRecord:
    index: str
    original: str | None  # the CSV download's file name, for imports


def _read_capture(data: bytes, day: date) -> _CaptureRecord | None:
    try:
        body = json.loads(data)
        index = _valid_index(body.get("index"))
        if index is None or body.get("trading_date") != day.isoformat():
            return None
        source = str(body.get("source_url") or "")
    except (ValueError, AttributeError):
        return None
    original = None
    if body.get("origin") == "csv" or source.startswith("file:"):
        original = PurePosixPath(unquote(urlparse(source).path)).name or None
    return _CaptureRecord(index, original)


# ------------------------------------------------------------------ the lake: keys -> moves


@dataclass
class _Listing:
    """The lake as planning sees it: every key under raw/ and refined/, and how to read one and
    compare two."""

    keys: set[str]
    read: Callable[[str], bytes | Path]
    same: Callable[[str, str], bool]
    threads: int = 1


def _hidden(part: str) -> bool:
    return part.startswith(("_", "."))


def _plan_lake(lake: _Listing, prefix: str = "") -> UpgradePlan:
    """The moves of a lake's raw objects and refined files; `prefix` goes before every path
    reported (`lake/` in a data dir)."""
    plan = UpgradePlan()
    raw: dict[str, date] = {}  # earlier-layout raw objects, with their dates
    refined: dict[str, tuple[str, date, str]] = {}  # key -> (table, date, rest after data=D/)
    day_indices: dict[date, set[str]] = {}  # the indices raw objects hold per date
    for key in sorted(lake.keys):
        parts = key.split("/")
        if parts[0] == "raw":
            if len(parts) > 2 and INDEX_CODE.fullmatch(parts[1]):
                unit = _day(parts[2])
                if unit is not None:
                    day_indices.setdefault(unit, set()).add(parts[1])
                continue  # the new layout
            match = LEGACY_RAW_KEY.fullmatch(key)
            day = _day(match.group(1)) if match else None
            if day is None:
                plan.strays.append(f"{prefix}{key}: not a raw object of either layout")
            else:
                raw[key] = day
        else:  # refined/
            if len(parts) > 3 and parts[2].startswith("indice="):
                continue  # the new layout
            if _hidden(parts[1]) or (len(parts) > 2 and _hidden(parts[2])):
                continue  # beside the partitions (Spark's _SUCCESS, _temporary/): not data
            old = _old_refined(parts)
            if old is None:
                plan.strays.append(f"{prefix}{key}: not a refined file of the earlier layout")
            else:
                refined[key] = old
    indices = _read_all(lake, {key: "_index" for key in raw} | {k: "indice" for k in refined})
    for key, day in raw.items():
        index = _one(indices[key])
        if index is None:
            plan.strays.append(f"{prefix}{key}: no single index in its _index column")
            continue
        day_indices.setdefault(day, set()).add(index)
        unit = Unit(index, day)
        _add(plan, lake, prefix, key, raw_object_key(unit), unit, LAKE_RAW)
    for key, (table, day, rest) in refined.items():
        values = indices[key]
        if values == set():  # no rows: the index of its date's raw object, if only one
            values = day_indices.get(day)
        index = _one(values)
        if index is None:
            plan.strays.append(f"{prefix}{key}: no single index in its indice column")
            continue
        unit = Unit(index, day)
        target = partition_prefix(f"refined/{table}", unit) + rest
        _add(plan, lake, prefix, key, target, unit, REFINED)
    return plan


def _old_refined(parts: list[str]) -> tuple[str, date, str] | None:
    """(table, date, rest) of refined/T/data=D/[acao=X/]file.parquet, else None."""
    table = parts[1]
    levels = OLD_TABLES.get(table)
    if levels is None or len(parts) != 4 + len(levels) or not parts[-1].endswith(".parquet"):
        return None
    name, _, value = parts[2].partition("=")
    day = _day(value) if name == "data" else None
    if day is None:
        return None
    for level, part in zip(levels, parts[3:-1], strict=True):
        name, sep, value = part.partition("=")
        if name != level or not sep or not value:
            return None
    return table, day, "/".join(parts[3:])


def _read_all(lake: _Listing, columns: dict[str, str]) -> dict[str, set[str] | None]:
    """key -> the values of its index column (see parquet_indices)."""

    def one(item: tuple[str, str]) -> tuple[str, set[str] | None]:
        key, column = item
        return key, parquet_indices(lake.read(key), column)

    if lake.threads > 1 and len(columns) > 1:
        with ThreadPoolExecutor(max_workers=lake.threads) as pool:
            return dict(pool.map(one, columns.items()))
    return dict(map(one, columns.items()))


def _add(
    plan: UpgradePlan,
    lake: _Listing,
    prefix: str,
    source: str,
    target: str,
    unit: Unit,
    phase: int,
) -> None:
    """A move, a move of an already copied file (identical) or a conflict."""
    move = Move(prefix + source, prefix + target, unit, phase=phase)
    if target not in lake.keys:
        plan.moves.append(move)
    elif lake.same(source, target):
        plan.moves.append(replace(move, identical=True))
    else:
        plan.conflicts.append(_conflict(move))


def _conflict(move: Move) -> str:
    return f"{move.source}: {move.target} exists with other bytes; both kept"


def _ordered(plan: UpgradePlan) -> UpgradePlan:
    plan.moves.sort(key=lambda move: (move.phase, move.source))
    plan.conflicts.sort()
    plan.strays.sort()
    return plan


# ------------------------------------------------------------------ a local data dir


def _same_file(a: Path, b: Path) -> bool:
    """Same bytes (the same file, after a hard link); False if either is not a file."""
    try:
        if not (a.is_file() and b.is_file()):
            return False
        if os.path.samefile(a, b):
            return True
        return a.stat().st_size == b.stat().st_size and sha256_file(a) == sha256_file(b)
    except FileNotFoundError:
        return False


def _files(root: Path) -> Iterator[Path]:
    if root.is_dir():
        yield from (path for path in sorted(root.rglob("*")) if path.is_file())


def _local_lake(lake_dir: Path) -> _Listing:
    keys = {
        path.relative_to(lake_dir).as_posix()
        for top in ("raw", "refined")
        for path in _files(lake_dir / top)
    }
    return _Listing(
        keys, lambda key: lake_dir / key, lambda a, b: _same_file(lake_dir / a, lake_dir / b)
    )


def plan_data_dir(data_dir: Path) -> UpgradePlan:
    """What upgrading `data_dir` (its raw/, bronze/ and lake/) would move; changes nothing."""
    data_dir = Path(data_dir)
    plan = _plan_lake(_local_lake(data_dir / "lake"), "lake/")
    for layer in ("raw", "bronze"):
        root = data_dir / layer
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if child.is_dir() and INDEX_CODE.fullmatch(child.name):
                continue  # the new layout
            day = _day(child.name) if child.is_dir() else None
            if day is None:
                plan.strays += [
                    f"{_rel(data_dir, path)}: not a {layer} folder of either layout"
                    for path in ([child] if child.is_file() else _files(child))
                ]
            elif layer == "raw":
                _plan_raw_day(data_dir, child, day, plan)
            else:
                _plan_bronze_day(data_dir, child, day, plan)
    return _ordered(plan)


def _rel(data_dir: Path, path: Path) -> str:
    return path.relative_to(data_dir).as_posix()


def _add_local(data_dir: Path, plan: UpgradePlan, path: Path, unit: Unit, phase: int) -> None:
    layer, _, rest = _rel(data_dir, path).partition("/")
    target = f"{layer}/{unit.index}/{rest}"
    move = Move(_rel(data_dir, path), target, unit, phase=phase)
    if not (data_dir / target).exists():
        plan.moves.append(move)
    elif _same_file(path, data_dir / target):
        plan.moves.append(replace(move, identical=True))
    else:
        plan.conflicts.append(_conflict(move))


def _plan_bronze_day(data_dir: Path, folder: Path, day: date, plan: UpgradePlan) -> None:
    for path in _files(folder):
        index = None
        if path.parent == folder and path.name == RAW_FILE:
            index = _one(parquet_indices(path, "_index"))
        if index is None:
            plan.strays.append(f"{_rel(data_dir, path)}: not a bronze file with one _index")
        else:
            _add_local(data_dir, plan, path, Unit(index, day), BRONZE)


def _plan_raw_day(data_dir: Path, folder: Path, day: date, plan: UpgradePlan) -> None:
    """A raw/D folder: the capture record names the index and the CSV download it keeps;
    portfolio_I.json names its own index. A file left behind by an earlier run (the record
    already moved) is matched to a moved record that names it."""
    record_path = folder / CAPTURE_FILE
    record = _read_capture(record_path.read_bytes(), day) if record_path.is_file() else None
    moved: dict[
        str, set[str]
    ] = {}  # CSV download name -> index, from capture records already in the new layout
    for other in sorted((data_dir / "raw").glob(f"*/{day.isoformat()}/{CAPTURE_FILE}")):
        found = _read_capture(other.read_bytes(), day)
        if INDEX_CODE.fullmatch(other.parent.parent.name) and found and found.original:
            moved.setdefault(found.original, set()).add(found.index)
    for path in _files(folder):
        index, phase = None, RAW_FILES
        portfolio = PORTFOLIO_FILE.fullmatch(path.name)
        if path.parent != folder:
            pass
        elif path.name == CAPTURE_FILE:
            index, phase = (record.index if record else None), RAW_CAPTURE
        elif portfolio:
            index = _valid_index(portfolio.group(1))
        elif record and path.name == record.original:
            index = record.index
        elif len(moved.get(path.name, ())) == 1:
            index = next(iter(moved[path.name]))
        if index is None:
            plan.strays.append(f"{_rel(data_dir, path)}: not a file of a raw capture")
        else:
            _add_local(data_dir, plan, path, Unit(index, day), phase)


def apply_data_dir(data_dir: Path, plan: UpgradePlan) -> UpgradePlan:
    """Applies `plan` (from plan_data_dir) in order; returns what was moved, with the plan's
    conflicts and strays and any conflict met on the way."""
    data_dir = Path(data_dir)
    done = UpgradePlan(conflicts=list(plan.conflicts), strays=list(plan.strays))
    for move in plan.moves:
        try:
            problem = _move_file(data_dir, move)
        except OSError as exc:
            problem = f"{move.source}: not moved to {move.target} ({exc}); both kept"
        if problem is None:
            done.moves.append(move)
            _prune(data_dir, data_dir / move.source)
        elif problem:
            done.conflicts.append(problem)
    return done


def _move_file(data_dir: Path, move: Move) -> str | None:
    """None if the source's bytes are now at the target and the source is gone; "" if there was
    nothing left to do (moved before); else why both are kept."""
    source, target = data_dir / move.source, data_dir / move.target
    if not source.is_file():
        return "" if target.is_file() else f"{move.source}: missing, and no {move.target}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)  # atomic, and never over an existing file
        except FileExistsError:
            pass  # written meanwhile: compared below
        except OSError:  # no hard links on this filesystem: a complete copy, renamed in place
            temporary = target.with_name(f".{target.name}.upgrade-{uuid.uuid4().hex}.tmp")
            try:
                shutil.copy2(source, temporary)
                with temporary.open("rb") as handle:
                    os.fsync(handle.fileno())
                if not target.exists():
                    os.rename(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
        _fsync_dir(target.parent)  # the new name is durable before the old one goes
    if not _same_file(source, target):
        return _conflict(move)
    source.unlink()
    _fsync_dir(source.parent)
    return None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _prune(data_dir: Path, source: Path) -> None:
    """Removes the folders a move emptied, up to the layer's (or table's) own folder."""
    parts = PurePosixPath(_rel(data_dir, source)).parts
    keep = 3 if parts[:2] == ("lake", "refined") else 2 if parts[0] == "lake" else 1
    folder = source.parent
    while len(folder.relative_to(data_dir).parts) > keep:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone)
            return
        folder = folder.parent


def needs_upgrade(data_dir: Path) -> bool:
    """Cheap (names only): whether `data_dir` holds a file in the earlier layout's places with
    an earlier-layout name. Stray files alone do not count."""
    data_dir = Path(data_dir)
    for layer, names in (("raw", None), ("bronze", {RAW_FILE}), ("lake/raw", {RAW_FILE})):
        root = data_dir / layer
        for folder in sorted(root.iterdir()) if root.is_dir() else ():
            if folder.is_dir() and _day(folder.name) and _has_old_file(folder, names):
                return True
    refined = data_dir / "lake" / "refined"
    for table in OLD_TABLES:
        for partition in (refined / table).glob("data=*"):
            if partition.is_dir() and any(partition.rglob("*.parquet")):
                return True
    return False


def _has_old_file(folder: Path, names: set[str] | None) -> bool:
    for path in folder.iterdir():
        if names is not None and path.name in names:
            return True
        if names is None and (path.name == CAPTURE_FILE or PORTFOLIO_FILE.fullmatch(path.name)):
            return True
    return False


# ------------------------------------------------------------------ a bucket


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _Bucket:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def list(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.s3.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=prefix)

    def keys(self, prefixes: Iterable[str]) -> set[str]:
        return {
            item["Key"]
            for prefix in prefixes
            for page in self.list(prefix)
            for item in page.get("Contents", [])
        }

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def same(self, a: str, b: str, head_a: dict | None = None, head_b: dict | None = None) -> bool:
        """Size, then the ETag or the recorded sha256; when those differ (a multipart upload's
        ETag), the bytes' sha256."""
        head_a = head_a or self.head(a)
        head_b = head_b or self.head(b)
        if head_a is None or head_b is None:
            return False
        if head_a["ContentLength"] != head_b["ContentLength"]:
            return False
        if head_a.get("ETag") == head_b.get("ETag"):
            return True
        digest_a = head_a.get("Metadata", {}).get("sha256")
        if digest_a and digest_a == head_b.get("Metadata", {}).get("sha256"):
            return True
        return hashlib.sha256(self.read(a)).digest() == hashlib.sha256(self.read(b)).digest()


def plan_bucket(s3: Any, bucket: str) -> UpgradePlan:
    """What upgrading the bucket's raw/ and refined/ would move; changes nothing."""
    store = _Bucket(s3, bucket)
    keys = store.keys(LAKE_PREFIXES)
    return _ordered(_plan_lake(_Listing(keys, store.read, store.same, THREADS)))


def apply_bucket(s3: Any, bucket: str, plan: UpgradePlan, threads: int = THREADS) -> UpgradePlan:
    """Applies `plan` (from plan_bucket): per object copy_object (never over an existing
    object), compare, delete_object; the objects of one phase `threads` at a time, the phases in
    order. Returns what was moved, with the conflicts and strays."""
    store = _Bucket(s3, bucket)
    done = UpgradePlan(conflicts=list(plan.conflicts), strays=list(plan.strays))

    def one(move: Move) -> str | None:
        try:
            return _move_object(store, move)
        except ClientError as exc:  # this object's failure (access, a precondition): reported
            return f"{move.source}: not moved to {move.target} ({exc}); both kept"

    for _, group in groupby(plan.moves, key=lambda move: move.phase):
        moves = list(group)
        if threads > 1 and len(moves) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                problems = list(pool.map(one, moves))
        else:
            problems = [one(move) for move in moves]
        for move, problem in zip(moves, problems, strict=True):
            if problem is None:
                done.moves.append(move)
            elif problem:
                done.conflicts.append(problem)
    return done


def _move_object(store: _Bucket, move: Move) -> str | None:
    """As _move_file, for one object."""
    source = store.head(move.source)
    target = store.head(move.target)
    if source is None:
        return "" if target is not None else f"{move.source}: missing, and no {move.target}"
    if target is None:
        request: dict[str, Any] = {
            "Bucket": store.bucket,
            "Key": move.target,
            "CopySource": {"Bucket": store.bucket, "Key": move.source},
            "CopySourceIfMatch": source["ETag"],
            "IfNoneMatch": "*",
        }
        if source.get("ServerSideEncryption"):
            request["ServerSideEncryption"] = source["ServerSideEncryption"]
            if source.get("SSEKMSKeyId"):
                request["SSEKMSKeyId"] = source["SSEKMSKeyId"]
        try:
            store.s3.copy_object(**request)
        except ClientError as exc:
            code = _error_code(exc)
            if code == "NotImplemented":  # a store without conditional copies
                del request["IfNoneMatch"]
                store.s3.copy_object(**request)
            elif code not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
        target = store.head(move.target)
        if target is None:  # the source changed since it was read: nothing copied
            return f"{move.source}: changed while being moved; left in place, run again"
    if not store.same(move.source, move.target, source, target):
        return f"{move.source}: {move.target} exists with other bytes; both kept"
    store.s3.delete_object(Bucket=store.bucket, Key=move.source)
    return None


def bucket_needs_upgrade(s3: Any, bucket: str) -> bool:
    """Cheap (raw/ listed, refined/ only until a first hit): whether the bucket holds an object
    with an earlier-layout key. Stray objects alone do not count."""
    store = _Bucket(s3, bucket)
    for page in store.list("raw/"):
        if any(LEGACY_RAW_KEY.fullmatch(item["Key"]) for item in page.get("Contents", [])):
            return True
    for table in OLD_TABLES:
        for page in store.list(f"refined/{table}/data="):
            for item in page.get("Contents", []):
                if _old_refined(item["Key"].split("/")):
                    return True
    return False
