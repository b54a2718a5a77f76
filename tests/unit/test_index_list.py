"""B3's list of indices (GetStockIndex) read into index codes and their companies."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter

import pytest

from b3_assets.source.index_list import (
    IndexListError,
    bundled_stock_index,
    index_codes,
    index_members,
    parse_index_list,
    sample_index_list,
)

FIXTURE = "stock_index_2025-04-07.json"


@pytest.fixture(scope="module")
def raw(fixtures_dir) -> bytes:
    return (fixtures_dir / FIXTURE).read_bytes()


@pytest.fixture
def answer(raw) -> dict:
    return json.loads(raw)


def independent_counts(raw: bytes) -> Counter:
    """Counted from the text with a regex, not through the parser or even json."""
    counts: Counter = Counter()
    for indexes in re.findall(r'"indexes":\s*"([^"]*)"', raw.decode("utf-8")):
        counts.update(set(indexes.split(",")) - {""})
    return counts


def test_the_real_answer_has_34_sorted_codes(raw) -> None:
    listing = parse_index_list(raw)
    codes = list(listing)
    assert len(codes) == 34
    assert codes == sorted(codes)
    assert {"IBOV", "IBXX", "IBXL", "IBRA", "SMLL", "IDIV", "IFIX", "BDRX"} <= set(codes)
    assert index_codes(raw) == codes


def test_counts_match_an_independent_count(raw) -> None:
    counts = independent_counts(raw)
    listing = parse_index_list(raw)
    assert listing == dict(counts)
    # pinned from the fixture's README and B3's own numbers of Jan-Apr 2025
    assert counts["IBOV"] == listing["IBOV"] == 87
    assert (listing["IBRA"], listing["SMLL"], listing["IFIX"]) == (175, 120, 117)
    assert (listing["BDRX"], listing["IDIV"], listing["IBXX"], listing["IBXL"]) == (
        152,
        51,
        101,
        50,
    )


def test_members_name_the_tickers(raw) -> None:
    members = index_members(raw)
    assert list(members) == list(parse_index_list(raw))
    assert members["IBOV"] == tuple(sorted(members["IBOV"]))
    assert {"PETR4", "VALE3", "ITUB4"} <= set(members["IBOV"])
    assert {"HGLG11", "KNRI11"} <= set(members["IFIX"])
    assert "AAPL34" in members["BDRX"]
    assert "PETR4" not in members["SMLL"]


def test_sample_index_list_is_the_bundled_real_answer(raw) -> None:
    assert bundled_stock_index() == raw  # the package data is the fixture, byte for byte
    listing = sample_index_list()
    assert listing == parse_index_list(raw)
    listing["IBOV"] = 0  # a copy: the caller may change it
    assert sample_index_list()["IBOV"] == 87


def test_bytes_text_and_object_read_alike(raw, answer) -> None:
    assert parse_index_list(raw) == parse_index_list(raw.decode()) == parse_index_list(answer)


def test_a_company_in_no_index_is_fine(answer) -> None:
    answer["results"][0]["indexes"] = ""
    answer["results"][1]["indexes"] = None
    members = index_members(answer)
    assert answer["results"][0]["code"] not in members["SMLL"]
    assert len(members) == 34


def test_an_index_listed_twice_for_one_company_counts_once(answer) -> None:
    answer["results"][0]["indexes"] += ",SMLL"
    assert parse_index_list(answer)["SMLL"] == 120


def mutate(answer: dict, change) -> dict:
    changed = copy.deepcopy(answer)
    change(changed)
    return changed


BAD = {
    "not JSON": (b'{"page": {"pageNumber": 1', "not valid JSON"),
    "HTML": (b"<html><body>manutencao</body></html>", "not valid JSON"),
    "a list": (b"[]", "not a JSON object"),
    "no results": (lambda a: a.pop("results"), "results"),
    "results not a list": (lambda a: a.update(results={"code": "X"}), "results"),
    "empty results": (
        lambda a: a.update(results=[], page={**a["page"], "totalRecords": 0}),
        "no companies",
    ),
    "no code": (lambda a: a["results"][3].pop("code"), "code"),
    "indexes a number": (lambda a: a["results"][3].update(indexes=7), "indexes"),
    "indexes a list": (lambda a: a["results"][3].update(indexes=["IBOV"]), "indexes"),
    "lowercase code": (lambda a: a["results"][3].update(indexes="IBOV,smll"), "'smll'"),
    "other separator": (lambda a: a["results"][3].update(indexes="IBOV;SMLL"), "IBOV;SMLL"),
    "short code": (lambda a: a["results"][3].update(indexes="IB"), "'IB'"),
    "empty item": (lambda a: a["results"][3].update(indexes="IBOV,,SMLL"), "''"),
    "ticker twice": (
        lambda a: (a["results"].append(a["results"][0]), a["page"].update(totalRecords=538)),
        "lists 'TTEN3' twice",
    ),
    "blank ticker": (lambda a: a["results"][3].update(code=" "), "code"),
    "one page of several": (
        lambda a: a.update(page={**a["page"], "totalPages": 2, "pageSize": 500}),
        "incomplete",
    ),
    "fewer than said": (lambda a: a["results"].pop(), "totalRecords=537 but holds 536"),
    "more than said": (
        lambda a: a["results"].append({**a["results"][0], "code": "ZZZZ3"}),
        "537 but holds 538",
    ),
    "no index at all": (
        lambda a: [r.update(indexes="") for r in a["results"]],
        "names no index",
    ),
    "page not numbers": (lambda a: a["page"].update(totalPages="1"), "totalPages"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_answers_are_refused_by_name(answer, case) -> None:
    change, message = BAD[case]
    bad = change if isinstance(change, bytes) else mutate(answer, change)
    with pytest.raises(IndexListError, match=re.escape(message)):
        parse_index_list(bad)


def test_the_error_is_a_value_error() -> None:
    assert issubclass(IndexListError, ValueError)
