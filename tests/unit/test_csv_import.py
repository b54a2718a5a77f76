import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b3_assets.source.csv_download import NotAPortfolioCsv, parse_portfolio_csv


def test_each_download_equals_b3s_own_response_of_that_day(csv_files, fixtures_dir) -> None:
    assert len(csv_files) == 6
    for path in csv_files:
        dd, mm, yy = path.stem.split("_")[1].split("-")
        expected = json.loads(
            (fixtures_dir / f"portfolio_day_IBOV_seg1_20{yy}-{mm}-{dd}.json").read_text()
        )
        response = parse_portfolio_csv(path.read_bytes(), path.name)
        assert response == expected
        assert len(response["results"]) == 87


def good(csv_files) -> bytes:
    return csv_files[0].read_bytes()


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b"", "non-empty lines"),
        (lambda b: b"\x00\x01binary" * 20, "binary"),
        (lambda b: b.replace(b"Carteira do Dia", b"Carteira Teorica"), "first line"),
        (lambda b: b.replace(b"Qtde. Te", b"Quantidade Te"), "header line"),
        (lambda b: b.replace(b"ABEV3;AMBEV S/A;ON;", b"ABEV3;AMBEV S/A;"), "fields"),
        (lambda b: b.replace(b"4.394.835.131", b"4,394,835,131"), "pt-BR integer"),
        (lambda b: b.replace(b"Redutor", b"Reductor"), "footer"),
        (lambda b: b.decode("iso-8859-1").encode("utf-8"), "ISO-8859-1"),
    ],
)
def test_refuses_what_is_not_a_portfolio_csv_with_the_reason(csv_files, mutate, reason) -> None:
    with pytest.raises(NotAPortfolioCsv, match=reason):
        parse_portfolio_csv(mutate(good(csv_files)), csv_files[0].name)


def test_refuses_a_file_name_that_contradicts_the_title(csv_files) -> None:
    with pytest.raises(NotAPortfolioCsv, match="file name says 2025-03-06"):
        parse_portfolio_csv(good(csv_files), "IBOVDia_06-03-25.csv")


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_are_refused_cleanly(data: bytes) -> None:
    with pytest.raises(NotAPortfolioCsv):
        parse_portfolio_csv(data, "x.csv")


@settings(max_examples=200)
@given(st.data())
def test_corrupting_one_line_never_yields_a_silently_wrong_portfolio(csv_files, data) -> None:
    lines = good(csv_files).split(b"\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    lines[index] = data.draw(st.binary(max_size=60))
    try:
        response = parse_portfolio_csv(b"\n".join(lines), "x.csv")
    except NotAPortfolioCsv:
        return
    # Accepted only if every value still reads as B3 writes it (validated by the models).
    assert response["page"]["totalRecords"] == len(response["results"])


def test_refuses_another_index(csv_files) -> None:
    data = good(csv_files).replace(b"IBOV - Carteira", b"IBXX - Carteira")
    with pytest.raises(NotAPortfolioCsv, match="portfolio of IBXX, not IBOV"):
        parse_portfolio_csv(data, "IBXXDia_05-03-25.csv", index="IBOV")
