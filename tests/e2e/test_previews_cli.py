"""The preview end to end: the real `b3` command against the local B3 server, which serves B3's
real theoretical portfolio (pt-BR, in pages) as its preview beside the daily portfolio of
2025-07-14; `b3 import` of B3's real quadrimester download; a day with no preview served.

Every expected value is computed here from the fixtures themselves (json, csv, Decimal), not
from the code under test."""

import csv
import io
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from test_cli import b3

pytestmark = pytest.mark.e2e

PREVIEW = "theorical_portfolio_IBOV_pt-br.json"
DAILY = "portfolio_day_IBOV_seg2_2025-07-14.json"
QUAD = "IBOVQuad_9-2023.csv"


def br_decimal(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


def br_integer(text: str) -> int:
    return int(text.replace(".", ""))


def query(data_dir: Path, api_url: str, sql: str) -> list[dict[str, str]]:
    out = b3(data_dir, api_url, "query", sql, "--format", "csv").stdout
    return list(csv.DictReader(io.StringIO(out)))


@pytest.fixture(scope="module")
def previewed(tmp_path_factory, fixtures_dir):
    """`b3 run` while B3 serves 2025-07-14 and a preview (pages of 40), then the data dir."""
    from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3

    fake = FakeB3(max_page_size=40)
    fake.serve_file(fixtures_dir / DAILY, segment=2)
    body = (fixtures_dir / PREVIEW).read_bytes()
    fake.serve_theoretical("preview", "IBOV", body)
    fake.serve_theoretical("theoretical", "IBOV", body)
    data_dir = tmp_path_factory.mktemp("previewed")
    with RunningFakeB3(fake) as server:
        done = b3(data_dir, server.api_url, "run")
        yield data_dir, server.api_url, done, fake


def test_the_captured_preview_equals_b3s_strings(previewed, fixtures_dir) -> None:
    data_dir, api_url, done, _ = previewed
    answer = json.loads((fixtures_dir / PREVIEW).read_bytes())
    assert answer["page"]["totalRecords"] == 92  # more than one page of 40: the client pages
    assert "preview  2025-09 captured on 2025-07-14" in done.stdout
    rows = query(
        data_dir,
        api_url,
        "SELECT acao, empresa, participacao_pct, qtd_teorica, quadrimestre, origem, data, ranking "
        "FROM carteira_previa WHERE indice = 'IBOV'",
    )
    expected = {
        r["cod"]: (br_decimal(r["part"]), br_integer(r["theoricalQty"]), r["asset"])
        for r in answer["results"]
    }
    got = {
        r["acao"]: (Decimal(r["participacao_pct"]), int(r["qtd_teorica"]), r["empresa"])
        for r in rows
    }
    assert got == expected
    assert {(r["quadrimestre"], r["origem"], r["data"]) for r in rows} == {
        ("2025-09", "api", "2025-07-14")
    }
    assert sorted(int(r["ranking"]) for r in rows) == list(range(1, 93))
    record = json.loads((data_dir / "previa/raw/IBOV/2025-07-14/capture.json").read_text())
    assert record["target_quadrimester"] == "2025-09"
    assert record["answers"]["previa"]["served"] is True
    assert record["answers"]["previa"]["pages"] == 3
    assert record["answers"]["teorica"]["served"] is True
    stored = json.loads((data_dir / "previa/raw/IBOV/2025-07-14/previa_IBOV.json").read_bytes())
    assert stored["results"] == answer["results"] and stored["header"] == answer["header"]
    assert (data_dir / "lake/previa/raw/IBOV/2025-07-14/dados_originais.parquet").exists()
    assert not (data_dir / "lake/raw/IBOV/2025-07-14/previa_IBOV.json").exists()


def test_the_preview_changes_equal_an_independent_comparison(previewed, fixtures_dir) -> None:
    """The preview (captured 2025-07-14, for Sep-Dec 2025) against the daily portfolio of the
    same session: who enters, who leaves, and every weight's move in points."""
    data_dir, api_url, _, _ = previewed
    preview = {
        r["cod"]: (br_decimal(r["part"]), br_integer(r["theoricalQty"]))
        for r in json.loads((fixtures_dir / PREVIEW).read_bytes())["results"]
    }
    daily = {
        r["cod"]: (br_decimal(r["part"]), br_integer(r["theoricalQty"]))
        for r in json.loads((fixtures_dir / DAILY).read_bytes())["results"]
    }
    expected = {}
    for ticker in preview.keys() | daily.keys():
        before, after = daily.get(ticker), preview.get(ticker)
        kind = "entrada" if before is None else "saida" if after is None else "permanece"
        change = (after[0] if after else Decimal(0)) - (before[0] if before else Decimal(0))
        expected[ticker] = (
            kind,
            before[0] if before else None,
            after[0] if after else None,
            change,
            before[1] if before else None,
            after[1] if after else None,
        )
    rows = query(
        data_dir,
        api_url,
        "SELECT * FROM carteira_previa_mudancas WHERE indice = 'IBOV' AND data = DATE '2025-07-14'",
    )

    def number(text: str, kind=Decimal):
        return kind(text) if text else None

    got = {
        r["acao"]: (
            r["tipo_mudanca"],
            number(r["participacao_antes_pct"]),
            number(r["participacao_depois_pct"]),
            Decimal(r["variacao_pp"]),
            number(r["qtd_teorica_antes"], int),
            number(r["qtd_teorica_depois"], int),
        )
        for r in rows
    }
    assert got == expected
    assert {(r["comparacao"], r["quadrimestre"], r["data_carteira"]) for r in rows} == {
        ("previa", "2025-09", "2025-07-14")
    }
    entering = sorted(t for t, v in expected.items() if v[0] == "entrada")
    leaving = sorted(t for t, v in expected.items() if v[0] == "saida")
    assert entering and leaving  # the fixture is an older portfolio: names do move


def test_a_rerun_keeps_the_preview_as_captured(previewed, tmp_path) -> None:
    from conftest import tree_state

    data_dir, api_url, _, _ = previewed
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    b3(copy, api_url, "run")  # the catalog's views name the lake's path: settle them on the copy
    before = tree_state(copy)
    done = b3(copy, api_url, "run")
    assert tree_state(copy) == before
    assert "preview  2025-09 captured on 2025-07-14" in done.stdout


def test_a_day_without_a_preview_is_recorded_as_none_served(tmp_path, fixtures_dir) -> None:
    from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3

    fake = FakeB3()  # serves no preview and no theoretical portfolio: B3's empty answer
    fake.serve_file(fixtures_dir / DAILY, segment=2)
    with RunningFakeB3(fake) as server:
        done = b3(tmp_path, server.api_url, "run")  # exit 0: check=True
        rows = query(tmp_path, server.api_url, "SELECT count(*) AS n FROM carteira_previa")
    assert "preview  none served by B3 on 2025-07-14" in done.stdout
    record = json.loads((tmp_path / "previa/raw/IBOV/2025-07-14/capture.json").read_text())
    assert record["answers"]["previa"]["served"] is False
    assert record["answers"]["teorica"]["served"] is False
    kept = json.loads((tmp_path / "previa/raw/IBOV/2025-07-14/previa_IBOV.json").read_bytes())
    assert kept["results"] == []  # B3's answer, kept as it came
    assert rows == [{"n": "0"}]
    assert not (tmp_path / "lake/previa").exists()
    assert (tmp_path / "lake/refined/ativos/indice=IBOV/data=2025-07-14").is_dir()


def quadrimester_rows(path: Path) -> dict[str, tuple[Decimal, int, str]]:
    lines = path.read_bytes().decode("latin-1").splitlines()
    rows = {}
    for fields in csv.reader(lines[2:], delimiter=";"):
        if len(fields) >= 5 and re.fullmatch(r"[A-Z0-9]{4}[0-9]{1,2}", fields[0]):
            rows[fields[0]] = (br_decimal(fields[4]), br_integer(fields[3]), fields[1])
    return rows


@pytest.fixture(scope="module")
def quad_imported(tmp_path_factory, fixtures_dir):
    data_dir = tmp_path_factory.mktemp("quad")
    done = b3(data_dir, "http://127.0.0.1:9", "import", str(fixtures_dir / QUAD))
    return data_dir, done


def test_importing_the_quadrimester_download_fills_carteira_previa(
    quad_imported, fixtures_dir
) -> None:
    data_dir, done = quad_imported
    assert "as the preview of 2023-08-31" in done.stdout and "86 tickers" in done.stdout
    rows = query(
        data_dir,
        "http://127.0.0.1:9",
        "SELECT acao, empresa, participacao_pct, qtd_teorica, data, origem FROM carteira_previa "
        "WHERE quadrimestre = '2023-09'",
    )
    expected = quadrimester_rows(fixtures_dir / QUAD)
    assert len(expected) == 86 and len(rows) == 86
    got = {
        r["acao"]: (Decimal(r["participacao_pct"]), int(r["qtd_teorica"]), r["empresa"])
        for r in rows
    }
    assert got == expected
    assert {(r["data"], r["origem"]) for r in rows} == {("2023-08-31", "csv")}
    folder = data_dir / "previa/raw/IBOV/2023-08-31"
    assert (folder / QUAD).read_bytes() == (fixtures_dir / QUAD).read_bytes()
    again = b3(data_dir, "http://127.0.0.1:9", "import", str(fixtures_dir / QUAD))
    assert "86 tickers" in again.stdout


def test_the_rebalance_shows_the_last_previews_error(quad_imported, fixtures_dir, tmp_path) -> None:
    """Once the first session of Sep-Dec 2023 is captured, the last preview (the quadrimester
    download, filed on 2023-08-31) gets the 'realizada' comparison: the portfolio B3 started
    against the forecast."""
    data_dir = tmp_path / "data"
    shutil.copytree(quad_imported[0], data_dir)
    b3(
        data_dir,
        "http://127.0.0.1:9",
        "run",
        "--offline",
        "--date",
        "2023-09-01",
        "--sample-past-session",
    )
    actual_raw = json.loads((data_dir / "raw/IBOV/2023-09-01/portfolio_IBOV.json").read_bytes())
    actual = {r["cod"]: br_decimal(r["part"]) for r in actual_raw["results"]}
    forecast = {t: v[0] for t, v in quadrimester_rows(fixtures_dir / QUAD).items()}
    expected = {
        t: (
            "entrada" if t not in forecast else "saida" if t not in actual else "permanece",
            actual.get(t, Decimal(0)) - forecast.get(t, Decimal(0)),
        )
        for t in forecast.keys() | actual.keys()
    }
    rows = query(
        data_dir,
        "http://127.0.0.1:9",
        "SELECT acao, tipo_mudanca, variacao_pp, data_carteira, data FROM "
        "carteira_previa_mudancas WHERE comparacao = 'realizada'",
    )
    assert {r["acao"]: (r["tipo_mudanca"], Decimal(r["variacao_pp"])) for r in rows} == expected
    assert {(r["data"], r["data_carteira"]) for r in rows} == {("2023-08-31", "2023-09-01")}
