"""What a unit's refined partitions were built from (b3_contract.refine_manifest): the contract
version is a stable digest of the SQL and the table contract, and a unit counts as unchanged
only when its own raw object and those of every session its partitions read are the same."""

from __future__ import annotations

from datetime import date

from b3_contract.lake_keys import Unit
from b3_contract.refine_manifest import (
    contract_version,
    manifest,
    manifest_key,
    unchanged,
    unit_inputs,
)

U = Unit.parse
SQL = {"ativos.sql": "SELECT 1", "header.sql": "SELECT 2"}
CAPTURED = {"IBOV": [date(2025, 6, 30), date(2025, 7, 11), date(2025, 7, 14), date(2025, 8, 1)]}
ETAGS = {U(f"IBOV/{day}"): f'"{day}"' for day in CAPTURED["IBOV"]}


def test_the_contract_version_is_stable_and_follows_every_sql_text() -> None:
    assert contract_version(SQL) == contract_version(dict(reversed(SQL.items())))
    assert contract_version(SQL) != contract_version({**SQL, "header.sql": "SELECT 2 "})
    assert len(contract_version(SQL)) == 64


def test_a_units_inputs_are_its_raw_object_its_neighbours_and_its_month() -> None:
    inputs = unit_inputs(U("IBOV/2025-07-11"), CAPTURED, ETAGS)
    # 06-30: the session before (its change list compares with it); 07-14: the session after
    # and its month; 08-01 is neither
    assert inputs == {
        "IBOV/2025-06-30": '"2025-06-30"',
        "IBOV/2025-07-11": '"2025-07-11"',
        "IBOV/2025-07-14": '"2025-07-14"',
    }
    assert manifest_key(U("IBOV/2025-07-11")) == "manifests/refine/IBOV/2025-07-11.json"


def test_unchanged_only_with_the_same_version_and_every_same_input() -> None:
    unit, version = U("IBOV/2025-07-11"), contract_version(SQL)
    inputs = unit_inputs(unit, CAPTURED, ETAGS)
    recorded = manifest(unit, version, inputs, {"carteira_ativos": 84})
    assert unchanged(recorded, version, inputs)
    assert not unchanged(None, version, inputs)
    assert not unchanged(recorded, contract_version({"ativos.sql": "SELECT 3"}), inputs)
    neighbour = {**ETAGS, U("IBOV/2025-07-14"): '"other bytes"'}
    assert not unchanged(recorded, version, unit_inputs(unit, CAPTURED, neighbour))
    gap = {"IBOV": sorted([*CAPTURED["IBOV"], date(2025, 7, 10)])}  # a session imported before
    assert not unchanged(recorded, version, unit_inputs(unit, gap, ETAGS))
    assert not unchanged({**recorded, "format": 0}, version, inputs)
