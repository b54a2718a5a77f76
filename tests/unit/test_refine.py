"""The refine SQL on DuckDB checked against B3's own numbers in the fixtures."""

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import tree_state

from b3_assets.capture.bronze import write_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.lake.local import LocalLake
from b3_assets.refine import engine as refine
from b3_assets.source.models import parse_br_decimal, parse_br_integer
from b3_contract.lake_keys import Unit

FETCHED_AT = datetime(2025, 7, 12, 13, 0, tzinfo=UTC)


def bronze(data_dir: Path, raw: bytes, index: str = "IBOV") -> Path:
    capture, _ = write_raw(data_dir, raw, "http://b3/x", FETCHED_AT, index)
    return write_bronze(data_dir, json.loads(raw), capture)


@pytest.fixture
def refined(data_dir, seg2_bytes) -> dict[str, pa.Table]:
    return refine.refine_files([bronze(data_dir, seg2_bytes)])


def test_tables_have_exactly_the_contract_columns_and_types(refined) -> None:
    for name, spec in refine.TABLES.items():
        assert refined[name].schema.equals(refine.arrow_schema(spec)), name
    columns = [c for c, _ in refine.TABLES["carteira_ativos"].columns]
    assert columns[-3:] == ["indice", "data", "acao"]
    assert set(refined["carteira_ativos"]["indice"].to_pylist()) == {"IBOV"}
    assert set(refined["carteira_header"]["indice"].to_pylist()) == {"IBOV"}


def test_ativos_match_b3s_values(refined, seg2) -> None:
    rows = {r["acao"]: r for r in refined["carteira_ativos"].to_pylist()}
    assert len(rows) == 84
    for result in seg2["results"]:
        row = rows[result["cod"]]
        assert row["participacao_pct"] == parse_br_decimal(result["part"])
        assert row["qtd_teorica"] == parse_br_integer(result["theoricalQty"])
        assert row["setor"] == result["segment"]
        assert row["participacao_setor_pct"] == parse_br_decimal(result["partAcum"])
        assert row["empresa"] == result["asset"]
        assert row["tipo"] == " ".join(result["type"].split())
        assert row["data"] == date(2025, 7, 14)
        assert row["data_coleta"] == FETCHED_AT
        assert row["dias_desde_rebalanceamento"] == 74  # May 1 -> Jul 14
    assert rows["WEGE3"]["classe"] == "ON" and rows["WEGE3"]["governanca"] == "NM"
    assert rows["ABEV3"]["governanca"] is None and rows["ABEV3"]["tipo"] == "ON"


def test_ranking_and_cumulative_weight(refined) -> None:
    rows = sorted(refined["carteira_ativos"].to_pylist(), key=lambda r: r["ranking"])
    assert [r["ranking"] for r in rows] == list(range(1, 85))
    assert rows[0]["acao"] == "VALE3" and rows[0]["participacao_pct"] == Decimal("11.375")
    assert rows[1]["acao"] == "ITUB4"
    weights = [r["participacao_pct"] for r in rows]
    assert weights == sorted(weights, reverse=True)
    running = Decimal(0)
    for row in rows:
        running += row["participacao_pct"]
        assert row["participacao_acumulada_pct"] == running
    assert rows[-1]["participacao_acumulada_pct"] == Decimal("100.000")


def test_header_totals(refined, seg2) -> None:
    [header] = refined["carteira_header"].to_pylist()
    assert header["qtd_teorica_total"] == 91_922_324_640
    assert header["redutor"] == Decimal("15438607.05630450")
    assert header["participacao_total_pct"] == Decimal("100.000")
    assert header["total_ativos"] == 84
    assert header["data_carteira"] == header["data"] == date(2025, 7, 14)
    assert header["defasagem_dias"] == 2  # captured Saturday 12th for Monday 14th


