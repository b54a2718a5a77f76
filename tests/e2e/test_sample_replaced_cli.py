"""The offline sample is never mistaken for B3's data, through the real `b3` command: an offline
run of a real past session (asked for with --sample-past-session) is stored as `amostra` in every
table; `b3 import` of B3's own download of that day then replaces it without --replace, leaving
exactly the tables a clean import gives; an offline run never overwrites B3's data; and without
the flag an offline run of a past session writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import tree_state
from test_indices_cli import b3, query

pytestmark = pytest.mark.e2e

DAY = "2025-03-12"  # a session B3 traded, whose download is a fixture
BEFORE = "IBOVDia_11-03-25.csv"  # the session before: the changes of DAY compare with it
DOWNLOAD = "IBOVDia_12-03-25.csv"

# Every table's rows of IBOV on DAY, in a fixed order.
UNIT_QUERIES = {
    "carteira_ativos": f"SELECT * FROM carteira_ativos WHERE indice = 'IBOV' AND data = DATE "
    f"'{DAY}' ORDER BY acao",
    "carteira_header": f"SELECT * FROM carteira_header WHERE indice = 'IBOV' AND data = DATE "
    f"'{DAY}'",
    "carteira_setores": f"SELECT * FROM carteira_setores WHERE indice = 'IBOV' AND data = DATE "
    f"'{DAY}' ORDER BY setor",
    "carteira_historico": f"SELECT * FROM carteira_historico WHERE indice = 'IBOV' AND data = "
    f"DATE '{DAY}' ORDER BY acao",
    "carteira_mudancas": f"SELECT * FROM carteira_mudancas WHERE indice = 'IBOV' AND data = DATE "
    f"'{DAY}' ORDER BY acao",
    "carteira_concentracao": f"SELECT * FROM carteira_concentracao WHERE indice = 'IBOV' AND "
    f"data = DATE '{DAY}'",
    "ibov_ativos": f"SELECT * FROM ibov_ativos WHERE data = DATE '{DAY}' ORDER BY acao",
    "carteira_previa": f"SELECT * FROM carteira_previa WHERE indice = 'IBOV' AND data = DATE "
    f"'{DAY}' ORDER BY acao",
}
WITH_ORIGEM = ("carteira_ativos", "carteira_header", "carteira_historico", "ibov_ativos")


def origins(data_dir: Path) -> dict[str, set[str]]:
    """The origem values of IBOV on DAY, per table that has the column (one query)."""
    sql = " UNION ".join(
        f"SELECT DISTINCT '{name}' AS tabela, origem FROM {name} WHERE data = DATE '{DAY}'"
        + (" AND indice = 'IBOV'" if name.startswith("carteira") else "")
        for name in WITH_ORIGEM
    )
    found: dict[str, set[str]] = {}
    for row in query(data_dir, sql):
        found.setdefault(row["tabela"], set()).add(row["origem"])
    return found


def only(origem: str) -> dict[str, set[str]]:
    return {name: {origem} for name in WITH_ORIGEM}


def unit_tables(data_dir: Path) -> dict[str, list[dict]]:
    return {name: query(data_dir, sql) for name, sql in UNIT_QUERIES.items()}


@pytest.fixture(scope="module")
def control(tmp_path_factory, fixtures_dir) -> dict[str, list[dict]]:
    """The tables of IBOV on DAY after a clean import of B3's two downloads (no sample ever)."""
    data_dir = tmp_path_factory.mktemp("control") / "data"
    b3(data_dir, "import", str(fixtures_dir / BEFORE), str(fixtures_dir / DOWNLOAD))
    return unit_tables(data_dir)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory, fixtures_dir) -> Path:
    """B3's download of the session before DAY, then the offline sample of DAY."""
    data_dir = tmp_path_factory.mktemp("sampled") / "data"
    b3(data_dir, "import", str(fixtures_dir / BEFORE))
    done = b3(data_dir, "run", "--offline", "--date", DAY, "--sample-past-session")
    assert "the offline sample, not B3's data" in done.stdout
    assert f"`b3 import` of IBOV {DAY} replaces it" in done.stdout
    return data_dir


