"""B3's rounding end to end: `b3 import` of a quadrimester download built like B3's real
`IBOVQuad_5-2023.csv` (86 weights rounded to 3 places that sum to 99.998 while the total line says
100,000) imports cleanly; the same file with weights summing to 99.0 is flagged, its sum named.

The files are built here from the real `IBOVQuad_9-2023.csv` (86 rows summing to 99.999): the
title becomes May-Aug 2023 and the largest weight is lowered; the fixture is never edited."""

import csv
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from test_cli import b3

pytestmark = pytest.mark.e2e

NO_B3 = "http://127.0.0.1:9"  # an import asks B3 nothing
REAL = "IBOVQuad_9-2023.csv"
NAME = "IBOVQuad_5-2023.csv"
ROW = re.compile(r"(?P<head>[A-Z0-9]{4}[0-9]{1,2};[^;]*;[^;]*;[0-9.]+;)(?P<part>[0-9.]+,[0-9]{3});")


def br_decimal(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


def weights_of(data: bytes) -> list[Decimal]:
    return [br_decimal(m["part"]) for m in ROW.finditer(data.decode("latin-1"))]


def may_august_2023(fixtures_dir: Path, total: Decimal) -> bytes:
    """B3's quadrimester file of IBOV for May-Aug 2023 as B3 writes it (ISO-8859-1, `;`, pt-BR
    weights with 3 places, footer `Quantidade Teórica Total;;;N;100,000` and `Redutor;;;R`),
    with 86 weights that sum to `total`."""
    text = (fixtures_dir / REAL).read_bytes().decode("latin-1")
    assert text.startswith("IBOV - Carteira Set. a Dez. 2023")
    text = text.replace("Set. a Dez. 2023", "Mai. a Ago. 2023", 1)
    rows = list(ROW.finditer(text))
    largest = max(rows, key=lambda m: br_decimal(m["part"]))
    lowered = br_decimal(largest["part"]) - (sum(br_decimal(m["part"]) for m in rows) - total)
    part = f"{lowered:.3f}".replace(".", ",")
    text = text[: largest.start("part")] + part + text[largest.end("part") :]
    data = text.encode("latin-1")
    lines = text.splitlines()
    assert lines[0] == "IBOV - Carteira Mai. a Ago. 2023"
    assert re.fullmatch(r"Quantidade Teórica Total;;;[0-9.]+;100,000", lines[-2])
    assert lines[-1].startswith("Redutor;;;")
    assert "Teórica".encode("latin-1") in data and "Teórica".encode() not in data
    weights = weights_of(data)
    assert len(weights) == 86 and sum(weights) == total
    assert all(w == w.quantize(Decimal("0.001")) for w in weights)
    return data


def query(data_dir: Path, sql: str) -> list[dict[str, str]]:
    out = b3(data_dir, NO_B3, "query", sql, "--format", "csv").stdout
    return list(csv.DictReader(io.StringIO(out)))


def imported(tmp_path: Path, fixtures_dir: Path, total: str):
    folder = tmp_path / "downloads"
    folder.mkdir()
    path = folder / NAME
    path.write_bytes(may_august_2023(fixtures_dir, Decimal(total)))
    data_dir = tmp_path / "data"
    done = b3(data_dir, NO_B3, "import", str(path), check=False)
    previa = query(
        data_dir,
        "SELECT count(*) AS n, sum(participacao_pct) AS total, min(data) AS data, "
        "min(origem) AS origem FROM carteira_previa WHERE quadrimestre = '2023-05'",
    )
    return done, previa


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.lower().startswith("error")]


def test_b3s_rounded_quadrimester_file_imports_without_an_error(tmp_path, fixtures_dir) -> None:
    """86 weights, each rounded to 3 places, may miss 100 by 86 × 0.0005 = 0.043: 99.998 is
    B3's own file, not an error."""
    done, previa = imported(tmp_path, fixtures_dir, "99.998")
    assert done.returncode == 0, done.stderr
    assert errors(done.stderr) == [], done.stderr
    assert "quadrimester 2023-05 (Mai. a Ago. 2023)" in done.stdout
    assert "86 tickers" in done.stdout
    assert previa == [
        {"n": "86", "total": previa[0]["total"], "data": "2023-04-28", "origem": "csv"}
    ]
    assert Decimal(previa[0]["total"]) == Decimal("99.998")


def test_a_quadrimester_file_whose_weights_sum_to_99_is_flagged(tmp_path, fixtures_dir) -> None:
    """0.999 short of 100 is far past the rounding of 86 weights (0.043): the preview's check
    fails, the import exits 1 and names the sum and the bound. A preview is a forecast: its rows
    are kept (docs/previews.md)."""
    done, previa = imported(tmp_path, fixtures_dir, "99.000")
    assert done.returncode == 1, done.stdout
    [error] = [line for line in errors(done.stderr) if "data-quality checks failed" in line]
    assert "2023-04-28" in error
    flagged = [line for line in done.stderr.splitlines() if "weights_sum_to_100" in line]
    assert flagged, done.stderr
    assert "IBOV/carteira_previa.weights_sum_to_100" in flagged[0]
    assert "86 weights sum to 99.000 (100 ± 0.043 expected" in flagged[0]
    assert previa[0]["n"] == "86" and Decimal(previa[0]["total"]) == Decimal("99.000")
