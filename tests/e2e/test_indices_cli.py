"""Every index, every year, through the real `b3` command (subprocesses): one import of every real
daily CSV checked against the files themselves, runs of several indices against the local B3
server (one failing), the list of B3's indices, dates from 2001 and before 2000, and the upgrade
of a data dir written by the earlier IBOV-only code."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import ALL_DAILY_CSVS, import_csvs, tree_state
from test_cli import B3, b3_env

from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3

pytestmark = pytest.mark.e2e

OFFLINE = "http://127.0.0.1:9/unreachable"
SERVED = date(2025, 7, 14)
OLD_LAYOUT = Path(__file__).resolve().parents[1] / "fixtures" / "old_layout"


def b3(
    data_dir: Path,
    *args: str,
    api_url: str = OFFLINE,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    run_env = b3_env(data_dir, api_url) | (env or {})
    done = subprocess.run(
        [str(B3), *args], env=run_env, capture_output=True, text=True, timeout=300, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def query(data_dir: Path, sql: str) -> list[dict]:
    return json.loads(b3(data_dir, "query", sql, "--format", "json").stdout)


# ------------------------------------------------------------ B3's CSV, read here on its own


@dataclass(frozen=True)
class Row:
    ticker: str
    company: str
    kind: str
    quantity: int
    weight: Decimal


@dataclass(frozen=True)
class DailyFile:
    """One "Carteira do Dia" download as its bytes say, read with the csv module alone."""

    index: str
    day: date
    rows: list[Row]
    total_quantity: int
    total_weight: Decimal
    reductor: Decimal


def br_integer(text: str) -> int:
    return int(text.replace(".", ""))


def br_decimal(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


def read_daily_file(path: Path) -> DailyFile:
    lines = path.read_bytes().decode("iso-8859-1").splitlines()
    records = list(csv.reader(lines, delimiter=";"))
    title = records[0][0]
    index, _, day = title.partition(" - Carteira do Dia ")
    assert records[1] == ["Código", "Ação", "Tipo", "Qtde. Teórica", "Part. (%)"], path.name
    total, reductor = records[-2], records[-1]
    assert total[0] == "Quantidade Teórica Total" and reductor[0] == "Redutor", path.name
    rows = [
        Row(record[0], record[1], record[2], br_integer(record[3]), br_decimal(record[4]))
        for record in records[2:-2]
    ]
    return DailyFile(
        index=index.strip(),
        day=datetime.strptime(day.strip(), "%d/%m/%y").date(),
        rows=rows,
        total_quantity=br_integer(total[3]),
        total_weight=br_decimal(total[4]),
        reductor=br_decimal(reductor[3]),
    )


# ------------------------------------------------------------ one import of every daily CSV


@dataclass(frozen=True)
class Imported:
    """The data dir after one `b3 import` of every daily CSV plus the quadrimester file, the
    command's outcome, and the refined tables as `b3 query --format json` answers them."""

    data_dir: Path
    done: subprocess.CompletedProcess
    tables: dict[str, list[dict]]


@pytest.fixture(scope="module")
def every_csv(tmp_path_factory, all_daily_csvs, fixtures_dir) -> Imported:
    data_dir = tmp_path_factory.mktemp("every_csv")
    files = [*all_daily_csvs, fixtures_dir / "IBOVQuad_9-2023.csv"]
    done = b3(data_dir, "import", *map(str, files), check=False)
    tables = {
        name: query(data_dir, f"SELECT * FROM {name} ORDER BY indice, data{order}")
        for name, order in (
            ("carteira_ativos", ", ranking"),
            ("carteira_header", ""),
            ("ibov_ativos", ", ranking"),
            ("ibov_header", ""),
        )
    }
    return Imported(data_dir, done, tables)


def unit_rows(rows: list[dict], index: str, day: date) -> list[dict]:
    return [row for row in rows if row["indice"] == index and row["data"] == day.isoformat()]


