import base64
import json

import pytest

from b3_assets.source.b3_client import (
    B3ApiError,
    B3Client,
    merge_pages,
    portfolio_url,
    request_params,
)
from b3_assets.testing.fake_b3 import FakeB3, Fault, RunningFakeB3


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
