"""The HTML report over synthetic analytic tables (tests/report_data.py): it lists exactly the
rebalance's entries and exits, names the gap, counts imported and fetched dates, holds no URL,
refuses an empty period, and is fast; `b3 report` writes it."""

from __future__ import annotations

import re
import time
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import report_data

from b3_assets.analytics.report import (
    ReportData,
    ReportError,
    held_range,
    load_report_data,
    render_report,
    report_queries,
    session_runs,
)
from b3_assets.cli import main

CHARTS = {"weights", "sectors", "top-weights", "sector-weights", "concentration"}


@pytest.fixture(scope="module")
def synthetic() -> report_data.Synthetic:
    return report_data.build(sessions=60, tickers=80)


@pytest.fixture(scope="module")
def data(synthetic: report_data.Synthetic) -> ReportData:
    return load_report_data(synthetic.query, synthetic.index, synthetic.start, synthetic.end)


@pytest.fixture(scope="module")
def page(data: ReportData) -> str:
    return render_report(data)


def section(page: str, name: str) -> str:
    start = page.index(f'<section id="{name}">')
    return page[start : page.index("</section>", start)]


def changes(html: str) -> dict[str, set[str]]:
    """{"entrada": tickers, "saida": tickers} of the change rows in a piece of the report."""
    found: dict[str, set[str]] = {"entrada": set(), "saida": set()}
    for kind, ticker in re.findall(
        r'<tr class="(entrada|saida)">.*?<strong>([^<]+)</strong>', html
    ):
        found[kind].add(ticker)
    return found


def test_the_synthetic_period_has_what_the_assertions_rely_on(
    synthetic: report_data.Synthetic,
) -> None:
    assert len(synthetic.sessions) == 60 and len(synthetic.gap) == 2
    [(rebalance, (entries, exits))] = synthetic.rebalances.items()
    assert rebalance == date(2025, 5, 2) and len(entries) == 3 and len(exits) == 2
    assert synthetic.csv_dates and synthetic.api_dates


def test_load_report_data_returns_plain_typed_rows(
    data: ReportData, synthetic: report_data.Synthetic
) -> None:
    assert (data.index, data.start, data.end) == (
        synthetic.index,
        synthetic.start,
        synthetic.end,
    )
    assert data.sessions == synthetic.sessions
    assert data.captured == synthetic.captured
    assert len(data.constituents) == synthetic.rows
    first = data.constituents[0]
    assert type(first.data) is date and type(first.participacao_pct) is float
    assert {c.tipo_mudanca for c in data.changes} == {"entrada", "saida"}
    assert all(type(c.hhi) is float for c in data.concentration)
    assert {c.origem for c in data.captures} == {"csv", "api"}


def test_the_queries_are_athena_sql_filtered_on_the_index_and_period() -> None:
    queries = report_queries("IBOV", date(2025, 1, 2), date(2025, 12, 30))
    assert set(queries) == {
        "carteira_historico",
        "carteira_concentracao",
        "carteira_mudancas",
        "carteira_header",
    }
    for table, sql in queries.items():
        assert f"FROM {table} WHERE indice = 'IBOV' AND data BETWEEN DATE '2025-01-02' AND " in sql
        assert "DATE '2025-12-30'" in sql
    assert "mes BETWEEN '2025-01' AND '2025-12'" in queries["carteira_historico"]  # partitions


def test_an_index_code_that_is_not_one_is_refused_before_any_query() -> None:
    def query(sql: str):
        raise AssertionError(f"no query should run: {sql}")

    with pytest.raises(ReportError, match="index"):
        load_report_data(query, "IBOV' OR '1'='1", date(2025, 1, 2), date(2025, 1, 3))


def test_the_rebalance_table_lists_exactly_its_entries_and_exits(
    page: str, synthetic: report_data.Synthetic
) -> None:
    [(rebalance, (entries, exits))] = synthetic.rebalances.items()
    start = page.index(f'data-rebalance="{rebalance}"')
    block = page[start : page.index("</div>", start)]
    assert f"Rebalance of {rebalance}: 3 entries, 2 exits" in block
    assert changes(block) == {"entrada": set(entries), "saida": set(exits)}
    assert page.count("data-rebalance=") == 1
    # the delisting between rebalances is listed apart, not in the rebalance's table
    day, ticker = synthetic.other_exit
    rest = section(page, "rebalances")[section(page, "rebalances").index("between rebalances") :]
    assert changes(rest) == {"entrada": set(), "saida": {ticker}}
    assert str(day) in rest


def test_the_gap_is_named_as_one_range_of_sessions(
    page: str, synthetic: report_data.Synthetic
) -> None:
    first, last = synthetic.gap
    provenance = section(page, "provenance")
    assert "Sessions not captured: 2" in provenance
    gaps = re.search(r"<ul class=\"gaps\" data-gaps>(.*?)</ul>", provenance, re.S)
    assert gaps is not None
    assert re.findall(r"<li>(.*?)</li>", gaps.group(1)) == [f"{first} – {last} (2 sessions)"]
    assert f"{len(synthetic.captured)} dates of them are captured" in provenance


def test_imported_and_fetched_dates_are_counted(
    page: str, synthetic: report_data.Synthetic
) -> None:
    origins = re.search(r"<p data-origins>(.*?)</p>", page, re.S)
    assert origins is not None
    assert origins.group(1).startswith(
        f"{len(synthetic.csv_dates)} dates imported from a CSV download, "
        f"{len(synthetic.api_dates)} dates fetched from B3&#x27;s API"
    )
    figures = section(page, "key-figures")
    assert f"{len(synthetic.csv_dates)} CSV · {len(synthetic.api_dates)} API" in figures
    # each date is listed with its origin and capture time
    assert page.count("· csv · no capture time</li>") == len(synthetic.csv_dates)
    assert len(re.findall(r"· api · \d{4}-\d\d-\d\d \d\d:\d\d UTC</li>", page)) == len(
        synthetic.api_dates
    )