def test_sectors_sum_to_b3s_part_acum(refined, seg2) -> None:
    expected = defaultdict(lambda: [0, Decimal(0), 0])
    for result in seg2["results"]:
        entry = expected[result["segment"]]
        entry[0] += 1
        entry[1] += parse_br_decimal(result["part"])
        entry[2] += parse_br_integer(result["theoricalQty"])
        assert entry[1] <= parse_br_decimal(result["partAcum"])
    sectors = {r["setor"]: r for r in refined["carteira_setores"].to_pylist()}
    assert set(sectors) == set(expected)
    for name, (count, weight, qty) in expected.items():
        assert (sectors[name]["total_ativos"], sectors[name]["participacao_pct"]) == (count, weight)
        assert sectors[name]["qtd_teorica"] == qty
    assert sum(s["participacao_pct"] for s in sectors.values()) == Decimal("100.000")
    # Rows come ordered by the table key, so re-runs write identical bytes.
    names = refined["carteira_setores"]["setor"].to_pylist()
    assert names == sorted(names)


def test_segment_1_capture_has_no_sectors(data_dir, fixtures_dir) -> None:
    raw = (fixtures_dir / "portfolio_day_IBOV_seg1_2025-03-05.json").read_bytes()
    out = refine.refine_files([bronze(data_dir, raw)])
    assert out["carteira_ativos"].num_rows == 87
    assert out["carteira_setores"].num_rows == 0
    assert set(out["carteira_ativos"]["setor"].to_pylist()) == {None}
    assert {r["dias_desde_rebalanceamento"] for r in out["carteira_ativos"].to_pylist()} == {63}


def test_many_dates_in_one_run_rank_each_date_separately(data_dir, fixtures_dir) -> None:
    files = [
        bronze(data_dir, p.read_bytes())
        for p in sorted(fixtures_dir.glob("portfolio_day_IBOV_seg1_2025-0[23]-*.json"))
    ]
    out = refine.refine_files(files)
    ativos = out["carteira_ativos"].to_pylist()
    by_date = defaultdict(list)
    for row in ativos:
        by_date[row["data"]].append(row["ranking"])
    assert len(by_date) == 6
    assert all(sorted(r) == list(range(1, 88)) for r in by_date.values())
    assert out["carteira_header"].num_rows == 6


def test_spark_sql_transpiles_to_duckdb() -> None:
    for name in refine.TABLES:
        sql = refine.duckdb_sql(name)
        assert "FROM bronze" in sql
    assert "STR_SPLIT_REGEX" in refine.duckdb_sql("carteira_ativos")


def units(*days: date, index: str = "IBOV") -> list[Unit]:
    return [Unit(index, day) for day in days]


def test_publish_replaces_only_the_written_dates(data_dir, fixtures_dir) -> None:
    lake = LocalLake(data_dir / "lake")
    spec = refine.TABLES["carteira_ativos"]
    files = {
        p.stem[-10:]: bronze(data_dir, p.read_bytes())
        for p in fixtures_dir.glob("portfolio_day_IBOV_seg1_2025-03-0*.json")
    }
    both = refine.refine_files(list(files.values()))["carteira_ativos"]
    lake.publish_partitions(
        spec.prefix, both, spec.partition_by, units(date(2025, 3, 5), date(2025, 3, 6))
    )
    ibov = data_dir / "lake/refined/ativos/indice=IBOV"
    untouched = sorted((ibov / "data=2025-03-05").rglob("*.parquet"))
    stamps = [p.stat().st_mtime_ns for p in untouched]
    # Rewrite 03-06 with only 10 constituents: its old 87 partitions must all go.
    only_06 = both.filter(pa.compute.equal(both["data"], pa.scalar(date(2025, 3, 6)))).slice(0, 10)
    write = lake.publish_partitions(
        spec.prefix, only_06, spec.partition_by, units(date(2025, 3, 6))
    )
    assert write.files == 10
    assert len(list((ibov / "data=2025-03-06").iterdir())) == 10
    assert [p.stat().st_mtime_ns for p in untouched] == stamps
    assert not any((data_dir / "tmp").glob("refined_ativos-*"))
    assert lake.partition_units(spec.prefix) == units(date(2025, 3, 5), date(2025, 3, 6))


def test_publish_refuses_rows_of_other_units(data_dir, seg2_bytes) -> None:
    table = refine.refine_files([bronze(data_dir, seg2_bytes)])["carteira_ativos"]
    lake = LocalLake(data_dir / "lake")
    spec = refine.TABLES["carteira_ativos"]
    with pytest.raises(ValueError, match=r"rows for units not being written: \['IBOV/2025-07-14'"):
        lake.publish_partitions(spec.prefix, table, spec.partition_by, units(date(2025, 7, 15)))
    # The same date of another index is another unit: IBOV's rows are not IBXX's.
    with pytest.raises(ValueError, match="rows for units not being written"):
        lake.publish_partitions(
            spec.prefix, table, spec.partition_by, units(date(2025, 7, 14), index="IBXX")
        )
    with pytest.raises(ValueError, match="first partition columns must be 'indice', 'data'"):
        lake.publish_partitions(spec.prefix, table, ("data", "acao"), units(date(2025, 7, 14)))
    assert not (data_dir / "lake/refined").exists()


