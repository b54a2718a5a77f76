"""The upgrade of a data dir from the earlier IBOV-only layout (tests/fixtures/old_layout, written
by the real code of commit 534144e): every byte moves to its (index, date) place, nothing is lost
on a conflict, a stray file or a crash, and a second run has nothing to do."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import tree_state

from b3_assets.lake import upgrade
from b3_assets.lake.upgrade import (
    UpgradePlan,
    apply_data_dir,
    needs_upgrade,
    parquet_indices,
    plan_data_dir,
)
from b3_contract.lake_keys import Unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "old_layout" / "data"
DATES = ("2025-03-05", "2025-03-06", "2025-07-14")
IBOV_UNITS = {Unit("IBOV", date.fromisoformat(day)) for day in DATES}


@pytest.fixture
def old_dir(tmp_path: Path) -> Path:
    """A copy of the fixture, with what the upgrade must leave alone beside it."""
    target = tmp_path / "data"
    shutil.copytree(FIXTURE, target)
    (target / "tmp" / "locks").mkdir(parents=True)
    (target / "tmp" / "locks" / "capture-2025-03-05.lock").write_bytes(b"")
    (target / "catalog.duckdb").write_bytes(b"not touched")
    (target / "lake" / "glue").mkdir()
    (target / "lake" / "glue" / "refine_job.py").write_bytes(b"# deployed")
    return target


def digests(root: Path) -> dict[str, str]:
    """Every file under raw/, bronze/ and lake/ with its sha256."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for layer in ("raw", "bronze", "lake")
        for path in sorted((root / layer).rglob("*"))
        if path.is_file() and not path.relative_to(root).as_posix().startswith("lake/glue/")
    }


def day_of(old: str) -> str:
    """The date of an earlier-layout path."""
    for part in old.split("/"):
        if part.startswith("data="):
            return part.removeprefix("data=")
        if len(part) == 10 and part[4] == "-":
            return part
    raise AssertionError(old)


def new_place(old: str, index: str) -> str:
    """Where the new layout keeps a file of the earlier one."""
    parts = old.split("/")
    if parts[0] in ("raw", "bronze"):
        return "/".join([parts[0], index, *parts[1:]])
    if parts[:2] == ["lake", "raw"]:
        return "/".join(["lake", "raw", index, *parts[2:]])
    assert parts[:2] == ["lake", "refined"], old
    return "/".join([*parts[:3], f"indice={index}", *parts[3:]])


def expected(before: dict[str, str], index_of: dict[str, str] | None = None) -> dict[str, str]:
    index_of = index_of or {}
    return {new_place(old, index_of.get(day_of(old), "IBOV")): sha for old, sha in before.items()}


def untouched(root: Path) -> dict[str, tuple[str, int]]:
    """What the upgrade leaves alone: tmp/, the catalog, glue/."""
    state = tree_state(root)
    return {
        path: value
        for path, value in state.items()
        if path.startswith(("tmp/", "lake/glue/")) or path == "catalog.duckdb"
    }


def relabel(root: Path, day: str, index: str) -> None:
    """Makes one date of the fixture another index's, as the earlier code with B3_INDEX=index
    would have written it: the capture record, the portfolio file's name, the Parquet columns."""
    record = root / "raw" / day / "capture.json"
    body = json.loads(record.read_bytes())
    body |= {"index": index, "raw_file": f"portfolio_{index}.json"}
    record.write_text(json.dumps(body, indent=1))
    (root / "raw" / day / "portfolio_IBOV.json").rename(root / "raw" / day / body["raw_file"])
    files = [root / "bronze" / day / "dados_originais.parquet"]
    files += [root / "lake" / "raw" / day / "dados_originais.parquet"]
    files += sorted((root / "lake" / "refined").glob(f"*/data={day}/**/*.parquet"))
    for path in files:
        table = pq.ParquetFile(path).read()
        column = "_index" if "_index" in table.column_names else "indice"
        position = table.column_names.index(column)
        table = table.set_column(position, column, pa.array([index] * table.num_rows))
        pq.write_table(table, path)


# ------------------------------------------------------------------ the plan (dry run)