def test_every_daily_file_and_the_quadrimester_file_are_imported(every_csv) -> None:
    done = every_csv.done
    assert done.returncode == 0, done.stderr
    assert "refused" not in done.stderr and "Traceback" not in done.stderr
    imported = [line for line in done.stdout.splitlines() if line.startswith("imported ")]
    assert len(imported) == len(ALL_DAILY_CSVS) + 1 == 13
    [quadrimester] = [line for line in imported if "quadrimester" in line]
    assert quadrimester.startswith("imported IBOV quadrimester 2023-09 (Set. a Dez. 2023)")
    held = {
        (row["indice"], row["data"]): row["total_ativos"]
        for row in every_csv.tables["carteira_header"]
    }
    assert Counter(index for index, _ in held) == {
        "IBOV": 8,
        "IBXX": 1,
        "SMLL": 1,
        "IDIV": 1,
        "IFIX": 1,
    }
    assert not any(day.startswith("2023-09") for _, day in held)  # nothing of the quadrimester
    assert not (every_csv.data_dir / "raw/IBOV/2023-09-01").exists()
    assert not (every_csv.data_dir / "raw/IBOV/2023-08-31").exists()  # a preview, not a day
    assert (every_csv.data_dir / "previa/raw/IBOV/2023-08-31/IBOVQuad_9-2023.csv").exists()
    daily = [line for line in imported if line != quadrimester]
    for line in daily:  # "imported SMLL 2024-10-22: 118 constituents -> .../data=2024-10-22"
        _, index, day, count, *_ = line.replace(":", "").split()
        assert held[index, day] == int(count), line
        assert line.endswith(f"/indice={index}/data={day}"), line


@pytest.mark.parametrize("name", ALL_DAILY_CSVS)
def test_each_unit_answers_exactly_what_its_file_says(every_csv, fixtures_dir, name) -> None:
    source = read_daily_file(fixtures_dir / name)
    ativos = unit_rows(every_csv.tables["carteira_ativos"], source.index, source.day)
    (header,) = unit_rows(every_csv.tables["carteira_header"], source.index, source.day)

    # every ticker's weight and theoretical quantity, to the last digit
    assert len(ativos) == len(source.rows) and len(source.rows) > 40
    by_ticker = {row["acao"]: row for row in ativos}
    assert set(by_ticker) == {row.ticker for row in source.rows}
    for row in source.rows:
        refined = by_ticker[row.ticker]
        assert Decimal(refined["participacao_pct"]) == row.weight, row
        assert refined["participacao_pct"] == format(row.weight, "f"), row  # same digits
        assert refined["qtd_teorica"] == row.quantity, row
        assert refined["empresa"] == row.company, row
        assert refined["tipo"] == " ".join(row.kind.split()), row
        assert refined["origem"] == "csv" and refined["data_coleta"] is None

    # the header: the file's footer lines and its row count
    assert header["data_carteira"] == source.day.isoformat()
    assert header["qtd_teorica_total"] == source.total_quantity
    assert Decimal(header["redutor"]) == source.reductor
    assert Decimal(header["participacao_total_pct"]) == source.total_weight == Decimal(100)
    assert header["total_ativos"] == len(source.rows)

    # ranking 1..N by weight (ties by ticker); the cumulative weight runs to the sum
    expected = sorted(source.rows, key=lambda row: (-row.weight, row.ticker))
    assert [row["acao"] for row in ativos] == [row.ticker for row in expected]
    assert [row["ranking"] for row in ativos] == list(range(1, len(ativos) + 1))
    running = Decimal(0)
    for row, refined in zip(expected, ativos, strict=True):
        running += row.weight
        assert Decimal(refined["participacao_acumulada_pct"]) == running, refined
    assert Decimal(ativos[-1]["participacao_acumulada_pct"]) == sum(r.weight for r in source.rows)

    # IBOV answers the same through the IBOV tables; other indices are not in them
    ibov_ativos = unit_rows(every_csv.tables["ibov_ativos"], source.index, source.day)
    ibov_header = unit_rows(every_csv.tables["ibov_header"], source.index, source.day)
    if source.index == "IBOV":
        assert ibov_ativos == ativos and ibov_header == [header]
        assert list(ibov_ativos[0]) == [
            "indice",
            *(k for k in ativos[0] if k not in ("indice", "data", "acao")),
            "data",
            "acao",
        ]
    else:
        assert ibov_ativos == [] and ibov_header == []