def test_publishing_one_index_never_touches_another_index_of_the_same_date(
    data_dir, seg2_bytes, fixtures_dir
) -> None:
    lake = LocalLake(data_dir / "lake")
    day = date(2025, 7, 14)
    ibov = bronze(data_dir, seg2_bytes)
    ibxx = bronze(data_dir, seg2_bytes, "IBXX")  # B3's response, stored as another index's
    both = refine.refine_files([ibov, ibxx])
    for name, spec in refine.TABLES.items():
        assert set(both[name]["indice"].to_pylist()) == ({"IBOV", "IBXX"}), name
        lake.publish_partitions(
            spec.prefix, both[name], spec.partition_by, [Unit("IBOV", day), Unit("IBXX", day)]
        )
    ibov_before = {
        spec.prefix: tree_state(data_dir / "lake" / spec.prefix / "indice=IBOV")
        for spec in refine.TABLES.values()
    }
    assert all(ibov_before.values())
    # IBXX again with other rows: the segment-1 capture (no sectors) of the same date, 10 rows.
    seg1 = (fixtures_dir / "portfolio_day_IBOV_seg1_2025-07-14.json").read_bytes()
    again = refine.refine_files([bronze(data_dir, seg1, "IBXX")])
    for name, spec in refine.TABLES.items():
        rows = again[name].slice(0, 10)
        lake.publish_partitions(spec.prefix, rows, spec.partition_by, [Unit("IBXX", day)])
    for spec in refine.TABLES.values():
        assert (
            tree_state(data_dir / "lake" / spec.prefix / "indice=IBOV") == ibov_before[spec.prefix]
        )
    ativos = data_dir / "lake/refined/ativos"
    assert len(list((ativos / "indice=IBXX/data=2025-07-14").iterdir())) == 10
    assert len(list((ativos / "indice=IBOV/data=2025-07-14").iterdir())) == 84
    # IBXX's sectors are gone with its segment-2 capture (a unit with no rows loses its
    # partition); IBOV's stay.
    assert not (data_dir / "lake/refined/setores/indice=IBXX/data=2025-07-14").exists()
    assert lake.partition_units("refined/setores") == [Unit("IBOV", day)]
    assert lake.partition_units("refined/ativos") == [Unit("IBOV", day), Unit("IBXX", day)]


def test_a_killed_writer_leaves_the_old_partition_readable(
    data_dir, seg2_bytes, monkeypatch
) -> None:
    lake = LocalLake(data_dir / "lake")
    spec = refine.TABLES["carteira_ativos"]
    table = refine.refine_files([bronze(data_dir, seg2_bytes)])["carteira_ativos"]
    day = units(date(2025, 7, 14))
    lake.publish_partitions(spec.prefix, table, spec.partition_by, day)
    before = sorted(p.relative_to(data_dir) for p in (data_dir / "lake").rglob("*.parquet"))

    import b3_assets.lake.local as local_lake

    calls = {"n": 0}
    real = local_lake.pq.write_table

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 20:
            raise KeyboardInterrupt("killed mid-write")
        return real(*args, **kwargs)

    monkeypatch.setattr(local_lake.pq, "write_table", dying)
    with pytest.raises(KeyboardInterrupt):
        lake.publish_partitions(spec.prefix, table.slice(0, 50), spec.partition_by, day)
    after = sorted(p.relative_to(data_dir) for p in (data_dir / "lake").rglob("*.parquet"))
    assert after == before


def test_a_raw_object_of_an_older_version_is_refused_by_name(data_dir, seg2_bytes) -> None:
    import pyarrow.parquet as pq

    path = bronze(data_dir, seg2_bytes)
    pq.write_table(pq.read_table(path).drop_columns(["_origin"]), path)
    with pytest.raises(refine.RefineError, match=r"lacks _origin: it was written by an older"):
        refine.refine_files([path])
