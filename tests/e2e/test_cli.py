"""The real `b3` command in subprocesses, against the local B3 server serving 2025-07-14."""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import tree_state

pytestmark = pytest.mark.e2e

B3 = Path(sys.executable).parent / "b3"


def b3_env(data_dir: Path, api_url: str, timeout: float = 5, retries: int = 1) -> dict:
    env = os.environ | {
        "B3_DATA_DIR": str(data_dir),
        "B3_API_URL": api_url,
        "B3_HTTP_RETRIES": str(retries),
        "B3_HTTP_TIMEOUT": str(timeout),
    }
    env.pop("DAGSTER_HOME", None)
    return env


def b3(
    data_dir: Path,
    api_url: str,
    *args: str,
    check: bool = True,
    dagster_home: Path | None = None,
    timeout: float = 5,
    retries: int = 1,
) -> subprocess.CompletedProcess:
    env = b3_env(data_dir, api_url, timeout, retries)
    if dagster_home is not None:
        env["DAGSTER_HOME"] = str(dagster_home)
    done = subprocess.run(
        [str(B3), *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@dataclass(frozen=True)
class Lake:
    """A data dir and the outcome of the `b3` command that built it."""

    data_dir: Path
    api_url: str
    built: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def served(fixtures_dir):
    """The local B3 server, serving 2025-07-14 in 3 pages."""
    from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3

    fake = FakeB3(max_page_size=40)
    fake.serve_file(fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json", segment=2)
    with RunningFakeB3(fake) as server:
        yield server


@pytest.fixture(scope="module")
def lake(tmp_path_factory, served) -> Lake:
    """A data dir after one `b3 run` of the served date. Tests leave it as they found it (a test
    that changes a data dir works on its own copy), so any order and any subset of them pass."""
    data_dir = tmp_path_factory.mktemp("data")
    return Lake(data_dir, served.api_url, b3(data_dir, served.api_url, "run"))


@pytest.fixture(scope="module")
def imported(tmp_path_factory, lake, csv_files) -> Lake:
    """A copy of `lake` after one `b3 import` of B3's six CSV downloads."""
    data_dir = tmp_path_factory.mktemp("imported") / "data"
    shutil.copytree(lake.data_dir, data_dir)
    done = b3(data_dir, lake.api_url, "import", *map(str, csv_files))
    return Lake(data_dir, lake.api_url, done)


def test_run_creates_every_layer(lake) -> None:
    data_dir, done = lake.data_dir, lake.built
    assert "IBOV 2025-07-14  (" in done.stdout and "3 page(s)" in done.stdout
    assert (data_dir / "raw/IBOV/2025-07-14/portfolio_IBOV.json").exists()
    assert (data_dir / "bronze/IBOV/2025-07-14/dados_originais.parquet").exists()
    assert (data_dir / "lake/raw/IBOV/2025-07-14/dados_originais.parquet").exists()
    refined = data_dir / "lake/refined"
    tickers = list((refined / "ativos/indice=IBOV/data=2025-07-14").glob("acao=*"))
    assert len(tickers) == 84
    for table in ("header", "setores"):
        assert (refined / table / "indice=IBOV/data=2025-07-14/part-00000.parquet").exists()
    assert (data_dir / "catalog.duckdb").exists()
    assert "  carteira_ativos       file://" in done.stdout and "[84 rows]" in done.stdout
    assert "IBOV top weights:" in done.stdout and "VALE3" in done.stdout


def test_rerun_changes_nothing(lake) -> None:
    before = tree_state(lake.data_dir)
    done = b3(lake.data_dir, lake.api_url, "run")
    assert "already captured" in done.stdout
    assert tree_state(lake.data_dir) == before


def test_a_date_b3_is_not_serving_fails_clearly(lake) -> None:
    before = tree_state(lake.data_dir)
    done = b3(lake.data_dir, lake.api_url, "run", "--date", "2025-07-11", check=False)
    assert done.returncode == 1
    assert "B3 is serving the portfolio of 2025-07-14, not 2025-07-11" in done.stderr
    assert "b3 import IBOVDia_11-07-25.csv" in done.stderr
    assert "Traceback" not in done.stderr
    assert tree_state(lake.data_dir) == before


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("2025-07-12", "not a B3 trading day (a weekend)"),
        ("2025-11-20", "not a B3 trading day (a B3 holiday)"),
        ("2025-13-01", "not a date in YYYY-MM-DD form"),
        ("2024-12-31", "not a B3 trading day (a B3 holiday)"),
        ("1999-12-30", "outside B3's calendar (2000-01-03 to"),
    ],
)
def test_bad_dates_are_refused(lake, argument, message) -> None:
    done = b3(lake.data_dir, lake.api_url, "run", "--date", argument, check=False)
    assert done.returncode in (1, 2)
    assert message in done.stderr


def test_import_adds_six_dates_of_87_rows(imported, csv_files) -> None:
    data_dir = imported.data_dir
    assert imported.built.stdout.count("87 constituents") == 6
    counts = b3(
        data_dir,
        imported.api_url,
        "query",
        "SELECT data, count(*) AS n FROM ibov_ativos GROUP BY data ORDER BY data",
        "--format",
        "csv",
    ).stdout.splitlines()
    assert counts == [
        "data,n",
        "2025-02-20,87",
        "2025-02-24,87",
        "2025-03-05,87",
        "2025-03-06,87",
        "2025-03-11,87",
        "2025-03-12,87",
        "2025-07-14,84",
    ]
    [original] = [p for p in csv_files if p.name == "IBOVDia_05-03-25.csv"]
    assert (data_dir / "raw/IBOV/2025-03-05" / original.name).read_bytes() == original.read_bytes()


def test_backfill_refines_the_imported_dates_in_one_run(imported, tmp_path) -> None:
    """One run per range of consecutive sessions (a run's range tags express a range, and no run
    marks a partition with nothing in it): the six imported dates are four such ranges."""
    import dagster as dg

    data_dir = tmp_path / "data"  # the backfill rewrites refined files: on a copy
    shutil.copytree(imported.data_dir, data_dir)
    api_url = imported.api_url
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    captured = tree_state(data_dir / "raw") | tree_state(data_dir / "lake/raw")
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = b3(
        data_dir,
        api_url,
        "backfill",
        "--from",
        "2025-02-20",
        "--to",
        "2025-03-12",
        "--index",
        "IBOV",
        dagster_home=dagster_home,
    )
    lines = done.stdout.splitlines()
    ranges = [
        ("2025-02-20", "2025-02-20"),
        ("2025-02-24", "2025-02-24"),
        ("2025-03-05", "2025-03-06"),
        ("2025-03-11", "2025-03-12"),
    ]
    assert [line for line in lines if line.startswith("refined ")] == [
        f"refined IBOV: {1 + (first != last)} captured date(s) from {first} to {last} in one run"
        for first, last in ranges
    ]
    assert "  2025-03-05  carteira_ativos 87, carteira_header 1, carteira_setores 0" in lines
    assert lines[-1] == (
        "IBOV: no raw data in the lake for 7 trading date(s): 2025-02-21, 2025-02-25, "
        "2025-02-26, 2025-02-27, 2025-02-28, 2025-03-07, 2025-03-10"
    )
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert all(run.is_success for run in runs)
        assert (
            sorted(
                (
                    run.tags.get(
                        "dagster/asset_partition_range_start", run.tags.get("dagster/partition")
                    ),
                    run.tags.get(
                        "dagster/asset_partition_range_end", run.tags.get("dagster/partition")
                    ),
                )
                for run in runs
            )
            == ranges
        )
        materialized = {
            name: {
                r.run_id
                for r in instance.fetch_materializations(dg.AssetKey(["IBOV", name]), 100).records
            }
            for name in ("portfolio_raw", "lake_raw_object", "carteira_ativos", "catalog")
        }
        run_ids = {run.run_id for run in runs}
        assert materialized == {
            "portfolio_raw": set(),
            "lake_raw_object": set(),
            "carteira_ativos": run_ids,
            "catalog": run_ids,
        }
    assert tree_state(data_dir / "raw") | tree_state(data_dir / "lake/raw") == captured
    one = b3(data_dir, api_url, "backfill", "--from", "2025-03-05", "--to", "2025-03-06")
    assert one.stdout.splitlines()[0] == (
        "refined IBOV: 2 captured date(s) from 2025-03-05 to 2025-03-06 in one run"
    )
    refused = b3(
        data_dir,
        api_url,
        "backfill",
        "--from",
        "2025-03-12",
        "--to",
        "2025-02-20",
        check=False,
    )
    assert (
        refused.returncode == 1 and "--from 2025-03-12 is after --to 2025-02-20" in refused.stderr
    )
    empty = b3(
        data_dir,
        api_url,
        "backfill",
        "--from",
        "2025-04-01",
        "--to",
        "2025-04-30",
        check=False,
    )
    assert empty.returncode == 1
    assert "no raw data in the lake for any index on any of the 20 trading dates" in empty.stderr


def test_query_counts_the_served_date(lake) -> None:
    done = b3(
        lake.data_dir,
        lake.api_url,
        "query",
        "SELECT count(*) FROM ibov_ativos WHERE data = DATE '2025-07-14'",
    )
    lines = done.stdout.splitlines()
    assert lines[2].strip() == "84"
    assert lines[-1] == "(1 row)"


def test_query_refuses_writes(lake) -> None:
    done = b3(lake.data_dir, lake.api_url, "query", "DELETE FROM ibov_ativos", check=False)
    assert done.returncode == 1
    assert "only read-only queries" in done.stderr


def test_import_refuses_a_file_that_is_not_a_portfolio(lake, tmp_path) -> None:
    before = tree_state(lake.data_dir)
    bogus = tmp_path / "IBOVDia_01-08-25.csv"
    bogus.write_text("hello;world\n")
    done = b3(lake.data_dir, lake.api_url, "import", str(bogus), check=False)
    assert done.returncode == 1
    assert "is not a B3 portfolio CSV" in done.stderr
    assert tree_state(lake.data_dir) == before  # the other tests share this data dir


def test_workspace_loads_in_dagster_with_its_schedule_and_sensors(tmp_path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for command, expected in (
        (["definitions", "validate"], ["Validation successful for code location b3_assets"]),
        (["schedule", "list"], ["daily_schedule", "freshness_schedule"]),
        (["sensor", "list"], ["raw_objects_sensor", "glue_job_runs_sensor"]),
    ):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), *command, "-w", "workspace.yaml"],
            cwd=Path(__file__).resolve().parents[2],
            env=os.environ | {"DAGSTER_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert all(text in done.stdout + done.stderr for text in expected), done.stdout


def test_quick_start_offline_run(tmp_path) -> None:
    """The README's first command: the whole chain on bundled sample data, no network."""
    done = b3(
        tmp_path,
        "http://127.0.0.1:9/unreachable",
        "run",
        "--offline",
        "--date",
        "2025-07-14",
        "--sample-past-session",
    )
    assert "offline-sample" in done.stdout and "the offline sample, not B3's data" in done.stdout
    rows = b3(
        tmp_path,
        "http://127.0.0.1:9/unreachable",
        "query",
        "SELECT count(*), sum(participacao_pct) FROM ibov_ativos",
        "--format",
        "csv",
    ).stdout.splitlines()[1]
    count, total = rows.split(",")
    assert 80 <= int(count) <= 90 and total == "100.000"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"B3_SEGMENT": "3"}, "invalid B3_* environment"),
        ({"B3_ENV": "aws", "B3_BUCKET": ""}, "B3_ENV=aws needs B3_BUCKET"),
        ({"B3_ENV": "cloud"}, "invalid B3_* environment"),
    ],
)
def test_bad_environment_is_named(tmp_path, monkeypatch, env, message) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    done = b3(tmp_path, "http://127.0.0.1:9/x", "run", "--offline", check=False)
    assert done.returncode in (1, 2)
    assert message in done.stderr and "Traceback" not in done.stderr
