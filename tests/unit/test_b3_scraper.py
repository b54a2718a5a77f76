import base64
import json
import math
from collections import deque
from datetime import date

import pytest
import requests

from b3_assets.source.b3_client import (
    B3ApiError,
    B3Client,
    fetch_index_list,
    index_list_url,
    merge_pages,
    portfolio_url,
    request_params,
)
from b3_assets.testing.fake_b3 import FakeB3, Fault, RunningFakeB3
from b3_assets.testing.sample import sample_portfolio

DAY = date(2025, 7, 14)


def client(server: RunningFakeB3, **kwargs) -> B3Client:
    options = {"timeout": 2.0, "retries": 3, "backoff": 0.01} | kwargs
    return B3Client(server.api_url, **options)


def test_url_carries_base64_json_params() -> None:
    url = portfolio_url(
        "https://b3.example/indexProxy/indexCall", request_params("IBOV", 2, 1, 120)
    )
    encoded = url.rsplit("/", 1)[1]
    assert json.loads(base64.b64decode(encoded)) == {
        "language": "pt-br",
        "pageNumber": 1,
        "pageSize": 120,
        "index": "IBOV",
        "segment": "2",
    }


def test_fetches_every_page_when_b3_caps_the_page_size(b3_server, seg2) -> None:
    fetched = client(b3_server).fetch()
    assert fetched.pages == 3  # 84 rows, B3 caps the asked 120 at 40
    assert [r["params"]["pageNumber"] for r in b3_server.fake.requests] == [1, 2, 3]
    assert fetched.response["results"] == seg2["results"]
    assert fetched.response["header"] == seg2["header"]
    assert fetched.portfolio.page.totalRecords == 84
    assert all(r["user_agent"].startswith("b3-lake/") for r in b3_server.fake.requests)


def test_one_page_keeps_the_exact_bytes(b3_server, seg2_bytes) -> None:
    b3_server.fake.max_page_size = None
    fetched = client(b3_server).fetch()
    assert fetched.raw == seg2_bytes
    assert fetched.pages == 1


def test_segment_1_has_no_sectors(b3_server) -> None:
    fetched = client(b3_server, segment=1).fetch()
    assert {r["segment"] for r in fetched.response["results"]} == {None}


@pytest.mark.parametrize("status", [503, 502, 429, 500])
def test_retries_transient_statuses_then_succeeds(b3_server, status: int) -> None:
    b3_server.fake.faults.extend(
        [Fault(status=status, body=b"busy"), Fault(status=status, body=b"busy")]
    )
    fetched = client(b3_server).fetch()
    assert fetched.portfolio.page.totalRecords == 84
    assert len(b3_server.fake.requests) == 5  # 2 failures + 3 pages


def test_gives_up_after_retries_with_the_status(b3_server) -> None:
    b3_server.fake.faults.extend(Fault(status=503, body=b"down") for _ in range(10))
    with pytest.raises(B3ApiError, match="503|kept failing"):
        client(b3_server, retries=2).fetch()


def test_timeout_is_reported(b3_server) -> None:
    b3_server.fake.faults.extend(Fault(delay=1.0) for _ in range(3))
    with pytest.raises(B3ApiError, match="did not answer within 0.3 s"):
        client(b3_server, timeout=0.3, retries=1).fetch()


def test_html_maintenance_page_with_status_200(b3_server) -> None:
    html = b"<!DOCTYPE html><html><body>Em manutencao</body></html>"
    b3_server.fake.faults.append(Fault(body=html, content_type="text/html"))
    with pytest.raises(B3ApiError, match="HTML page instead of JSON"):
        client(b3_server).fetch()


def test_truncated_json(b3_server) -> None:
    b3_server.fake.faults.append(Fault(truncate=True))
    with pytest.raises(B3ApiError, match="not valid JSON"):
        client(b3_server).fetch()


def test_empty_results(b3_server, seg2) -> None:
    empty = {**seg2, "page": {**seg2["page"], "totalRecords": 0}, "results": []}
    b3_server.fake.faults.append(Fault(body=json.dumps(empty).encode()))
    with pytest.raises(B3ApiError, match="empty portfolio"):
        client(b3_server).fetch()


def test_pages_that_disagree_on_the_header(b3_server, seg2) -> None:
    other = dict(seg2)
    other["header"] = {**seg2["header"], "date": "15/07/25"}
    other["page"] = {"pageNumber": 2, "pageSize": 40, "totalRecords": 84, "totalPages": 3}
    other["results"] = seg2["results"][40:80]
    b3_server.fake.faults.extend([Fault(), Fault(body=json.dumps(other).encode())])
    with pytest.raises(B3ApiError, match="pages disagree"):
        client(b3_server).fetch()


def test_count_that_differs_from_total_records(seg2) -> None:
    short = {**seg2, "results": seg2["results"][:80]}
    with pytest.raises(B3ApiError, match="totalRecords=84 but its 1 page"):
        merge_pages([short])


