"""The analytic tables against B3's real files, each answer computed again here independently:
the CSV downloads read with the csv module, the API answers with json, the sessions from
exchange_calendars itself."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import dagster as dg
import exchange_calendars as xcals
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import CSV_DATES, SEG2_0714, free_port, import_csvs
from PIL import Image

from b3_assets.capture.raw import write_raw
from b3_assets.defs.assets import build_assets
from b3_assets.defs.resources import resources_for
from b3_assets.defs.results import materialized_metadata
from b3_assets.refine.catalog import run_query
from b3_assets.settings import Settings

JULY = date(2025, 7, 14)
MARCH_12 = date(2025, 3, 12)


def range_run(data_dir: Path, first: date, last: date) -> dg.ExecuteInProcessResult:
    """The whole IBOV chain over first..last as one run, B3 unreachable (captured dates only)."""
    down = f"http://127.0.0.1:{free_port()}/indexProxy/indexCall"
    settings = Settings(data_dir=data_dir, api_url=down, http_retries=0, http_timeout=2)
    return dg.materialize(
        build_assets(["IBOV"]),
        resources=resources_for(settings),
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )


def capture_api_answer(data_dir: Path, path: Path) -> None:
    fetched = datetime(2025, 7, 14, 21, tzinfo=UTC)
    write_raw(data_dir, path.read_bytes(), "http://b3/x", fetched, "IBOV")


def weights_of_csv(path: Path) -> dict[str, tuple[Decimal, int]]:
    """{ticker: (weight %, theoretical quantity)} of a "Carteira do Dia" download."""
    text = path.read_bytes().decode("iso-8859-1")
    records = list(csv.reader(io.StringIO(text), delimiter=";"))[2:-2]
    return {
        r[0]: (Decimal(r[4].replace(".", "").replace(",", ".")), int(r[3].replace(".", "")))
        for r in records
    }


def weights_of_answer(path: Path) -> dict[str, tuple[Decimal, int]]:
    answer = json.loads(path.read_bytes())
    return {
        r["cod"]: (
            Decimal(r["part"].replace(".", "").replace(",", ".")),
            int(r["theoricalQty"].replace(".", "")),
        )
        for r in answer["results"]
    }


def csv_path(fixtures_dir: Path, day: str) -> Path:
    return fixtures_dir / f"IBOVDia_{day[8:]}-{day[5:7]}-{day[2:4]}.csv"


def sessions_after(start: date, end: date) -> int:
    """B3 sessions in (start, end], from exchange_calendars directly."""
    calendar = xcals.get_calendar("BVMF", start=pd.Timestamp("2025-01-01"))
    return len(calendar.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))) - 1


def query(data_dir: Path, sql: str) -> list[dict]:
    result = run_query(data_dir / "catalog.duckdb", sql)
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


@pytest.fixture(scope="module")
def year(tmp_path_factory, fixtures_dir) -> tuple[Path, dg.ExecuteInProcessResult]:
    """The six 2025 IBOV downloads (Jan-Apr portfolio) imported, B3's answer of 2025-07-14
    (May-Aug portfolio) captured, all refined in one run."""
    data_dir = tmp_path_factory.mktemp("analytics")
    import_csvs(data_dir, [csv_path(fixtures_dir, day) for day in CSV_DATES])
    capture_api_answer(data_dir, SEG2_0714)
    result = range_run(data_dir, date(2025, 2, 20), JULY)
    assert result.success
    return data_dir, result


def test_the_rebalance_lists_exactly_the_entries_and_exits_between_the_two_portfolios(
    year, fixtures_dir
) -> None:
    data_dir, _ = year
    before = weights_of_csv(csv_path(fixtures_dir, "2025-03-12"))
    after = weights_of_answer(SEG2_0714)
    rows = query(
        data_dir,
        "SELECT * FROM carteira_mudancas WHERE indice = 'IBOV' AND data = DATE '2025-07-14'",
    )
    by_kind: dict[str, set[str]] = {}
    for row in rows:
        by_kind.setdefault(row["tipo_mudanca"], set()).add(row["acao"])
    assert by_kind["entrada"] == set(after) - set(before) and len(by_kind["entrada"]) == 4
    assert by_kind["saida"] == set(before) - set(after) and len(by_kind["saida"]) == 7
    # every ticker in both with a changed weight or quantity, and exactly those
    moved = {t for t in set(before) & set(after) if before[t] != after[t]}
    assert by_kind["quantidade"] | by_kind["peso"] == moved
    assert by_kind["quantidade"] == {t for t in moved if before[t][1] != after[t][1]}
    for row in rows:  # exact decimals: the difference of B3's three-decimal strings
        old = before.get(row["acao"], (Decimal(0), None))
        new = after.get(row["acao"], (Decimal(0), None))
        assert row["variacao_pp"] == new[0] - old[0], row["acao"]
        assert row["participacao_anterior_pct"] == (
            before[row["acao"]][0] if row["acao"] in before else None
        )
        if old[1] and new[1]:
            expected = Decimal((new[1] - old[1]) * 100) / Decimal(old[1])
            assert abs(row["variacao_qtd_pct"] - expected) <= Decimal("0.00005"), row["acao"]
    # the gap is shown, in sessions, and the May rebalance inside it is named
    assert {r["data_anterior"] for r in rows} == {MARCH_12}
    assert {r["pregoes_desde_anterior"] for r in rows} == {sessions_after(MARCH_12, JULY)}
    assert {r["rebalanceamento"] for r in rows} == {True}
    assert {r["data_rebalanceamento"] for r in rows} == {date(2025, 5, 2)}  # May 1st: a holiday


def test_every_captured_date_compares_with_the_one_before_counting_the_sessions(year) -> None:
    data_dir, _ = year
    rows = query(
        data_dir,
        "SELECT data, data_anterior, pregoes_desde_anterior, rebalanceamento, count(*) AS n "
        "FROM carteira_mudancas WHERE indice = 'IBOV' GROUP BY 1, 2, 3, 4 ORDER BY data",
    )
    days = [date.fromisoformat(d) for d in CSV_DATES] + [JULY]
    assert [(r["data"], r["data_anterior"]) for r in rows] == [(b, a) for a, b in pairwise(days)]
    assert [r["pregoes_desde_anterior"] for r in rows] == [
        sessions_after(a, b) for a, b in pairwise(days)
    ]
    assert [r["pregoes_desde_anterior"] for r in rows][:5] == [2, 5, 1, 3, 1]  # Carnival in gap
    assert [r["rebalanceamento"] for r in rows] == [False] * 5 + [True]


def test_concentration_equals_an_independent_computation(year) -> None:
    data_dir, _ = year
    answer = json.loads(SEG2_0714.read_bytes())["results"]
    weights = sorted(
        (Decimal(r["part"].replace(".", "").replace(",", ".")) for r in answer), reverse=True
    )
    sectors: dict[str, Decimal] = {}
    for r in answer:
        sectors[r["segment"]] = sectors.get(r["segment"], 0) + Decimal(
            r["part"].replace(".", "").replace(",", ".")
        )
    [row] = query(
        data_dir,
        "SELECT * FROM carteira_concentracao WHERE indice = 'IBOV' AND data = DATE '2025-07-14'",
    )
    hhi = sum(w * w for w in weights)
    assert row["total_ativos"] == len(weights) == 84
    assert row["peso_top1_pct"] == weights[0]
    assert row["peso_top5_pct"] == sum(weights[:5])
    assert row["peso_top10_pct"] == sum(weights[:10])
    assert row["hhi"] == hhi
    assert abs(row["numero_efetivo"] - Decimal(10000) / hhi) <= Decimal("0.0005")
    largest = max(sectors.items(), key=lambda item: item[1])
    assert (row["setor_maior"], row["peso_setor_maior_pct"]) == largest


def test_history_is_one_sorted_file_per_month_with_every_captured_date(year) -> None:
    data_dir, _ = year
    root = data_dir / "lake/refined/historico/indice=IBOV"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    assert files == [f"mes=2025-0{m}/part-00000.parquet" for m in (2, 3, 7)]
    march = pq.ParquetFile(root / files[1]).read().to_pylist()
    keys = [(r["data"], r["acao"]) for r in march]
    assert keys == sorted(keys)
    assert {r["data"] for r in march} == {date.fromisoformat(d) for d in CSV_DATES[2:]}
    # the same rows as carteira_ativos, read through both views
    sql = (
        "SELECT data, acao, participacao_pct, qtd_teorica, ranking, setor FROM {} "
        "WHERE indice = 'IBOV' ORDER BY data, acao"
    )
    assert query(data_dir, sql.format("carteira_historico")) == query(
        data_dir, sql.format("carteira_ativos")
    )


def test_the_materializations_carry_figures_and_pictures_that_decode(year) -> None:
    _, result = year
    meta = materialized_metadata(result)
    conc, changes = meta["IBOV/carteira_concentracao"], meta["IBOV/carteira_mudancas"]
    assert conc["constituents"] == 84 and conc["top10_weight_pct"] == pytest.approx(50.974)
    assert conc["hhi"] == pytest.approx(393.858524)
    assert (changes["entries"], changes["exits"]) == (4, 7) and changes["rebalance"] is True
    assert changes["sessions_since_previous"] == sessions_after(MARCH_12, JULY)
    pictures = {
        "weights_chart": conc,
        "sectors_chart": conc,
        "largest_weights_chart": meta["IBOV/carteira_historico"],
    }
    for name, where in pictures.items():
        found = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", where[name])
        assert found, name
        image = Image.open(io.BytesIO(base64.b64decode(found.group(1))))
        assert image.format == "PNG" and image.width >= 400 and len(image.getcolors(2**20)) > 20


def test_a_date_imported_into_a_gap_rewrites_the_next_sessions_changes_only(
    tmp_path, fixtures_dir
) -> None:
    """03-05 first compares with 02-20; once 02-24 arrives it compares with 02-24. The run of
    02-24 rewrites February's history and 03-05's changes, not March's history file."""
    first = [csv_path(fixtures_dir, d) for d in ("2025-02-20", "2025-03-05", "2025-03-06")]
    import_csvs(tmp_path, first)
    assert range_run(tmp_path, date(2025, 2, 20), date(2025, 3, 6)).success
    sql = (
        "SELECT DISTINCT data, data_anterior, pregoes_desde_anterior FROM carteira_mudancas "
        "WHERE indice = 'IBOV' ORDER BY data"
    )
    assert tuple(query(tmp_path, sql)[0].values()) == (
        date(2025, 3, 5),
        date(2025, 2, 20),
        7,
    )
    march = tmp_path / "lake/refined/historico/indice=IBOV/mes=2025-03/part-00000.parquet"
    stamp = march.stat().st_mtime_ns
    import_csvs(tmp_path, [csv_path(fixtures_dir, "2025-02-24")])
    assert range_run(tmp_path, date(2025, 2, 24), date(2025, 2, 24)).success
    assert [tuple(r.values()) for r in query(tmp_path, sql)] == [
        (date(2025, 2, 24), date(2025, 2, 20), 2),
        (date(2025, 3, 5), date(2025, 2, 24), 5),
        (date(2025, 3, 6), date(2025, 3, 5), 1),
    ]
    assert march.stat().st_mtime_ns == stamp
    feb = query(
        tmp_path,
        "SELECT DISTINCT data FROM carteira_historico WHERE indice = 'IBOV' AND mes = '2025-02'",
    )
    assert sorted(r["data"] for r in feb) == [date(2025, 2, 20), date(2025, 2, 24)]