def test_the_offline_run_is_marked_amostra_in_raw_bronze_and_every_table(sampled) -> None:
    record = (sampled / f"raw/IBOV/{DAY}/capture.json").read_text()
    assert '"origin": "amostra"' in record and '"fetched_at": null' not in record
    assert origins(sampled) == only("amostra")
    (header,) = query(sampled, UNIT_QUERIES["carteira_header"])
    assert header["data_coleta"] is not None  # the sample's generation time
    assert query(sampled, UNIT_QUERIES["carteira_mudancas"])  # compared with B3's 2025-03-11
    report = b3(sampled, "report", "--index", "IBOV", "-o", str(sampled.parent / "r.html"))
    assert "1 date of the offline sample (invented, not B3's data)" in report.stdout
    page = (sampled.parent / "r.html").read_text()
    assert "1 CSV · 0 API · 1 sample" in page
    # a real run does not take the sample for a captured date: it asks B3 (unreachable here)
    before = tree_state(sampled)
    real = b3(sampled, "run", "--date", DAY, check=False)
    assert real.returncode == 1 and "already captured" not in real.stdout
    assert "127.0.0.1:9" in real.stderr and tree_state(sampled) == before


def test_b3s_download_replaces_the_sample_without_replace(
    sampled, control, fixtures_dir, tmp_path
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(sampled, data_dir)
    done = b3(data_dir, "import", str(fixtures_dir / DOWNLOAD))
    assert f"replaced the offline sample of IBOV {DAY} with {fixtures_dir / DOWNLOAD}" in (
        done.stderr
    )
    assert "use --replace" not in done.stderr
    assert f"imported IBOV {DAY}: " in done.stdout
    assert origins(data_dir) == only("csv")
    # no row of the sample is left: every table of the unit is what a clean import gives
    assert unit_tables(data_dir) == control
    assert control["carteira_setores"] == [] and control["carteira_mudancas"]
    everywhere = query(
        data_dir,
        "SELECT (SELECT count(*) FROM carteira_ativos WHERE origem = 'amostra') AS ativos, "
        "(SELECT count(*) FROM carteira_header WHERE origem = 'amostra') AS header, "
        "(SELECT count(*) FROM carteira_historico WHERE origem = 'amostra') AS historico, "
        "(SELECT count(*) FROM carteira_previa WHERE origem = 'amostra') AS previa",
    )
    assert everywhere == [{"ativos": 0, "header": 0, "historico": 0, "previa": 0}]
    record = (data_dir / f"raw/IBOV/{DAY}/capture.json").read_text()
    assert '"origin": "csv"' in record
    report = b3(data_dir, "report", "--index", "IBOV", "-o", str(tmp_path / "r.html"))
    assert "offline sample" not in report.stdout
    assert "2 CSV · 0 API" in (tmp_path / "r.html").read_text()

    # the reverse never happens: an offline run keeps B3's data, says so, and changes nothing
    before = tree_state(data_dir)
    again = b3(data_dir, "run", "--offline", "--date", DAY, "--sample-past-session")
    assert f"kept B3's data of IBOV {DAY} (origem csv)" in again.stdout
    assert tree_state(data_dir) == before


def test_b3s_capture_replaces_the_sample_of_the_served_date(tmp_path, fixtures_dir) -> None:
    """`b3 run` against B3 (the local stand-in serving 2025-07-14) replaces that date's sample,
    daily portfolio and preview alike, and says so."""
    from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3

    data_dir, served = tmp_path / "data", "2025-07-14"
    b3(data_dir, "run", "--offline", "--date", served, "--sample-past-session")
    fake = FakeB3(max_page_size=40)
    fake.serve_file(fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json", segment=2)
    with RunningFakeB3(fake) as server:
        done = b3(data_dir, "run", api_url=server.api_url)
    assert f"replaced the offline sample of IBOV {served} with B3's capture" in done.stdout
    assert f"replaced the offline sample of the preview of {served}" in done.stdout
    rows = query(data_dir, "SELECT origem, count(*) AS n FROM carteira_ativos GROUP BY origem")
    assert rows == [{"origem": "api", "n": 84}]
    record = (data_dir / f"previa/raw/IBOV/{served}/capture.json").read_text()
    assert "amostra" not in record and "offline-sample" not in record


def test_the_quick_start_needs_no_flag_and_lands_as_amostra(tmp_path) -> None:
    """The README's `b3 run --offline`: today's session, no flag, marked as the sample."""
    from b3_assets.source.trading_calendar import current_session

    data_dir = tmp_path / "data"
    done = b3(data_dir, "run", "--offline")
    today = current_session().isoformat()
    assert f"IBOV {today}  (offline-sample:" in done.stdout
    assert "the offline sample, not B3's data" in done.stdout
    rows = query(data_dir, "SELECT DISTINCT origem, data FROM carteira_header")
    assert rows == [{"origem": "amostra", "data": today}]


def test_an_offline_run_of_a_past_session_needs_the_flag(tmp_path) -> None:
    data_dir = tmp_path / "data"
    done = b3(data_dir, "run", "--offline", "--date", DAY, check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"{DAY} is a past B3 session" in line and "--sample-past-session" in line
    assert not (data_dir / "raw").exists() and not (data_dir / "lake").exists()