def test_connection_refused_is_clear() -> None:
    with pytest.raises(B3ApiError, match="could not connect|kept failing"):
        B3Client("http://127.0.0.1:9/indexProxy/indexCall", retries=0, timeout=1).fetch()


def test_wrong_shape_names_the_field(b3_server, seg2) -> None:
    bad = {**seg2, "header": {k: v for k, v in seg2["header"].items() if k != "date"}}
    b3_server.fake.faults.append(Fault(body=json.dumps(bad).encode()))
    with pytest.raises(B3ApiError, match="unexpected response shape(.|\n)*date"):
        client(b3_server).fetch()


def test_fake_server_rejects_garbage_parameters() -> None:
    with RunningFakeB3(FakeB3()) as running:
        import requests

        response = requests.get(f"{running.api_url}/GetPortfolioDay/%%%", timeout=2)
        assert response.status_code == 400


def params_of(url: str) -> dict:
    return json.loads(base64.b64decode(url.rsplit("/", 1)[1]))


def test_fake_serves_smll_in_pages() -> None:
    fake = FakeB3(max_page_size=40)
    fake.serve_sample(DAY, "SMLL")
    expected = sample_portfolio(DAY, 2, "SMLL")
    with RunningFakeB3(fake) as server:
        fetched = client(server, index="SMLL").fetch()
    count = len(expected["results"])
    assert count > 80
    assert fetched.pages == math.ceil(count / 40)
    assert fetched.response["results"] == expected["results"]
    assert fetched.response["header"] == expected["header"]
    assert {r["params"]["index"] for r in fake.requests} == {"SMLL"}
    assert [r["params"]["pageNumber"] for r in fake.requests] == list(range(1, fetched.pages + 1))


def test_ibra_over_120_needs_two_pages_of_120() -> None:
    fake = FakeB3()  # no cap: B3's own page size 120 is what splits it
    fake.serve_sample(DAY, "IBRA")
    expected = sample_portfolio(DAY, 2, "IBRA")
    with RunningFakeB3(fake) as server:
        fetched = client(server, index="IBRA").fetch()
    assert len(expected["results"]) > 120
    assert fetched.pages == 2
    assert [r["params"]["pageSize"] for r in fake.requests] == [120, 120]
    assert fetched.response == expected  # merged pages: page 1's envelope, every result
    assert fetched.portfolio.page.totalRecords == len(expected["results"])


