"""A local stand-in for B3's index API, for tests, benchmarks and demos with no internet.

It serves GetPortfolioDay like B3 does: parameters as base64 JSON in the path, one response per
(index, segment) chosen by the request's `index` and `segment`, pages honoured, and a page-size
cap below what was asked (B3 caps too), so clients must follow totalPages. A one-page answer of a
response loaded from a file is served byte for byte. An index with nothing to serve gets B3's
empty answer, unless `sample_day` is set: then every valid index code is answered with the
offline sample of that day (`sample_portfolio`). GetTheoricalPortfolio and GetQuartelyPreview
answer one response per (kind, index), "theoretical" or "preview", paged the same way; with none
served (the default, or `serve_theoretical(kind, index, None)`) they give the empty answer B3
gives outside the weeks before a rebalance (the sample day does not invent previews). The
response is sent as given whatever `language` is asked. GetStockIndex (the list of indices)
answers with the bundled real answer of 2025-04-07 unless another one is served;
GetDownloadPortfolioDay answers with `csv` when set. Faults can be queued to prove the client's
retries and errors: a status code, an HTML page, a truncated body, a hang; each is used by the
next request, whatever its method.

    python -m b3_assets.testing.fake_b3 --port 8765 --response portfolio.json --max-page-size 40
    python -m b3_assets.testing.fake_b3 --port 8765 --response smll.json --index SMLL
    python -m b3_assets.testing.fake_b3 --port 8765 --offline-date 2025-07-14   # every index
    python -m b3_assets.testing.fake_b3 --preview theorical_portfolio_IBOV_pt-br.json
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PREFIX = "/indexProxy/indexCall/"
# B3's method names, spelt as B3 spells them; written out here, not imported from the client, so
# a typo in the client fails its tests instead of being shared by both.
THEORETICAL_METHODS = {"GetTheoricalPortfolio": "theoretical", "GetQuartelyPreview": "preview"}
EMPTY_ANSWER = {
    "page": {"pageNumber": 1, "pageSize": 0, "totalRecords": 0, "totalPages": 0},
    "header": None,
    "results": [],
}


@dataclass
class Fault:
    """One injected misbehaviour, used by the next request that reaches the server."""

    status: int = 200
    body: bytes | None = None
    delay: float = 0.0
    truncate: bool = False
    content_type: str = "application/json"


@dataclass
class FakeB3:
    """What the server serves: one response per (index, segment), plus queued faults.

    `responses`/`raw` are keyed by (index, segment as a string), e.g. ("SMLL", "2"); fill them
    with `serve(response, segment, index=...)`, `serve_file(path, segment, index=...)` or
    `serve_sample(day, index)`. `sample_day` answers every other valid index from the sample
    generator. `stock_index` holds the GetStockIndex body (None: the bundled real answer).
    `theoretical`/`theoretical_raw` are keyed by (kind, index), e.g. ("preview", "IBOV"); fill
    them with `serve_theoretical(kind, index, response)`.
    """

    responses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    raw: dict[tuple[str, str], bytes] = field(default_factory=dict)
    max_page_size: int | None = None
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    csv: bytes | None = None
    sample_day: date | None = None
    stock_index: bytes | None = None
    theoretical: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    theoretical_raw: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def serve(
        self,
        response: dict[str, Any],
        segment: int | None = None,
        raw: bytes | None = None,
        index: str = "IBOV",
    ) -> None:
        """Serves `response` as `index`'s portfolio (IBOV unless told) in `segment`.

        Without `segment`, a response whose first result has a sector is segment 2, else 1; pass
        it for the segment-2 answer of an index with no sectors (IFIX, BDRX), which has none.
        `raw`, when given, is sent byte for byte when the whole response fits in one page.
        """
        if segment is None:
            segment = 2 if response["results"] and response["results"][0].get("segment") else 1
        key = (index, str(segment))
        self.responses[key] = response
        if raw is not None:
            self.raw[key] = raw
        else:
            self.raw.pop(key, None)

    def serve_file(self, path: Path, segment: int | None = None, index: str = "IBOV") -> None:
        raw = path.read_bytes()
        self.serve(json.loads(raw), segment, raw, index=index)

    def serve_sample(
        self, day: date, index: str = "IBOV", segments: tuple[int, ...] = (1, 2)
    ) -> None:
        """Serves the offline sample of `index` on `day` (both segments unless told)."""
        from b3_assets.testing.sample import sample_portfolio

        for segment in segments:
            self.serve(sample_portfolio(day, segment, index), segment, index=index)

    def serve_stock_index(self, response: dict[str, Any] | bytes) -> None:
        """Serves this GetStockIndex answer (an object, or exact bytes) instead of the bundled."""
        if isinstance(response, bytes):
            self.stock_index = response
        else:
            self.stock_index = json.dumps(response, ensure_ascii=False).encode()

    def serve_theoretical(
        self, kind: str, index: str = "IBOV", response: dict[str, Any] | bytes | None = None
    ) -> None:
        """Serves `response` as `index`'s theoretical portfolio or preview (`kind`).

        Bytes (a fixture file's) are sent byte for byte when the whole answer fits in one page;
        None serves "none" (B3's empty answer), as for a (kind, index) never served; an answer
        with no results (another shape of "none") is sent as given, unpaged.
        """
        if kind not in THEORETICAL_METHODS.values():
            raise ValueError(f"kind must be 'theoretical' or 'preview', not {kind!r}")
        key = (kind, index)
        self.theoretical.pop(key, None)
        self.theoretical_raw.pop(key, None)
        if isinstance(response, bytes):
            self.theoretical[key] = json.loads(response)
            self.theoretical_raw[key] = response
        elif response is not None:
            self.theoretical[key] = response

    def theoretical_page(self, kind: str, params: dict[str, Any]) -> bytes:
        """GetTheoricalPortfolio/GetQuartelyPreview: the asked page, or the empty answer."""
        key = (kind, str(params.get("index")))
        response = self.theoretical.get(key)
        if response is None:
            return json.dumps(EMPTY_ANSWER).encode()
        raw = self.theoretical_raw.get(key)
        if not response.get("results"):  # a served empty variant (results null...): as given
            return raw if raw is not None else json.dumps(response).encode()
        return self._paged(response, raw, params)

    def _paged(self, response: dict[str, Any], raw: bytes | None, params: dict[str, Any]) -> bytes:
        """The asked page of `response` (page size capped like B3's); `raw` when it is all."""
        asked = int(params.get("pageSize", 120))
        size = min(asked, self.max_page_size or asked)
        number = int(params.get("pageNumber", 1))
        results = response["results"]
        total_pages = max(1, math.ceil(len(results) / size))
        if number == 1 and size >= len(results) and raw is not None:
            return raw
        body = dict(response)
        body["page"] = {
            "pageNumber": number,
            "pageSize": size,
            "totalRecords": len(results),
            "totalPages": total_pages,
        }
        body["results"] = results[(number - 1) * size : number * size]
        return json.dumps(body, ensure_ascii=False, indent=1).encode()

    def _response(self, key: tuple[str, str]) -> dict[str, Any] | None:
        response = self.responses.get(key)
        index, segment = key
        if response is None and self.sample_day is not None and segment in ("1", "2"):
            from b3_assets.testing.sample import sample_portfolio
            from b3_contract.lake_keys import INDEX_CODE

            if INDEX_CODE.fullmatch(index):
                response = sample_portfolio(self.sample_day, int(segment), index)
                self.responses.setdefault(key, response)
        return response

    def stock_index_page(self, params: dict[str, Any]) -> bytes:
        """GetStockIndex: the whole answer as is, or the asked page of its companies."""
        if self.stock_index is None:
            from b3_assets.source.index_list import bundled_stock_index

            raw = bundled_stock_index()
        else:
            raw = self.stock_index
        answer = json.loads(raw)
        results = answer.get("results") or []
        size = max(1, int(params.get("pageSize", 20)))
        number = int(params.get("pageNumber", 1))
        if number == 1 and size >= len(results):
            return raw
        body = dict(answer)
        body["page"] = {
            "pageNumber": number,
            "pageSize": size,
            "totalRecords": len(results),
            "totalPages": max(1, math.ceil(len(results) / size)),
        }
        body["results"] = results[(number - 1) * size : number * size]
        return json.dumps(body, ensure_ascii=False).encode()

    def page(self, params: dict[str, Any]) -> bytes:
        key = (str(params.get("index")), str(params.get("segment")))
        response = self._response(key)
        if response is None:
            return json.dumps(EMPTY_ANSWER).encode()
        return self._paged(response, self.raw.get(key), params)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        fake = self.server.fake
        if not self.path.startswith(PREFIX):
            self._send(404, b'{"message":"not found"}')
            return
        method, _, encoded = self.path[len(PREFIX) :].partition("/")
        try:
            params = json.loads(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            self._send(400, b'{"message":"bad parameters"}')
            return
        fake.requests.append(
            {"method": method, "params": params, "user_agent": self.headers.get("User-Agent")}
        )
        fault = fake.faults.popleft() if fake.faults else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if method == "GetPortfolioDay":
            status, body = 200, fake.page(params)
        elif method in THEORETICAL_METHODS:
            status, body = 200, fake.theoretical_page(THEORETICAL_METHODS[method], params)
        elif method == "GetStockIndex":
            status, body = 200, fake.stock_index_page(params)
        elif method == "GetDownloadPortfolioDay" and fake.csv is not None:
            status, body = 200, json.dumps(base64.b64encode(fake.csv).decode()).encode()
        else:
            status, body = 404, b'{"message":"unknown method"}'
        content_type = "application/json"
        if fault is not None:
            status = fault.status
            content_type = fault.content_type
            body = fault.body if fault.body is not None else body
            if fault.truncate:
                body = body[: len(body) // 2]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send(status, body, content_type)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeB3


class RunningFakeB3:
    """A FakeB3 listening on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, fake: FakeB3 | None = None, port: int = 0) -> None:
        self.fake = fake or FakeB3()
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.fake = self.fake
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )  # a quick shutdown: the tests start and stop many servers

    @property
    def api_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{PREFIX.rstrip('/')}"

    def __enter__(self) -> RunningFakeB3:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--response", type=Path, action="append", default=[], help="a GetPortfolioDay JSON file"
    )
    parser.add_argument(
        "--index", default="IBOV", help="the index the --response files are served as [IBOV]"
    )
    parser.add_argument(
        "--offline-date",
        type=date.fromisoformat,
        help="serve the bundled sample of this date, for every index",
    )
    parser.add_argument(
        "--stock-index", type=Path, help="a GetStockIndex JSON file [the bundled 2025-04-07 one]"
    )
    parser.add_argument(
        "--theoretical", type=Path, help="a GetTheoricalPortfolio JSON file, served as --index"
    )
    parser.add_argument(
        "--preview", type=Path, help="a GetQuartelyPreview JSON file, served as --index [none]"
    )
    parser.add_argument("--max-page-size", type=int)
    args = parser.parse_args()
    fake = FakeB3(max_page_size=args.max_page_size, sample_day=args.offline_date)
    for path in args.response:
        fake.serve_file(path, index=args.index)
    for kind in ("theoretical", "preview"):
        if getattr(args, kind):
            fake.serve_theoretical(kind, args.index, getattr(args, kind).read_bytes())
    if args.stock_index:
        fake.serve_stock_index(args.stock_index.read_bytes())
    with RunningFakeB3(fake, args.port) as running:
        print(f"serving B3 at {running.api_url}  (B3_API_URL={running.api_url})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            running.thread.join()


if __name__ == "__main__":
    main()
