"""The lake ("bucket") as a local folder: the embedded default's stand-in for s3://$B3_BUCKET/.

Partitions are written beside the lake in a staging folder and swapped in with directory renames,
so readers see either the old partition or the new one, never a half-written one, and a process
killed mid-write leaves only a staging folder that the next write removes.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from b3_assets.capture.files import atomic_path, file_lock, sha256_file
from b3_contract.lake_keys import Month, Unit

PART_FILE = "part-00000.parquet"
OLD_MARK = ".old-"  # a partition moved aside during its swap
WRITE_THREADS = 4


@dataclass(frozen=True)
class LakeObject:
    key: str
    uri: str
    size: int
    etag: str
    changed: bool


@dataclass(frozen=True)
class StoredObject:
    """An object as a listing shows it; `version` changes whenever its bytes are replaced."""

    key: str
    last_modified: datetime  # UTC
    version: str

    @property
    def ident(self) -> str:
        """This version of this key: what a sensor has or has not seen."""
        return f"{self.key}@{self.version}"


@dataclass(frozen=True)
class PartitionWrite:
    """What one table's write did: its files, rows and the partitions it replaced or removed."""

    prefix: str
    targets: tuple[Unit, ...] | tuple[Month, ...]
    files: int
    rows: int


class LocalLake:
    def __init__(self, root: Path, staging: Path | None = None) -> None:
        self.root = root
        self.staging = staging or root.parent / "tmp"

    def path(self, key: str) -> Path:
        target = (self.root / key).resolve()
        if not target.is_relative_to(self.root.resolve()):
            raise ValueError(f"lake key escapes the lake: {key!r}")
        return target

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def put_file(self, key: str, source: Path) -> LakeObject:
        """Copies source to key atomically; identical bytes already there are left untouched."""
        target = self.path(key)
        digest = sha256_file(source)
        changed = not target.exists() or sha256_file(target) != digest
        if changed:
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
        return LakeObject(key, target.as_uri(), target.stat().st_size, digest, changed)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def list_objects(self, prefix: str) -> list[StoredObject]:
        """Files under prefix, without the dot-named temporaries of a write in progress."""
        base = self.path(prefix)
        if not base.exists():
            return []
        found = []
        for path in [base] if base.is_file() else sorted(base.rglob("*")):
            if path.name.startswith(".") or not path.is_file():
                continue
            stat = path.stat()
            found.append(
                StoredObject(
                    path.relative_to(self.root.resolve()).as_posix(),
                    datetime.fromtimestamp(stat.st_mtime, UTC),
                    f"{stat.st_size}-{stat.st_mtime_ns}",
                )
            )
        return found

    def publish_partitions(
        self,
        prefix: str,
        table: pa.Table,
        partition_by: tuple[str, ...],
        targets: Sequence[Unit] | Sequence[Month],
        keep: tuple[str, ...] = ("indice",),
        sort_by: tuple[str, ...] = (),
    ) -> PartitionWrite:
        """Replaces exactly the partitions of `targets` under prefix with `table`'s rows: the
        `indice=/data=` folders of units, or the `indice=/mes=` folders of months
        (carteira_historico). `keep`: partition columns the files hold too; `sort_by`: the
        order of the rows inside a partition's file.

        Targets with no rows lose their old partition; other partitions (another index on the
        same date, another month) are never touched.
        """
        months = any(isinstance(target, Month) for target in targets)
        level = "mes" if months else "data"
        if partition_by[:2] != ("indice", level):
            raise ValueError(f"the first partition columns must be 'indice', '{level}'")
        wanted = {str(target): target for target in targets}
        present = {
            f"{index}/{_value(value)}"
            for index, value in zip(
                table["indice"].to_pylist(), table[level].to_pylist(), strict=True
            )
        }
        extra = present - set(wanted)
        if extra:
            what = "months" if months else "units"
            raise ValueError(f"rows for {what} not being written: {sorted(extra)}")
        table = table.sort_by([(column, "ascending") for column in (*partition_by, *sort_by)])
        chosen = sorted(wanted.values())
        with self._lock(prefix):
            files = self._publish(prefix, table, partition_by, map(_target_dir, chosen), keep)
        return PartitionWrite(prefix, tuple(chosen), files, table.num_rows)

    def partition_dates(self, prefix: str, index: str) -> list[date]:
        """The dates of one index with a partition under a table's prefix."""
        base = self.path(prefix) / f"indice={index}"
        if not base.is_dir():
            return []
        return sorted(
            date.fromisoformat(p.name[len("data=") :])
            for p in base.glob("data=*")
            if p.is_dir() and not p.name.startswith(".")
        )

    def _lock(self, prefix: str):
        """One writer per table at a time; a lock held by a killed process is released."""
        return file_lock(self.staging / f"{prefix.replace('/', '_')}.lock")

    def _publish(
        self,
        prefix: str,
        table: pa.Table,
        partition_by: tuple[str, ...],
        folders: Iterable[str],
        keep: tuple[str, ...],
    ) -> int:
        """Swaps in the given partition folders (relative to prefix); returns the files written."""
        run = self.staging / f"{prefix.replace('/', '_')}-{uuid.uuid4().hex}"
        self._sweep(prefix)
        files = 0
        try:
            files = _write_hive(run, table, partition_by, keep)
            run.mkdir(parents=True, exist_ok=True)  # no rows: nothing written, old ones move here
            base = self.path(prefix)
            for name in folders:
                fresh, final = run / name, base / name
                old = run / f"{OLD_MARK}{name.replace('/', '~')}"
                if _same_tree(fresh, final):
                    continue  # a re-run with the same data changes nothing, not even mtimes
                final.parent.mkdir(parents=True, exist_ok=True)
                if final.exists():
                    os.rename(final, old)
                if fresh.exists():
                    os.rename(fresh, final)
        finally:
            shutil.rmtree(run, ignore_errors=True)
        return files

    def _sweep(self, prefix: str) -> None:
        """Cleans up after a killed writer of this prefix: a partition it had moved aside but
        not yet replaced is put back, then its staging folders are removed."""
        if not self.staging.exists():
            return
        for leftover in self.staging.glob(f"{prefix.replace('/', '_')}-*"):
            if not leftover.is_dir():
                continue
            for old in leftover.glob(f"{OLD_MARK}*"):
                final = self.path(prefix) / old.name.removeprefix(OLD_MARK).replace("~", "/")
                if not final.exists():
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.rename(old, final)
            shutil.rmtree(leftover, ignore_errors=True)

    def partition_units(self, prefix: str) -> list[Unit]:
        base = self.path(prefix)
        if not base.exists():
            return []
        return sorted(
            Unit(p.parent.name[len("indice=") :], date.fromisoformat(p.name[len("data=") :]))
            for p in base.glob("indice=*/data=*")
            if p.is_dir()
        )


