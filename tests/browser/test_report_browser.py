"""The report in a real browser: Debian's chromium driven by Playwright opens the file from a
file:// URL. Every chart is visible and drawn, the page fetches nothing but itself, logs no error,
and a full-page screenshot comes out.

Playwright drives the system's chromium (`/usr/bin/chromium`), never a browser downloaded by
`playwright install`. Without either, the test fails and says how to install them: a browser test
that skips silently would let a broken report pass CI.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import report_data

from b3_assets.analytics.report import load_report_data, render_report

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHARTS = {"weights", "sectors", "top-weights", "sector-weights", "concentration"}


def sync_playwright():
    """Playwright's sync API, or a failure that says how to get it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(
            f"the browser test needs Playwright ({exc}); install the dev extra: "
            '`pip install -e ".[dev]"` (it drives Debian\'s chromium: no `playwright install`)',
            pytrace=False,
        )
    if not CHROMIUM.is_file() or not shutil.which(str(CHROMIUM)):
        pytest.fail(
            f"the browser test needs Debian's chromium at {CHROMIUM}: "
            "`sudo apt-get install chromium` (.ci/run installs it on a fresh machine)",
            pytrace=False,
        )
    return sync_playwright()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synthetic = report_data.build(sessions=60, tickers=80)
    data = load_report_data(synthetic.query, synthetic.index, synthetic.start, synthetic.end)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(data), encoding="utf-8")
    return path


def test_the_report_opens_offline_with_every_chart_drawn(report: Path, tmp_path: Path) -> None:
    url = report.as_uri()
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on(
                "console",
                lambda message: (
                    errors.append(f"console: {message.text}") if message.type == "error" else None
                ),
            )
            page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
            page.goto(url, wait_until="load")

            charts = page.locator("[data-chart]")
            names = {charts.nth(i).get_attribute("data-chart") for i in range(charts.count())}
            assert names == CHARTS
            for i in range(charts.count()):
                chart = charts.nth(i)
                name = chart.get_attribute("data-chart")
                chart.scroll_into_view_if_needed()
                assert chart.is_visible(), name
                box = chart.bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 150, (name, box)
                drawn = chart.evaluate(
                    """element => {
                        const svg = element.querySelector('svg');
                        const img = element.querySelector('img');
                        if (svg) {
                            const r = svg.getBoundingClientRect();
                            return {paths: svg.querySelectorAll('path').length,
                                    texts: svg.querySelectorAll('text').length,
                                    width: r.width, height: r.height};
                        }
                        return img ? {paths: 0, texts: 0, width: img.naturalWidth,
                                      height: img.naturalHeight, img: true} : null;
                    }"""
                )
                assert drawn is not None, f"{name}: no svg or img"
                assert drawn["width"] > 300 and drawn["height"] > 150, (name, drawn)
                assert drawn.get("img") or (drawn["paths"] > 5 and drawn["texts"] > 3), (
                    name,
                    drawn,
                )

            assert page.locator("[data-rebalance]").count() == 1
            assert page.get_by_text("Sessions not captured: 2").is_visible()

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert requests, "the page load itself was not seen"
    strangers = [r for r in requests if r != url and not r.startswith("data:")]
    assert strangers == [], f"the report fetched something besides itself: {strangers}"
    assert errors == []
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000
