"""`b3 import` (the real command, in a subprocess) of files made from B3's real downloads as they
reach users: the CR-only copies are imported like the downloads they were, and each HTML page
or spreadsheet re-save is refused in exactly one line that names the problem."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from test_cli import b3

pytestmark = pytest.mark.e2e

NOWHERE = "http://127.0.0.1:9"  # import reads files only; nothing may be fetched


def cr_only(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def dedotted(data: bytes) -> bytes:
    return re.sub(rb"(?<=\d)\.(?=\d{3}(?:[^\d]|$))", b"", data)


def count_rows(data_dir: Path, sql: str) -> int:
    out = b3(data_dir, NOWHERE, "query", sql, "--format", "csv").stdout
    return int(next(csv.DictReader(io.StringIO(out)))["n"])


def test_one_refusal_line_per_bad_file_and_the_cr_only_files_imported(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    def fixture(name: str) -> bytes:
        return (fixtures_dir / name).read_bytes()

    folder = tmp_path / "downloads"
    folder.mkdir()
    files = {
        "IBOVDia_05-03-25.csv": cr_only(fixture("IBOVDia_05-03-25.csv")),
        "IBOVQuad_9-2023.csv": cr_only(fixture("IBOVQuad_9-2023.csv")),
        "IBOVDia_06-03-25.csv": b"<!DOCTYPE html>\n<html><head><title>Erro 503</title></head>"
        b"<body>Servi\xe7o indispon\xedvel</body></html>\n",
        "IBOVDia_11-03-25.csv": dedotted(fixture("IBOVDia_11-03-25.csv")),
        "IBOVDia_12-03-25.csv": fixture("IBOVDia_12-03-25.csv").replace(b";", b","),
        "SMLLDia_22-10-24.csv": fixture("SMLLDia_22-10-24.csv").replace(b";", b"\t"),
        "IBXXDia_20-06-25.csv": re.sub(rb"(?<=\d),(?=\d)", b".", fixture("IBXXDia_20-06-25.csv")),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    data_dir = tmp_path / "data"
    done = b3(data_dir, NOWHERE, "import", *(str(folder / name) for name in files), check=False)

    assert done.returncode == 1
    refused = [line for line in done.stderr.splitlines() if line.startswith("refused ")]
    expected = {
        "IBOVDia_06-03-25.csv": "it is an HTML page, not B3's CSV: the download failed? "
        "(page title 'Erro 503')",
        "IBOVDia_11-03-25.csv": "it looks re-saved by a spreadsheet: numbers without B3's "
        "thousands dots (line 3: '",
        "IBOVDia_12-03-25.csv": "it looks re-saved by a spreadsheet: fields separated by ',' "
        "instead of B3's ';' (line 2: ",
        "SMLLDia_22-10-24.csv": "it looks re-saved by a spreadsheet: fields separated by tabs "
        "instead of B3's ';' (line 2: ",
        "IBXXDia_20-06-25.csv": "it looks re-saved by a spreadsheet: decimal points instead of "
        "B3's decimal commas (line 3: '",
    }
    assert len(refused) == len(expected), done.stderr
    for name, reason in expected.items():
        (line,) = [line for line in refused if line.startswith(f"refused {folder / name}: ")]
        assert line.startswith(
            f"refused {folder / name}: {name} is not a B3 portfolio CSV: {reason}"
        ), line
        if "spreadsheet" in reason:
            assert line.endswith("; use the file as downloaded"), line
    assert f"{len(expected)} file(s) refused" in done.stderr
    for noise in ("validation error", "errors.pydantic.dev", "Traceback", "non-empty lines"):
        assert noise not in done.stderr

    assert "imported IBOV 2025-03-05: 87 constituents" in done.stdout
    assert "imported IBOV quadrimester 2023-09 (Set. a Dez. 2023)" in done.stdout
    ativos = "SELECT count(*) AS n FROM carteira_ativos WHERE data = DATE '2025-03-05'"
    assert count_rows(data_dir, ativos) == 87
    quadrimester = sum(1 for line in files["IBOVQuad_9-2023.csv"].split(b"\r") if line) - 4
    previa = "SELECT count(*) AS n FROM carteira_previa WHERE indice = 'IBOV'"
    assert count_rows(data_dir, previa) == quadrimester
    assert count_rows(data_dir, "SELECT count(DISTINCT data) AS n FROM carteira_ativos") == 1