def test_the_plan_lists_every_move_and_changes_nothing(old_dir: Path) -> None:
    before = tree_state(old_dir)
    assert needs_upgrade(old_dir)
    plan = plan_data_dir(old_dir)
    assert tree_state(old_dir) == before  # sha256 and mtime of every file, tmp/ included
    old_files = digests(old_dir)
    assert len(old_files) == len(plan.moves) == len(list(FIXTURE.rglob("*.parquet"))) + 8
    assert {move.source: move.target for move in plan.moves} == {
        old: new_place(old, "IBOV") for old in old_files
    }
    assert plan.units == IBOV_UNITS
    assert not plan.conflicts and not plan.strays
    assert not any(move.identical for move in plan.moves)

    lines = plan.describe()
    assert lines[0] == (
        f"{len(old_files)} file(s) of 3 unit(s): IBOV/2025-03-05, IBOV/2025-03-06, IBOV/2025-07-14"
    )
    assert (
        "move raw/2025-03-05/IBOVDia_05-03-25.csv -> raw/IBOV/2025-03-05/IBOVDia_05-03-25.csv"
        in (lines)
    )
    assert (
        "move lake/refined/ativos/data=2025-07-14/acao=VALE3/part-00000.parquet -> "
        "lake/refined/ativos/indice=IBOV/data=2025-07-14/acao=VALE3/part-00000.parquet"
    ) in lines


def test_the_plan_moves_refined_first_and_raw_objects_last(old_dir: Path) -> None:
    """A new raw key starts a refine, so it appears only once its partitions are in place; a
    capture record moves after the files it records."""
    sources = [move.source for move in plan_data_dir(old_dir).moves]
    layers = [
        "lake/raw" if s.startswith("lake/raw/") else "refined" if "refined" in s else s[:3]
        for s in sources
    ]
    assert layers == sorted(layers, key=["refined", "bro", "raw", "lake/raw"].index)
    for day in DATES:
        record = sources.index(f"raw/{day}/capture.json")
        assert record > sources.index(f"raw/{day}/portfolio_IBOV.json")
        assert record < sources.index(f"lake/raw/{day}/dados_originais.parquet")
    assert sources.index("raw/2025-03-05/IBOVDia_05-03-25.csv") < sources.index(
        "raw/2025-03-05/capture.json"
    )


# ------------------------------------------------------------------ applying it


def test_apply_moves_every_byte_to_the_new_layout(old_dir: Path) -> None:
    before = digests(old_dir)
    modes = {path: (old_dir / path).stat().st_mode for path in before}
    kept = untouched(old_dir)
    plan = plan_data_dir(old_dir)
    done = apply_data_dir(old_dir, plan)
    assert done.moves == plan.moves and done.units == IBOV_UNITS
    assert not done.conflicts and not done.strays
    after = digests(old_dir)
    assert after == expected(before)
    assert {new_place(p, "IBOV"): mode for p, mode in modes.items()} == {
        path: (old_dir / path).stat().st_mode for path in after
    }
    assert untouched(old_dir) == kept
    # no earlier-layout folder is left, not even an empty one
    for layer in ("raw", "bronze", "lake/raw"):
        assert [path.name for path in (old_dir / layer).iterdir()] == ["IBOV"]
    for table in ("ativos", "header", "setores"):
        assert [p.name for p in (old_dir / "lake/refined" / table).iterdir()] == ["indice=IBOV"]

    assert not needs_upgrade(old_dir)
    again = plan_data_dir(old_dir)
    assert again == UpgradePlan()
    assert again.describe() == ["0 file(s) of 0 unit(s)"]
    # the old plan applied once more finds every file moved already: nothing happens
    state = tree_state(old_dir)
    assert apply_data_dir(old_dir, plan) == UpgradePlan()
    assert tree_state(old_dir) == state


def test_the_index_comes_from_the_data_never_a_default(old_dir: Path) -> None:
    relabel(old_dir, "2025-03-06", "SMLL")
    before = digests(old_dir)
    plan = plan_data_dir(old_dir)
    smll = Unit("SMLL", date(2025, 3, 6))
    assert plan.units == (IBOV_UNITS - {Unit("IBOV", date(2025, 3, 6))}) | {smll}
    assert {move.target for move in plan.moves if move.unit == smll} == {
        new_place(old, "SMLL") for old in before if day_of(old) == "2025-03-06"
    }
    assert "raw/SMLL/2025-03-06/portfolio_SMLL.json" in {move.target for move in plan.moves}
    apply_data_dir(old_dir, plan)
    assert digests(old_dir) == expected(before, {"2025-03-06": "SMLL"})
    assert plan_data_dir(old_dir).empty