def test_indices_are_served_apart(fixtures_dir) -> None:
    fake = FakeB3(max_page_size=40)
    fake.serve_file(fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json", segment=2)
    fake.serve_sample(DAY, "SMLL", segments=(2,))
    fake.serve(sample_portfolio(DAY, 2, "IFIX"), segment=2, index="IFIX")
    with RunningFakeB3(fake) as server:
        ibov = client(server).fetch()
        smll = client(server, index="SMLL").fetch()
        ifix = client(server, index="IFIX").fetch()
        with pytest.raises(B3ApiError, match="empty portfolio"):
            client(server, index="IDIV").fetch()  # not served: B3's empty answer
    assert ibov.portfolio.page.totalRecords == 84
    assert {r["cod"] for r in ibov.response["results"]} != {
        r["cod"] for r in smll.response["results"]
    }
    # a fund index is not split by sector even in segment 2
    assert {(r["segment"], r["partAcum"]) for r in ifix.response["results"]} == {(None, None)}
    assert all(r["type"].startswith("CI") for r in ifix.response["results"])


def test_sample_day_answers_every_index() -> None:
    fake = FakeB3(max_page_size=120, sample_day=DAY)
    with RunningFakeB3(fake) as server:
        for index in ("IBOV", "IBXX", "IDIV", "BDRX", "ZZZ1"):
            for segment in (1, 2):
                fetched = client(server, index=index, segment=segment).fetch()
                assert fetched.response == sample_portfolio(DAY, segment, index)
        with pytest.raises(B3ApiError, match="empty portfolio"):
            client(server, index="ibov").fetch()  # not an index code


def test_serve_file_as_another_index(fixtures_dir, seg2_bytes) -> None:
    fake = FakeB3()
    fake.serve_file(fixtures_dir / "portfolio_day_IBOV_seg2_2025-07-14.json", 2, index="IBXX")
    with RunningFakeB3(fake) as server:
        assert client(server, index="IBXX").fetch().raw == seg2_bytes
        with pytest.raises(B3ApiError, match="empty portfolio"):
            client(server).fetch()  # IBOV was not served


def test_index_list_url_asks_for_one_big_page() -> None:
    url = index_list_url("https://b3.example/indexProxy/indexCall/")
    assert url.startswith("https://b3.example/indexProxy/indexCall/GetStockIndex/")
    assert params_of(url) == {"pageNumber": 1, "pageSize": 9999}


def test_fetch_index_list_from_the_fake(fixtures_dir) -> None:
    fixture = (fixtures_dir / "stock_index_2025-04-07.json").read_bytes()
    with RunningFakeB3(FakeB3(max_page_size=40)) as server:  # the cap is GetPortfolioDay's
        fetched = fetch_index_list(server.api_url, timeout=2.0, retries=1, backoff=0.01)
        assert server.fake.requests[-1]["method"] == "GetStockIndex"
        assert server.fake.requests[-1]["params"] == {"pageNumber": 1, "pageSize": 9999}
        assert server.fake.requests[-1]["user_agent"].startswith("b3-lake/")
        via_client = client(server).fetch_index_list()
    assert fetched.raw == fixture  # the bundled answer, byte for byte
    assert fetched.response == json.loads(fixture)
    assert len(fetched.sha256) == 64
    assert fetched.source_url == index_list_url(server.api_url)
    codes = fetched.indices
    assert len(codes) == 34 and codes["IBRA"] == 175 and codes["SMLL"] == 120
    assert "HGLG11" in fetched.members["IFIX"]
    assert via_client.raw == fixture


def test_fake_pages_the_index_list_when_asked() -> None:
    with RunningFakeB3(FakeB3()) as server:
        params = base64.b64encode(b'{"pageNumber":2,"pageSize":100}').decode()
        body = requests.get(f"{server.api_url}/GetStockIndex/{params}", timeout=2).json()
    assert body["page"] == {
        "pageNumber": 2,
        "pageSize": 100,
        "totalRecords": 537,
        "totalPages": 6,
    }
    assert len(body["results"]) == 100


def test_fetch_index_list_serves_another_answer() -> None:
    answer = {
        "page": {"pageNumber": 1, "pageSize": 9999, "totalRecords": 2, "totalPages": 1},
        "header": {"update": "2026-01-05", "startMonth": 1, "endMonth": 4, "year": 2026},
        "results": [
            {"company": "PETROBRAS", "spotlight": "PN   N2", "code": "PETR4", "indexes": "IBOV"},
            {"company": "FII X", "spotlight": "CI", "code": "XXXX11", "indexes": "IFIX,IFIL"},
        ],
    }
    fake = FakeB3()
    fake.serve_stock_index(answer)
    with RunningFakeB3(fake) as server:
        fetched = fetch_index_list(server.api_url, retries=0, timeout=2)
    assert fetched.members == {"IBOV": ("PETR4",), "IFIL": ("XXXX11",), "IFIX": ("XXXX11",)}
    assert list(fetched.indices.items()) == [("IBOV", 1), ("IFIL", 1), ("IFIX", 1)]


def test_fetch_index_list_retries_then_succeeds() -> None:
    fake = FakeB3(faults=deque([Fault(status=503, body=b"busy"), Fault(status=502, body=b"busy")]))
    with RunningFakeB3(fake) as server:
        fetched = fetch_index_list(server.api_url, timeout=2.0, retries=3, backoff=0.01)
    assert len(fetched.indices) == 34
    assert len(fake.requests) == 3


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault(status=503, body=b"down"), "503|kept failing"),
        (Fault(body=b"<!DOCTYPE html><html>Em manutencao</html>"), "HTML page instead of JSON"),
        (Fault(truncate=True), "not valid JSON"),
        (Fault(body=b'{"page": null, "results": {}}'), "unusable list(.|\n)*results"),
        (Fault(body=b'{"results": [{"code": "PETR4", "indexes": "IBOV;SMLL"}]}'), "IBOV;SMLL"),
    ],
)
def test_fetch_index_list_errors_name_the_problem(fault: Fault, message: str) -> None:
    fake = FakeB3()
    fake.faults.extend(copy_fault(fault) for _ in range(5))
    with RunningFakeB3(fake) as server, pytest.raises(B3ApiError, match=message):
        fetch_index_list(server.api_url, timeout=2.0, retries=1, backoff=0.01)


def copy_fault(fault: Fault) -> Fault:
    return Fault(fault.status, fault.body, fault.delay, fault.truncate, fault.content_type)


def test_fetch_index_list_timeout_and_refused_connection() -> None:
    fake = FakeB3()
    fake.faults.extend(Fault(delay=1.0) for _ in range(3))
    with RunningFakeB3(fake) as server, pytest.raises(B3ApiError, match="within 0.3 s"):
        fetch_index_list(server.api_url, timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(B3ApiError, match="could not connect|kept failing"):
        fetch_index_list("http://127.0.0.1:9/indexProxy/indexCall", retries=0, timeout=1)


def test_fetch_index_codes_takes_the_settings() -> None:
    from types import SimpleNamespace

    from b3_assets.source.index_list import fetch_index_codes

    fake = FakeB3(faults=deque([Fault(status=503, body=b"busy")]))
    with RunningFakeB3(fake) as server:
        settings = SimpleNamespace(api_url=server.api_url, http_timeout=2.0, http_retries=2)
        codes = fetch_index_codes(settings)
        assert codes["IBOV"] == 87 and len(codes) == 34
        fake.faults.extend(Fault(status=503, body=b"down") for _ in range(5))
        with pytest.raises(B3ApiError, match="503|kept failing"):
            fetch_index_codes(SimpleNamespace(api_url=server.api_url, http_retries=1))