def _target_dir(target: Unit | Month) -> str:
    if isinstance(target, Month):
        return f"indice={target.index}/mes={target.month}"
    return f"indice={target.index}/data={target.day.isoformat()}"


def _write_hive(
    root: Path, table: pa.Table, partition_by: tuple[str, ...], keep: tuple[str, ...] = ()
) -> int:
    """Writes one Parquet file per partition of a table sorted by its partition columns.

    Slices of the sorted table are encoded in memory on a few threads (Arrow releases the GIL)
    and written with plain file writes: far cheaper than a partitioned COPY or a dataset writer
    for tens of thousands of tiny partitions (see bench/).
    """
    if table.num_rows == 0:
        return 0
    keys = list(zip(*(table[column].to_pylist() for column in partition_by), strict=True))
    data = table.drop_columns([column for column in partition_by if column not in keep])
    bounds = [i for i in range(1, len(keys)) if keys[i] != keys[i - 1]]
    starts, ends = [0, *bounds], [*bounds, len(keys)]

    def write(span: tuple[int, int]) -> None:
        first, stop = span
        values = keys[first]
        folder = root.joinpath(
            *(f"{name}={_value(values[i])}" for i, name in enumerate(partition_by))
        )
        buffer = pa.BufferOutputStream()
        pq.write_table(data.slice(first, stop - first), buffer)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / PART_FILE).write_bytes(buffer.getvalue().to_pybytes())

    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        list(pool.map(write, zip(starts, ends, strict=True)))
    return len(starts)


def _same_tree(left: Path, right: Path) -> bool:
    """Whether two partition folders hold the same files with the same bytes."""
    if not left.exists() or not right.exists():
        return False
    files = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
    if files != sorted(p.relative_to(right) for p in right.rglob("*") if p.is_file()):
        return False
    return all((left / f).read_bytes() == (right / f).read_bytes() for f in files)


def _value(value: object) -> str:
    text = value.isoformat() if isinstance(value, date) else str(value)
    if not text or "/" in text or text in (".", "..") or "=" in text:
        raise ValueError(f"unsafe partition value: {value!r}")
    return text