class Links(HTMLParser):
    """Every URL-bearing attribute and every element of the document."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.charts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("href", "src", "xlink:href", "action", "srcset", "poster"):
                self.urls.append(value or "")
            if name == "data-chart":
                self.charts.append(value or "")


def test_the_report_is_one_self_contained_document_with_no_url(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?:|ftp:|//", page)
    links = Links()
    links.feed(page)
    assert all(url.startswith(("data:", "#")) for url in links.urls), links.urls
    assert not links.tags & {"script", "iframe", "frame", "object", "embed", "audio", "video"}
    assert "<script" not in page and "@import" not in page and "@font-face" not in page
    assert "default-src 'none'" in page  # its CSP forbids fetching anything at view time
    assert "@media print" in page
    assert sorted(links.charts) == sorted(CHARTS)


def test_every_chart_is_an_inline_svg_inside_its_data_chart_element(page: str) -> None:
    for name in CHARTS:
        match = re.search(
            rf'<figure class="chart" data-chart="{name}"><svg (.*?)</svg>', page, re.S
        )
        assert match is not None, name
        assert "<path" in match.group(1) and "<text" in match.group(1)


def test_the_sections_are_all_there(page: str, data: ReportData) -> None:
    assert f"<h1>{data.index} portfolio report</h1>" in page
    assert f"{data.start} to {data.end}" in page
    for name in ("key-figures", "portfolio", "over-time", "rebalances", "concentration"):
        assert f'<section id="{name}">' in page
    assert "Entries and exits at each rebalance" in page
    assert "Concentration over time" in page
    assert "Provenance" in page


def test_an_empty_period_is_an_error_naming_the_index_and_period(
    synthetic: report_data.Synthetic,
) -> None:
    with pytest.raises(ReportError, match=r"IBOV .*2010-01-04 to 2010-02-01"):
        load_report_data(synthetic.query, "IBOV", date(2010, 1, 4), date(2010, 2, 1))
    with pytest.raises(ReportError, match="SMLL"):
        load_report_data(synthetic.query, "SMLL", synthetic.start, synthetic.end)
    with pytest.raises(ReportError, match="after"):
        load_report_data(synthetic.query, "IBOV", synthetic.end, synthetic.start)
    empty = ReportData("IBOV", date(2010, 1, 4), date(2010, 2, 1), [], [], [], [], [])
    with pytest.raises(ReportError, match="IBOV"):
        render_report(empty)


def test_held_range_is_the_first_and_last_date_of_the_index(
    synthetic: report_data.Synthetic,
) -> None:
    assert held_range(synthetic.query, "IBOV") == (synthetic.start, synthetic.end)
    assert held_range(synthetic.query, "SMLL") is None


def test_session_runs_join_sessions_across_weekends_and_holidays() -> None:
    from b3_assets.source.trading_calendar import trading_days

    sessions = trading_days(date(2025, 2, 27), date(2025, 3, 12))  # Carnival: Mar 3-4
    assert session_runs(
        [date(2025, 2, 28), date(2025, 3, 5), date(2025, 3, 10), date(2025, 3, 12)], sessions
    ) == [
        (date(2025, 2, 28), date(2025, 3, 5), 2),
        (date(2025, 3, 10), date(2025, 3, 10), 1),
        (date(2025, 3, 12), date(2025, 3, 12), 1),
    ]


def test_a_year_of_85_constituents_is_reported_within_5_seconds() -> None:
    year = report_data.build(sessions=250, tickers=85)
    started = time.perf_counter()
    data = load_report_data(year.query, year.index, year.start, year.end)
    loaded = time.perf_counter()
    page = render_report(data)
    done = time.perf_counter()
    print(
        f"\n250 dates x 85 constituents ({year.rows} rows): load {loaded - started:.2f} s, "
        f"render {done - loaded:.2f} s, total {done - started:.2f} s, {len(page) // 1024} KiB"
    )
    assert len(data.captured) == 248 and len(year.rebalances) == 3
    assert done - started < 5.0


def test_b3_report_writes_the_file_and_prints_a_summary(
    synthetic: report_data.Synthetic,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The command on the same tables: its query function is the synthetic DuckDB's."""
    monkeypatch.setenv("B3_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("B3_ENV", "local")
    monkeypatch.setattr("b3_assets.cli._queries", lambda settings: synthetic.query)
    out = tmp_path / "out" / "ibov.html"
    assert main(["report", "-o", str(out)]) == 0  # the whole held range by default
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"wrote {out}"
    assert printed[1].startswith(f"IBOV {synthetic.start}..{synthetic.end}: 58 of 60 sessions")
    assert out.read_text().startswith("<!DOCTYPE html>")

    assert main(["report", "--index", "smll", "-o", str(out)]) == 1
    assert "no SMLL portfolio is held" in capsys.readouterr().err
    assert main(["report", "--from", "2010-01-04", "--to", "2010-02-01", "-o", str(out)]) == 1
    assert "from 2010-01-04 to 2010-02-01" in capsys.readouterr().err
    assert main(["report", "--from", "2025-06-01", "--to", "2025-05-01"]) == 1
    assert "after" in capsys.readouterr().err