# ------------------------------------------------------------ runs of several indices


def test_offline_run_of_another_index(tmp_path) -> None:
    done = b3(
        tmp_path,
        "run",
        "--offline",
        "--index",
        "SMLL",
        "--date",
        "2025-07-14",
        "--sample-past-session",
    )
    assert "SMLL 2025-07-14  (offline-sample" in done.stdout
    assert "SMLL top weights:" in done.stdout and "IBOV" not in done.stdout
    assert (tmp_path / "raw/SMLL/2025-07-14/portfolio_SMLL.json").exists()
    (answer,) = query(
        tmp_path,
        "SELECT a.indice, count(*) AS n, sum(participacao_pct) AS soma, "
        "(SELECT count(*) FROM carteira_setores s WHERE s.indice = a.indice) AS setores, "
        "(SELECT count(*) FROM ibov_ativos) AS ibov "
        "FROM carteira_ativos a GROUP BY a.indice",
    )
    assert answer["indice"] == "SMLL" and 100 <= answer["n"] <= 140, answer
    assert answer["soma"] == "100.000" and 10 <= answer["setores"] <= 40, answer
    assert answer["ibov"] == 0, answer  # the IBOV tables hold IBOV only


def serving(*indices: str, day: date = SERVED, ibov: Path | None = None) -> RunningFakeB3:
    """B3 serving IBOV's real answer of 2025-07-14 (segment 2, 3 pages) and the sample of `day`
    for each other index named; any other index gets B3's empty answer."""
    fake = FakeB3(max_page_size=40)
    if ibov is not None:
        fake.serve_file(ibov, segment=2)
    for index in indices:
        fake.serve_sample(day, index)
    return RunningFakeB3(fake)


def asked_indices(fake: FakeB3) -> Counter:
    return Counter(r["params"]["index"] for r in fake.requests if r["method"] == "GetPortfolioDay")


def counts_by_index(data_dir: Path) -> dict[str, int]:
    rows = query(data_dir, "SELECT indice, count(*) AS n FROM carteira_ativos GROUP BY indice")
    return {row["indice"]: row["n"] for row in rows}


def test_two_indices_are_fetched_and_refined_in_one_run(tmp_path, fixtures_dir) -> None:
    import dagster as dg

    data_dir, home = tmp_path / "data", tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    seg2 = fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json"
    with serving("IBXX", ibov=seg2) as server:
        done = b3(
            data_dir, "run", "--index", "IBOV", "--index", "IBXX",
            api_url=server.api_url, env={"DAGSTER_HOME": str(home)},
        )  # fmt: skip
        asked = asked_indices(server.fake)
    assert set(asked) == {"IBOV", "IBXX"}
    assert "IBOV 2025-07-14  (" in done.stdout and "IBXX 2025-07-14  (" in done.stdout
    counts = counts_by_index(data_dir)
    assert counts["IBOV"] == 84 and 90 <= counts["IBXX"] <= 110 and len(counts) == 2
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()  # both indices, every stage: one run
        assert run.is_success and run.tags["dagster/partition"] == "2025-07-14"
        for index in ("IBOV", "IBXX"):
            for name in ("portfolio_raw", "carteira_ativos", "catalog"):
                key = dg.AssetKey([index, name])
                (record,) = instance.fetch_materializations(key, 10).records
                assert record.run_id == run.run_id