def test_an_empty_refined_file_takes_the_index_of_its_dates_raw_object(old_dir: Path) -> None:
    relabel(old_dir, "2025-03-05", "SMLL")
    empty = old_dir / "lake/refined/setores/data=2025-03-05/part-00000.parquet"
    empty.parent.mkdir(parents=True)
    pq.write_table(pa.table({"indice": pa.array([], pa.string())}), empty)
    assert parquet_indices(empty, "indice") == set()
    plan = plan_data_dir(old_dir)
    targets = {move.source: move.target for move in plan.moves}
    assert targets["lake/refined/setores/data=2025-03-05/part-00000.parquet"] == (
        "lake/refined/setores/indice=SMLL/data=2025-03-05/part-00000.parquet"
    )


# ------------------------------------------------------------------ nothing lost


def test_a_target_with_other_bytes_is_a_conflict_and_both_are_kept(old_dir: Path) -> None:
    before = digests(old_dir)
    other = {
        "raw/IBOV/2025-03-05/capture.json": b"{}",
        "lake/refined/header/indice=IBOV/data=2025-03-06/part-00000.parquet": b"other bytes",
    }
    for path, data in other.items():
        (old_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (old_dir / path).write_bytes(data)
    same = "bronze/IBOV/2025-07-14/dados_originais.parquet"  # the same bytes: not a conflict
    (old_dir / same).parent.mkdir(parents=True)
    shutil.copyfile(old_dir / "bronze/2025-07-14/dados_originais.parquet", old_dir / same)

    plan = plan_data_dir(old_dir)
    assert plan.conflicts == [
        "lake/refined/header/data=2025-03-06/part-00000.parquet: lake/refined/header/"
        "indice=IBOV/data=2025-03-06/part-00000.parquet exists with other bytes; both kept",
        "raw/2025-03-05/capture.json: raw/IBOV/2025-03-05/capture.json exists with other "
        "bytes; both kept",
    ]
    conflicting = {
        "raw/2025-03-05/capture.json",
        "lake/refined/header/data=2025-03-06/part-00000.parquet",
    }
    assert {move.source for move in plan.moves} == set(before) - conflicting
    identical = [move for move in plan.moves if move.identical]
    assert [move.target for move in identical] == [same]
    assert f"drop bronze/2025-07-14/dados_originais.parquet (the same bytes are at {same})" in (
        plan.describe()
    )

    done = apply_data_dir(old_dir, plan)
    assert done.conflicts == plan.conflicts
    after = digests(old_dir)
    for path, data in other.items():  # the targets keep their bytes
        assert after.pop(path) == hashlib.sha256(data).hexdigest()
    assert after == {
        (old if old in conflicting else new_place(old, "IBOV")): sha for old, sha in before.items()
    }
    again = plan_data_dir(old_dir)
    assert again.empty and again.conflicts == plan.conflicts
    assert needs_upgrade(old_dir)  # the conflict stays until someone decides


def test_a_csv_left_behind_follows_its_moved_capture_record(old_dir: Path) -> None:
    """The CSV download cannot move (its target holds other bytes) while its capture record
    does: the next plan still knows the CSV's index from the moved record."""
    target = old_dir / "raw/IBOV/2025-03-05/IBOVDia_05-03-25.csv"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"another download")
    apply_data_dir(old_dir, plan_data_dir(old_dir))
    assert (old_dir / "raw/IBOV/2025-03-05/capture.json").is_file()
    again = plan_data_dir(old_dir)
    assert again.conflicts == [
        "raw/2025-03-05/IBOVDia_05-03-25.csv: raw/IBOV/2025-03-05/IBOVDia_05-03-25.csv exists "
        "with other bytes; both kept"
    ]
    assert not again.strays and again.empty


