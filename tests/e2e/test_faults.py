"""Faults injected through the local B3 server while `b3 run` runs for real (a subprocess).

Every data dir starts with six trading dates imported from B3's CSV downloads and refined: the
history a fault must never touch. Each test asserts the clear error and that every file under
the data dir is byte- and mtime-identical afterwards.
"""

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import tree_state
from test_cli import B3, b3, b3_env

from b3_assets.testing.fake_b3 import FakeB3, Fault, RunningFakeB3

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def history(tmp_path_factory, csv_files) -> Path:
    data_dir = tmp_path_factory.mktemp("history")
    b3(data_dir, "http://127.0.0.1:9/unused", "import", *map(str, csv_files))
    assert len(list((data_dir / "lake/refined/header/indice=IBOV").iterdir())) == 6
    return data_dir


@pytest.fixture
def data_dir(history, tmp_path) -> Path:
    copy_ = tmp_path / "data"
    shutil.copytree(history, copy_)
    return copy_


def captured(state: dict, keys: dict | None = None) -> dict:
    """The captured history in a tree state (the catalog file is rewritten by every run)."""
    return {
        k: v
        for k, v in state.items()
        if k.startswith(("raw/", "bronze/", "lake/")) and (keys is None or k in keys)
    }


def served(response: dict, max_page_size: int | None = 40) -> RunningFakeB3:
    fake = FakeB3(max_page_size=max_page_size)
    fake.serve(response, segment=2)
    return RunningFakeB3(fake)


def other_header(seg2: dict) -> dict:
    page = copy.deepcopy(seg2)
    page["header"]["theoricalQty"] = "1.000"
    page["page"] = {"pageNumber": 2, "pageSize": 40, "totalRecords": 84, "totalPages": 3}
    page["results"] = seg2["results"][40:80]
    return page


def with_value(seg2: dict, section: str, key: str, value) -> dict:
    response = copy.deepcopy(seg2)
    target = response["results"][0] if section == "results" else response[section]
    target[key] = value
    return response


FAULTS = {
    "B3 answers 503 on every try": (
        lambda seg2: seg2,
        [Fault(status=503, body=b"busy")] * 3,
        "B3 answered HTTP 503",
    ),
    "B3 hangs past the timeout": (
        lambda seg2: seg2,
        [Fault(delay=2.5)] * 3,
        "B3 did not answer within 1 s",
    ),
    "an HTML maintenance page with status 200": (
        lambda seg2: seg2,
        [Fault(body=b"<html><body>Em manutencao</body></html>", content_type="text/html")],
        "HTML page instead of JSON",
    ),
    "truncated JSON": (lambda seg2: seg2, [Fault(truncate=True)], "not valid JSON"),
    "empty results": (
        lambda seg2: {**seg2, "results": []},
        [],
        "empty portfolio (no results)",
    ),
    "pages that disagree": (
        lambda seg2: seg2,
        "other-header-on-page-2",
        "B3 pages disagree: page 2 has header",
    ),
    "a weight in the US locale": (
        lambda seg2: with_value(seg2, "results", "part", "11.375"),
        [],
        "not a pt-BR decimal (expected like '1.234,567'): '11.375'",
    ),
    "a quantity in the US locale": (
        lambda seg2: with_value(seg2, "header", "theoricalQty", "91,922,324,640"),
        [],
        "not a pt-BR integer",
    ),
    "a header date that is not a trading date": (
        lambda seg2: with_value(seg2, "header", "date", "12/07/25"),
        [],
        "B3's header date 12/07/25 (2025-07-12, a weekend) is not a B3 trading day",
    ),
    "a header date on a B3 holiday": (
        lambda seg2: with_value(seg2, "header", "date", "20/11/25"),
        [],
        "(2025-11-20, a B3 holiday) is not a B3 trading day",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_is_named_and_the_history_is_untouched(data_dir, seg2, fault: str) -> None:
    make, faults, expected = FAULTS[fault]
    before = tree_state(data_dir)
    with served(make(seg2)) as server:
        if faults == "other-header-on-page-2":
            body = json.dumps(other_header(seg2)).encode()
            faults = [Fault(), Fault(body=body)]
        server.fake.faults.extend(faults)
        done = b3(data_dir, server.api_url, "run", "--date", "2025-07-14", check=False, timeout=1)
    assert done.returncode == 1, done.stdout
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert tree_state(data_dir) == before


def test_503_then_recovery_is_retried_and_captures(data_dir, seg2) -> None:
    before = tree_state(data_dir)
    with served(seg2) as server:
        server.fake.faults.extend([Fault(status=503, body=b"busy")] * 2)
        done = b3(data_dir, server.api_url, "run", "--date", "2025-07-14", retries=3)
        # Two refusals, three pages to learn the served date, three more in the run itself;
        # then the preview and the theoretical portfolio of the session B3 serves, once each.
        methods = [request["method"] for request in server.fake.requests]
        assert methods.count("GetPortfolioDay") == 2 + 3 + 3
        assert sorted(set(methods) - {"GetPortfolioDay"}) == [
            "GetQuartelyPreview",
            "GetTheoricalPortfolio",
        ]
        assert len(methods) == 2 + 3 + 3 + 2
    assert "IBOV 2025-07-14  (" in done.stdout and "[fetched now]" in done.stdout
    after = tree_state(data_dir)
    assert captured(after, before) == captured(before)
    assert "raw/IBOV/2025-07-14/portfolio_IBOV.json" in after


def test_an_unknown_field_is_kept_in_raw_and_ignored_downstream(data_dir, seg2) -> None:
    response = copy.deepcopy(seg2)
    response["header"]["novoCampo"] = "x"
    for row in response["results"]:
        row["isin"] = f"BR{row['cod']}"
    raw = json.dumps(response, ensure_ascii=False).encode()
    before = tree_state(data_dir)
    fake = FakeB3()
    fake.serve(response, segment=2, raw=raw)
    with RunningFakeB3(fake) as server:
        b3(data_dir, server.api_url, "run")
    assert (data_dir / "raw/IBOV/2025-07-14/portfolio_IBOV.json").read_bytes() == raw
    assert captured(tree_state(data_dir), before) == captured(before)
    done = b3(data_dir, "http://127.0.0.1:9/unused", "query", "SELECT * FROM ibov_ativos LIMIT 1",
              "--format", "json")  # fmt: skip
    assert "isin" not in done.stdout and "acao" in done.stdout


def test_two_runs_of_one_partition_at_once_do_not_interleave(data_dir, seg2) -> None:
    """The second run waits for the first one's capture lock, then keeps its capture."""
    before = tree_state(data_dir)
    with served(seg2) as server:
        server.fake.faults.extend([Fault(delay=1.0)] * 12)  # every page slow: the runs overlap
        env = b3_env(data_dir, server.api_url)
        runs = [
            subprocess.Popen(
                [str(B3), "run", "--date", "2025-07-14"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=180) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    states = sorted("fetched now" in out for out, _ in outputs)
    assert states == [False, True], outputs  # one fetched and wrote, the other kept it
    assert any("already captured, kept as is" in out for out, _ in outputs)
    after = tree_state(data_dir)
    assert captured(after, before) == captured(before)
    partitions = list((data_dir / "lake/refined/ativos/indice=IBOV/data=2025-07-14").iterdir())
    assert len(partitions) == 84
    assert all(len(list(p.iterdir())) == 1 for p in partitions)
    done = b3(data_dir, server.api_url, "query",
              "SELECT count(*) AS n FROM ibov_ativos WHERE data = DATE '2025-07-14'")  # fmt: skip
    assert "84" in done.stdout
