"""A writer killed with SIGKILL in the middle of a write (a real process, no cleanup code runs)
leaves every partition whole: the old one or the new one, never a mix."""

import signal
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import tree_state

from b3_assets.capture.bronze import build_bronze
from b3_assets.capture.raw import read_capture, write_raw
from b3_assets.lake.local import LocalLake
from b3_assets.refine import engine as refine
from b3_contract.lake_keys import Unit

DAY = date(2025, 7, 14)
ATIVOS = refine.TABLES["carteira_ativos"]
IBOV, IBXX = Unit("IBOV", DAY), Unit("IBXX", DAY)

# Runs in the child: makes the N-th call of module.function kill the process on the spot.
KILLER = """
import os, signal, importlib
def kill_on_call(module, name, n):
    target = importlib.import_module(module)
    *path, name = name.split(".")
    for part in path:
        target = getattr(target, part)
    real, calls = getattr(target, name), [0]
    def dying(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(target, name, dying)
"""


def run_killed(code: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLER + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr


def publish_code(
    data_dir: Path, bronze_file: Path, rows: int, kill: tuple[str, str, int], index: str = "IBOV"
) -> str:
    return f"""
        from pathlib import Path
        from b3_assets.refine import engine as refine
        from b3_assets.lake.local import LocalLake
        from b3_contract.lake_keys import Unit
        from datetime import date
        spec = refine.TABLES["carteira_ativos"]
        table = refine.refine_files([Path({str(bronze_file)!r})])["carteira_ativos"]
        kill_on_call(*{kill!r})
        LocalLake(Path({str(data_dir / "lake")!r})).publish_partitions(
            spec.prefix, table.slice(0, {rows}), spec.partition_by,
            [Unit({index!r}, date(2025, 7, 14))])
    """


@pytest.fixture
def published(data_dir, seg2_bytes) -> tuple[Path, Path]:
    write_raw(data_dir, seg2_bytes, "test", datetime.now(UTC), "IBOV")
    bronze_file, _, _ = build_bronze(data_dir, DAY, "IBOV")
    table = refine.refine_files([bronze_file])["carteira_ativos"]
    LocalLake(data_dir / "lake").publish_partitions(
        ATIVOS.prefix, table, ATIVOS.partition_by, [IBOV]
    )
    return data_dir, bronze_file


def partition_rows(data_dir: Path, index: str = "IBOV") -> int:
    return pq.read_table(data_dir / f"lake/refined/ativos/indice={index}/data=2025-07-14").num_rows


@pytest.mark.parametrize(
    "kill",
    [
        ("b3_assets.lake.local", "pq.write_table", 20),  # 20 of 50 new files written
        ("b3_assets.lake.local", "os.rename", 1),  # old partition moved aside, new not yet in
        ("b3_assets.lake.local", "shutil.rmtree", 1),  # new partition in, old not yet removed
    ],
    ids=["mid-files", "between-renames", "after-renames"],
)
def test_a_killed_refine_publish_leaves_a_whole_partition(published, kill) -> None:
    data_dir, bronze_file = published
    lake_before = tree_state(data_dir / "lake")
    run_killed(publish_code(data_dir, bronze_file, 50, kill))
    lake = LocalLake(data_dir / "lake")
    lake._sweep(ATIVOS.prefix)  # what the next writer does first
    rows = partition_rows(data_dir)
    if kill[1] == "shutil.rmtree":
        assert rows == 50  # the new partition had landed whole
    else:
        assert rows == 84 and tree_state(data_dir / "lake") == lake_before
    assert not list((data_dir / "tmp").glob("refined_ativos-*"))
    # The next run publishes normally.
    table = refine.refine_files([bronze_file])["carteira_ativos"]
    lake.publish_partitions(ATIVOS.prefix, table, ATIVOS.partition_by, [IBOV])
    assert partition_rows(data_dir) == 84


@pytest.mark.parametrize(
    "kill",
    [
        ("b3_assets.lake.local", "pq.write_table", 20),
        ("b3_assets.lake.local", "os.rename", 1),
        ("b3_assets.lake.local", "shutil.rmtree", 1),
    ],
    ids=["mid-files", "between-renames", "after-renames"],
)
def test_a_killed_publish_of_one_index_leaves_another_index_of_the_date_alone(
    published, seg2_bytes, kill
) -> None:
    data_dir, _ = published
    write_raw(data_dir, seg2_bytes, "test", datetime.now(UTC), "IBXX")  # B3's bytes as IBXX's
    ibxx_file, _, _ = build_bronze(data_dir, DAY, "IBXX")
    lake = LocalLake(data_dir / "lake")
    table = refine.refine_files([ibxx_file])["carteira_ativos"]
    lake.publish_partitions(ATIVOS.prefix, table, ATIVOS.partition_by, [IBXX])
    ibov_before = tree_state(data_dir / "lake/refined/ativos/indice=IBOV")
    ibxx_before = tree_state(data_dir / "lake/refined/ativos/indice=IBXX")
    # IBXX re-published with other rows (50 of its 84), killed on the way.
    run_killed(publish_code(data_dir, ibxx_file, 50, kill, index="IBXX"))
    lake._sweep(ATIVOS.prefix)
    assert tree_state(data_dir / "lake/refined/ativos/indice=IBOV") == ibov_before
    if kill[1] == "shutil.rmtree":
        assert partition_rows(data_dir, "IBXX") == 50
    else:
        assert tree_state(data_dir / "lake/refined/ativos/indice=IBXX") == ibxx_before
    assert not list((data_dir / "tmp").glob("refined_ativos-*"))
    # The next IBXX publish (other rows again) still leaves IBOV's bytes as they were.
    lake.publish_partitions(ATIVOS.prefix, table.slice(0, 10), ATIVOS.partition_by, [IBXX])
    assert partition_rows(data_dir, "IBXX") == 10
    assert tree_state(data_dir / "lake/refined/ativos/indice=IBOV") == ibov_before
    assert lake.partition_units(ATIVOS.prefix) == [IBOV, IBXX]


def test_a_killed_capture_leaves_no_capture_and_the_next_one_succeeds(data_dir, seg2_bytes) -> None:
    source = data_dir.parent / "response.json"
    source.write_bytes(seg2_bytes)
    run_killed(f"""
        from datetime import datetime
        from pathlib import Path
        from b3_assets.capture.raw import write_raw
        kill_on_call("b3_assets.capture.files", "os.replace", 1)  # raw written, not in place
        raw = Path({str(source)!r}).read_bytes()
        write_raw(Path({str(data_dir)!r}), raw, "test", datetime.now(), "IBOV")
    """)
    assert read_capture(data_dir, DAY, "IBOV") is None
    folder = data_dir / "raw/IBOV/2025-07-14"
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == []
    capture, changed = write_raw(data_dir, seg2_bytes, "test", datetime.now(UTC), "IBOV")
    assert changed and read_capture(data_dir, DAY, "IBOV") == capture
    assert (folder / "portfolio_IBOV.json").read_bytes() == seg2_bytes