def test_stray_files_are_reported_and_left_in_place(old_dir: Path) -> None:
    strays = {
        "raw/README.txt": "not a raw folder of either layout",
        "raw/2025-03-05/notes.txt": "not a file of a raw capture",
        "raw/2025-13-45/capture.json": "not a raw folder of either layout",
        "bronze/2025-03-05/.dados_originais.parquet.x1.tmp": "not a bronze file with one _index",
        "lake/raw/2025-03-05/other.parquet": "not a raw object of either layout",
        "lake/refined/ativos/data=2025-03-05/acao=ABEV3/notes.txt": (
            "not a refined file of the earlier layout"
        ),
        "lake/refined/precos/data=2025-03-05/part-00000.parquet": (
            "not a refined file of the earlier layout"
        ),
    }
    for path in strays:
        (old_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (old_dir / path).write_bytes(f"stray {path}".encode())
    success = old_dir / "lake/refined/ativos/_SUCCESS"  # Spark's marker: neither reported nor moved
    success.write_bytes(b"")
    before = digests(old_dir)

    plan = plan_data_dir(old_dir)
    assert plan.strays == sorted(f"{path}: {why}" for path, why in strays.items())
    assert not plan.conflicts
    assert {move.source for move in plan.moves} == set(before) - set(strays) - {
        "lake/refined/ativos/_SUCCESS"
    }
    done = apply_data_dir(old_dir, plan)
    assert done.strays == plan.strays
    after = digests(old_dir)
    for path in [*strays, "lake/refined/ativos/_SUCCESS"]:
        assert after.pop(path) == before.pop(path)
    assert after == expected(before)
    again = plan_data_dir(old_dir)
    assert again.empty and again.strays == plan.strays
    assert not needs_upgrade(old_dir)  # stray files alone ask for no upgrade


def test_a_crash_half_way_is_finished_by_the_next_run(old_dir: Path) -> None:
    before = digests(old_dir)
    plan = plan_data_dir(old_dir)
    half = len(plan.moves) // 2
    apply_data_dir(old_dir, UpgradePlan(moves=plan.moves[:half]))  # then the process died
    middle = digests(old_dir)
    assert Counter(middle.values()) == Counter(before.values())
    for old, sha in before.items():  # each file in exactly one place, with its bytes
        places = [path for path in (old, new_place(old, "IBOV")) if path in middle]
        assert len(places) == 1 and middle[places[0]] == sha
    assert needs_upgrade(old_dir)
    again = plan_data_dir(old_dir)
    assert again.moves == plan.moves[half:]
    apply_data_dir(old_dir, again)
    assert digests(old_dir) == expected(before)
    assert plan_data_dir(old_dir).empty


class Crash(BaseException):
    """The process dies here (not an error any code would catch)."""


def test_a_crash_inside_a_move_leaves_both_copies_then_finishes(
    old_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the new name was written and before the old one was removed: the file is in
    both places, the next plan drops the old one."""
    before = digests(old_dir)
    plan = plan_data_dir(old_dir)
    calls = 0
    real = upgrade._fsync_dir

    def dies_on_the_21st(folder: Path) -> None:
        nonlocal calls
        calls += 1
        if calls == 21:  # the 11th move: linked, not yet unlinked
            raise Crash
        real(folder)

    monkeypatch.setattr(upgrade, "_fsync_dir", dies_on_the_21st)
    with pytest.raises(Crash):
        apply_data_dir(old_dir, plan)
    monkeypatch.setattr(upgrade, "_fsync_dir", real)
    caught = plan.moves[10]
    assert (old_dir / caught.source).is_file() and (old_dir / caught.target).is_file()
    again = plan_data_dir(old_dir)
    assert again.moves[0] == replace(caught, identical=True)
    assert again.moves[1:] == plan.moves[11:]
    apply_data_dir(old_dir, again)
    assert digests(old_dir) == expected(before)


def test_without_hard_links_the_files_are_copied_then_removed(
    old_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = digests(old_dir)
    modes = {path: (old_dir / path).stat().st_mode for path in before}

    def no_links(source: object, target: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(upgrade.os, "link", no_links)
    done = apply_data_dir(old_dir, plan_data_dir(old_dir))
    assert not done.conflicts
    assert digests(old_dir) == expected(before)
    assert {new_place(p, "IBOV"): mode for p, mode in modes.items()} == {
        path: (old_dir / path).stat().st_mode for path in expected(before)
    }
    assert not [path for path in old_dir.rglob("*.tmp")]


def test_an_empty_or_new_data_dir_needs_nothing(tmp_path: Path) -> None:
    assert not needs_upgrade(tmp_path)
    assert plan_data_dir(tmp_path) == UpgradePlan()
    new = tmp_path / "raw" / "IBOV" / "2025-03-05"
    new.mkdir(parents=True)
    (new / "capture.json").write_bytes(b"{}")
    assert not needs_upgrade(tmp_path) and plan_data_dir(tmp_path) == UpgradePlan()
    assert os.listdir(tmp_path) == ["raw"]