@pytest.mark.parametrize(
    ("ibxx", "reason"),
    [
        (None, "IBXX: B3 answered with an empty portfolio"),
        (
            date(2025, 7, 11),
            "IBXX: B3 is serving the portfolio of 2025-07-11, not 2025-07-14",
        ),
    ],
    ids=["ibxx-not-served", "ibxx-served-for-another-date"],
)
def test_one_failing_index_leaves_the_other_captured_and_refined(
    tmp_path, fixtures_dir, ibxx, reason
) -> None:
    seg2 = fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json"
    with serving(*(["IBXX"] if ibxx else []), day=ibxx or SERVED, ibov=seg2) as server:
        done = b3(
            tmp_path, "run", "--index", "IBOV", "--index", "IBXX",
            api_url=server.api_url, check=False,
        )  # fmt: skip
        assert set(asked_indices(server.fake)) == {"IBOV", "IBXX"}
    assert done.returncode == 1, done.stdout
    assert "1 of 2 indices failed: " in done.stderr and reason in done.stderr
    assert "IBOV:" not in done.stderr and "Traceback" not in done.stderr
    if ibxx:
        assert "`b3 import IBXXDia_14-07-25.csv`" in done.stderr
    assert "IBXX 2025-07-14: not captured" in done.stdout
    assert "IBOV 2025-07-14  (" in done.stdout and "[84 rows]" in done.stdout
    refined = tmp_path / "lake/refined/ativos"
    assert [p.name for p in refined.iterdir()] == ["indice=IBOV"]
    assert len(list((refined / "indice=IBOV/data=2025-07-14").iterdir())) == 84
    assert not (tmp_path / "raw/IBXX").exists() and not (tmp_path / "lake/raw/IBXX").exists()