def test_a_lake_refined_before_the_analytics_is_read_from_carteira_ativos(
    tmp_path, fixtures_dir
) -> None:
    """A month whose history file is missing (a lake from before this table): refining one
    more date of it rebuilds the month whole from the stored carteira_ativos partitions."""
    import shutil

    import_csvs(tmp_path, [csv_path(fixtures_dir, d) for d in ("2025-03-05", "2025-03-06")])
    assert range_run(tmp_path, date(2025, 3, 5), date(2025, 3, 6)).success
    shutil.rmtree(tmp_path / "lake/refined/historico")
    import_csvs(tmp_path, [csv_path(fixtures_dir, "2025-03-11")])
    assert range_run(tmp_path, date(2025, 3, 11), date(2025, 3, 11)).success
    rows = query(
        tmp_path,
        "SELECT data, count(*) AS n FROM carteira_historico WHERE indice = 'IBOV' GROUP BY data "
        "ORDER BY data",
    )
    assert [(r["data"], r["n"]) for r in rows] == [
        (date(2025, 3, 5), 87), (date(2025, 3, 6), 87), (date(2025, 3, 11), 87)
    ]  # fmt: skip
    [change] = query(
        tmp_path,
        "SELECT DISTINCT data_anterior FROM carteira_mudancas WHERE data = DATE '2025-03-11'",
    )
    assert change["data_anterior"] == date(2025, 3, 6)


@pytest.mark.e2e  # two `b3 import` processes
def test_two_imports_of_one_month_at_once_keep_both_dates_in_the_history(
    tmp_path, fixtures_dir
) -> None:
    """Both runs rewrite March's one history file: the second to get there must include the
    first one's date (the analytics take turns), whichever it is."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("B3_", "DAGSTER_"))}
    env["B3_DATA_DIR"] = str(tmp_path)
    b3 = str(Path(sys.executable).with_name("b3"))
    days = ("2025-03-05", "2025-03-06", "2025-03-11", "2025-03-12")
    processes = [
        subprocess.Popen(
            [b3, "import", str(csv_path(fixtures_dir, day))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for day in days
    ]
    for process in processes:
        _, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-3000:]
    rows = query(
        tmp_path,
        "SELECT data, count(*) AS n FROM carteira_historico WHERE indice = 'IBOV' "
        "AND mes = '2025-03' GROUP BY data ORDER BY data",
    )
    assert [(str(r["data"]), r["n"]) for r in rows] == [(day, 87) for day in days]
