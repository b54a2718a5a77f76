"""The report in a real browser: Debian's chromium driven by Playwright opens the file from a
file:// URL. Every chart is visible and drawn, the page fetches nothing but itself, logs no error,
and a full-page screenshot comes out; with previews captured, "Next rebalance" and its chart too.

Playwright drives the system's chromium (`/usr/bin/chromium`), never a browser downloaded by
`playwright install`. Without either, the test fails and says how to install them: a browser test
that skips silently would let a broken report pass CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
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


@pytest.fixture(scope="module")
def previewed_report(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, report_data.Synthetic]:
    synthetic = report_data.build(sessions=60, tickers=80, previews=True)
    data = load_report_data(synthetic.query, synthetic.index, synthetic.start, synthetic.end)
    path = tmp_path_factory.mktemp("previewed") / "report.html"
    path.write_text(render_report(data), encoding="utf-8")
    return path, synthetic


def check_in_browser(report: Path, shot: Path, expect, charts_expected: set[str] = CHARTS) -> None:
    """Opens the report from its file:// URL: every chart visible and drawn, nothing fetched
    but the file, no console or page error, `expect(page)` true, and a full-page screenshot."""
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
            assert names == charts_expected
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
            expect(page)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    assert requests, "the page load itself was not seen"
    strangers = [r for r in requests if r != url and not r.startswith("data:")]
    assert strangers == [], f"the report fetched something besides itself: {strangers}"
    assert errors == []
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 50_000


def test_the_report_opens_offline_with_every_chart_drawn(report: Path, tmp_path: Path) -> None:
    def expect(page) -> None:
        assert page.locator("[data-rebalance]").count() == 1
        assert page.get_by_text("Sessions not captured: 2").is_visible()

    check_in_browser(report, tmp_path / "report.png", expect)


def test_the_next_rebalance_and_its_chart_are_visible(
    previewed_report: tuple[Path, report_data.Synthetic], tmp_path: Path
) -> None:
    report, synthetic = previewed_report
    facts = synthetic.next_preview
    assert facts is not None

    def expect(page) -> None:
        section = page.locator("#next-rebalance")
        section.scroll_into_view_if_needed()
        assert section.is_visible()
        assert page.get_by_role("heading", name="Next rebalance: Sep–Dec 2025").is_visible()
        chart = section.locator('[data-chart="next-rebalance"] svg')
        assert chart.is_visible()
        # every entering and leaving ticker is drawn in the chart and listed in a visible table
        drawn = set(chart.locator("text").all_text_contents())
        for ticker in [*facts.entries, *facts.exits]:
            assert ticker in drawn, ticker
            cell = section.locator("table strong", has_text=ticker).first
            assert cell.is_visible(), ticker
        outcome = page.locator("[data-preview-outcome]")
        assert outcome.count() == 1 and outcome.is_visible()

    check_in_browser(report, tmp_path / "report.png", expect, CHARTS | {"next-rebalance"})


@pytest.mark.e2e
def test_b3_report_of_offline_runs_with_a_preview_in_the_browser(tmp_path: Path) -> None:
    """The real CLI on a real lake: `b3 run --offline` on the last session before the
    September 2025 rebalance (the bundled sample serves a preview then) and on its first
    session. A report up to Aug 29 shows that preview's entries and exits, computed here from
    the sample's answers; one through Sep 1 shows how the preview did, and no next rebalance."""
    from b3_assets.testing.sample import sample_portfolio, sample_theoretical

    env = {k: v for k, v in os.environ.items() if not k.startswith(("B3_", "DAGSTER_"))}
    env |= {"B3_DATA_DIR": str(tmp_path / "data")}
    b3 = str(Path(sys.executable).with_name("b3"))
    for day in ("2025-08-29", "2025-09-01"):
        done = subprocess.run(
            [b3, "run", "--offline", "--date", day, "--sample-past-session"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    friday = date(2025, 8, 29)
    preview = {row["cod"] for row in sample_theoretical(friday, "preview")["results"]}
    daily = {row["cod"] for row in sample_portfolio(friday)["results"]}
    started = {row["cod"] for row in sample_portfolio(date(2025, 9, 1))["results"]}
    entering, leaving = preview - daily, daily - preview
    assert entering and leaving  # the sample's rotation: the comparison has both sides

    reports, printed = {}, {}
    for name, last in (("before", "2025-08-29"), ("after", "2025-09-01")):
        reports[name] = tmp_path / f"{name}.html"
        done = subprocess.run(
            [b3, "report", "--from", "2025-08-29", "--to", last, "-o", str(reports[name])],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        printed[name] = done.stdout
    assert (
        f"next rebalance 2025-09: the preview of 2025-08-29 has {len(entering)} entries and "
        f"{len(leaving)} exits"
    ) in printed["before"]
    assert "next rebalance" not in printed["after"]

    def before(page) -> None:
        section = page.locator("#next-rebalance")
        assert section.is_visible()
        tables = section.locator("table")
        listed_in = set(tables.nth(0).locator("tbody strong").all_inner_texts())
        listed_out = set(tables.nth(1).locator("tbody strong").all_inner_texts())
        assert (listed_in, listed_out) == (entering, leaving)
        drawn = set(section.locator('[data-chart="next-rebalance"] svg text').all_text_contents())
        assert entering | leaving <= drawn
        card = section.locator("dl.figures div").filter(has_text="Compared with")
        assert card.locator("dd").inner_text().startswith("2025-08-29")

    def after(page) -> None:
        assert page.locator("#next-rebalance").count() == 0
        outcome = page.locator('[data-preview-outcome="2025-09-01"]')
        assert outcome.is_visible()
        text = outcome.inner_text()
        assert "the preview of 2025-08-29" in text
        missed = started - preview
        extra = preview - started
        assert (
            f"{len(missed)} name{'s' if len(missed) != 1 else ''} of B3's portfolio missing"
        ) in text
        assert f"{len(extra)} name{'s' if len(extra) != 1 else ''} of the preview missing" in text

    check_in_browser(
        reports["before"], tmp_path / "before.png", before, CHARTS | {"next-rebalance"}
    )
    check_in_browser(reports["after"], tmp_path / "after.png", after)


@pytest.mark.e2e
def test_b3_report_of_real_imports_and_a_capture_in_the_browser(
    tmp_path: Path, fixtures_dir: Path, b3_server
) -> None:
    """The real CLI: B3's six 2025 IBOV downloads imported, B3's answer of 2025-07-14 fetched
    from the local B3 server, then `b3 report`: the May rebalance's 4 entries and 7 exits."""
    from conftest import CSV_DATES

    env = {k: v for k, v in os.environ.items() if not k.startswith(("B3_", "DAGSTER_"))}
    env |= {"B3_DATA_DIR": str(tmp_path / "data"), "B3_API_URL": b3_server.api_url}
    b3 = str(Path(sys.executable).with_name("b3"))
    csvs = [str(fixtures_dir / f"IBOVDia_{d[8:]}-{d[5:7]}-{d[2:4]}.csv") for d in CSV_DATES]
    for args in (["import", *csvs], ["run", "--date", "2025-07-14"]):
        done = subprocess.run([b3, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    report = tmp_path / "report.html"
    done = subprocess.run(
        [b3, "report", "--index", "IBOV", "-o", str(report)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "7 of " in done.stdout and "4 entries and 7 exits" in done.stdout, done.stdout

    def expect(page) -> None:
        section = page.locator("[data-rebalance]")
        assert section.count() == 1
        text = section.inner_text()
        assert "2025-05-02" in text and "2025-03-12" in text
        for ticker in ("DIRR3", "MOTV3", "NATU3", "SMFT3", "JBSS3", "CCRO3", "NTCO3"):
            assert ticker in text

    check_in_browser(report, tmp_path / "report.png", expect)