def test_a_date_not_served_names_the_csv_of_that_index(tmp_path) -> None:
    with serving("SMLL") as server:
        done = b3(
            tmp_path, "run", "--index", "SMLL", "--date", "2025-07-11",
            api_url=server.api_url, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert "B3 is serving the portfolio of 2025-07-14, not 2025-07-11" in done.stderr
    assert "`b3 import SMLLDia_11-07-25.csv`" in done.stderr
    assert tree_state(tmp_path) == {}


# ------------------------------------------------------------ B3's list of indices


def listed(stdout: str) -> dict[str, str]:
    """{code: its two marks} of `b3 indices`' lines."""
    return {line[3:9].strip(): line[:2] for line in stdout.splitlines()[1:]}


@pytest.fixture
def holding(tmp_path, fixtures_dir) -> Path:
    """A data dir holding IBOV and SMLL (captured, as `b3 import` stores them)."""
    data_dir = tmp_path / "data"
    import_csvs(
        data_dir, [fixtures_dir / "IBOVDia_20-02-25.csv", fixtures_dir / "SMLLDia_22-10-24.csv"]
    )
    return data_dir


EXPECTED_MARKS = {"IBOV": "*+", "IBXX": "* ", "SMLL": " +", "IFIX": "  ", "BDRX": "  "}


def test_indices_lists_b3s_34_codes_marking_configured_and_held(holding) -> None:
    configured = {"B3_INDICES": "IBOV,IBXX"}
    offline = b3(holding, "indices", "--offline", env=configured)
    with RunningFakeB3(FakeB3()) as server:  # B3's GetStockIndex answer of 2025-04-07
        online = b3(holding, "indices", api_url=server.api_url, env=configured)
        methods = {r["method"] for r in server.fake.requests}
    assert methods == {"GetStockIndex"}
    for done, source in (
        (offline, "bundled sample of GetStockIndex"),
        (online, server.api_url),
    ):
        assert done.stdout.splitlines()[0] == (
            f"34 index codes B3 publishes ({source}); * = B3_INDICES, + = held here"
        )
        marks = listed(done.stdout)
        assert len(marks) == 34
        assert {code: marks[code] for code in EXPECTED_MARKS} == EXPECTED_MARKS
        assert [code for code, mark in marks.items() if mark != "  "] == ["IBOV", "IBXX", "SMLL"]
        assert "*+ IBOV     87 companies" in done.stdout
    assert online.stdout.splitlines()[1:] == offline.stdout.splitlines()[1:]


# ------------------------------------------------------------ any year of the calendar


def renamed_copy(source: Path, folder: Path, day: date) -> Path:
    """A real daily CSV re-dated: the title line and the file name say `day`."""
    data = source.read_bytes()
    title, _, rest = data.partition(b"\n")
    old = title.rstrip(b"\r").rsplit(b" ", 1)[1]
    new = day.strftime("%d/%m/%y").encode()
    path = folder / f"IBOVDia_{day.strftime('%d-%m-%y')}.csv"
    path.write_bytes(title.replace(old, new) + b"\n" + rest)
    return path


def test_import_of_2001_works_and_1999_is_refused(tmp_path, fixtures_dir) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    source = fixtures_dir / "IBOVDia_20-02-25.csv"
    old = renamed_copy(source, tmp_path, date(1999, 12, 30))
    refused = b3(data_dir, "import", str(old), check=False)
    assert refused.returncode == 1
    assert f"refused {old}: 1999-12-30 is outside B3's calendar (2000-01-03 to" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert tree_state(data_dir) == {}

    early = renamed_copy(source, tmp_path, date(2001, 3, 5))
    done = b3(data_dir, "import", str(early))
    assert done.stdout.startswith("imported IBOV 2001-03-05: 87 constituents -> ")
    assert (data_dir / "raw/IBOV/2001-03-05" / early.name).read_bytes() == early.read_bytes()
    headers = query(
        data_dir,
        "SELECT h.indice, h.data, h.total_ativos, h.qtd_teorica_total, i.total_ativos AS ibov "
        "FROM carteira_header h JOIN ibov_header i USING (data)",
    )
    expected = read_daily_file(source)
    assert headers == [
        {
            "indice": "IBOV",
            "data": "2001-03-05",
            "total_ativos": 87,
            "qtd_teorica_total": expected.total_quantity,
            "ibov": 87,
        }
    ]


# ------------------------------------------------------------ b3 upgrade of an old data dir


def contents(root: Path) -> Counter:
    """Every file's bytes (as sha256), wherever it is: what an upgrade must keep."""
    return Counter(
        hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
        and "tmp" not in path.relative_to(root).parts[:1]
        and path.name != "catalog.duckdb"
    )


@pytest.mark.skipif(not OLD_LAYOUT.is_dir(), reason="no old-layout fixture")
def test_upgrade_of_a_data_dir_of_the_ibov_only_layout(tmp_path) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(OLD_LAYOUT / "data", data_dir)
    recorded = json.loads((OLD_LAYOUT / "old_main_queries.json").read_text())
    before, kept = tree_state(data_dir), contents(data_dir)
    files = len(before)

    refused = b3(data_dir, "query", "SELECT count(*) FROM ibov_ativos", check=False)
    assert refused.returncode == 1 and "run `b3 upgrade`" in refused.stderr
    assert "Traceback" not in refused.stderr

    dry = b3(data_dir, "upgrade", "--dry-run")
    moves = [line for line in dry.stdout.splitlines() if line.startswith("would move ")]
    assert len(moves) == files == 276
    assert "would move lake/raw/2025-07-14/dados_originais.parquet -> " in dry.stdout
    assert (
        "would move raw/2025-03-05/IBOVDia_05-03-25.csv -> raw/IBOV/2025-03-05/IBOVDia_05-03-25.csv"
        in dry.stdout
    )
    assert "IBOV/2025-03-05, IBOV/2025-03-06, IBOV/2025-07-14" in dry.stdout
    assert tree_state(data_dir) == before

    done = b3(data_dir, "upgrade")
    assert f"{files} object(s) moved, 3 unit(s)" in done.stdout
    assert contents(data_dir) == kept  # every byte kept, each file once
    assert (data_dir / "raw/IBOV/2025-07-14/portfolio_IBOV.json").is_file()
    assert not (data_dir / "raw/2025-07-14").exists()
    assert not (data_dir / "lake/refined/ativos/data=2025-03-05").exists()

    for name, answer in recorded.items():
        assert query(data_dir, answer["sql"]) == answer["rows"], name
    again = b3(data_dir, "upgrade")
    assert "nothing to move" in again.stdout
