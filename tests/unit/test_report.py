"""The HTML report over synthetic analytic tables (tests/report_data.py): it lists exactly the
rebalance's entries and exits, names the gap, counts imported and fetched dates, holds no URL,
refuses an empty period, and is fast; `b3 report` writes it. With previews in the lake it adds
"Next rebalance" (the latest preview: who enters, who leaves, the largest moves) and "How the
last preview did" (its error at a rebalance of the period); without, nothing changes."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import report_data

from b3_assets.analytics.report import (
    ReportData,
    ReportError,
    held_range,
    load_report_data,
    next_rebalance,
    preview_changes_query,
    render_report,
    report_queries,
    session_runs,
    summary,
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
    previews = queries.pop("carteira_previa")
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
    # the previews of the next rebalance (January 2026), captured from Sep 1 to the end
    assert (
        "FROM carteira_previa WHERE indice = 'IBOV' AND data BETWEEN DATE '2025-09-01' AND "
        "DATE '2025-12-30' AND quadrimestre = '2026-01'"
    ) in previews


def test_the_preview_changes_query_asks_only_what_the_report_shows() -> None:
    start, end = date(2025, 3, 13), date(2025, 6, 9)  # the May 2025 rebalance inside
    both = preview_changes_query("IBOV", start, end, date(2025, 6, 6))
    assert both is not None
    assert "FROM carteira_previa_mudancas WHERE indice = 'IBOV' AND data BETWEEN" in both
    assert "(comparacao = 'previa' AND data = DATE '2025-06-06')" in both
    assert (
        "(comparacao = 'realizada' AND data_carteira BETWEEN DATE '2025-03-13' AND "
        "DATE '2025-06-09')"
    ) in both
    # no rebalance in the period: only the preview; neither: no query at all
    june = preview_changes_query("IBOV", date(2025, 6, 2), end, date(2025, 6, 6))
    assert june is not None and "realizada" not in june
    assert preview_changes_query("IBOV", date(2025, 6, 2), end, None) is None


@pytest.mark.parametrize(
    ("day", "quadrimester"),
    [
        (date(2025, 8, 29), "2025-09"),
        (date(2025, 9, 1), "2026-01"),  # the rebalance's own session: the next one is ahead
        (date(2025, 12, 30), "2026-01"),
        (date(2026, 1, 1), "2026-01"),  # a holiday: January's rebalance is on Jan 2
        (date(2026, 1, 2), "2026-05"),
    ],
)
def test_the_next_rebalance_is_the_first_one_after_the_day(day: date, quadrimester: str) -> None:
    assert next_rebalance(day) == quadrimester


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


def test_sample_dates_are_counted_as_the_sample_never_as_api(
    data: ReportData, synthetic: report_data.Synthetic
) -> None:
    """Dates of the offline sample (origem amostra, with a capture time like an API capture)
    are named as the sample in the key figures, the provenance and the CLI's line."""
    samples = set(synthetic.api_dates[-3:])
    mixed = replace(
        data,
        captures=[c._replace(origem="amostra") if c.data in samples else c for c in data.captures],
    )
    page = render_report(mixed)
    api = len(synthetic.api_dates) - len(samples)
    figures = section(page, "key-figures")
    assert f"{len(synthetic.csv_dates)} CSV · {api} API · 3 sample" in figures
    assert "the offline sample, invented, not B3&#x27;s" in figures
    origins = re.search(r"<p data-origins>(.*?)</p>", page, re.S)
    assert origins is not None
    assert origins.group(1).startswith(
        f"{len(synthetic.csv_dates)} dates imported from a CSV download, "
        f"{api} dates fetched from B3&#x27;s API, "
        "3 dates of the offline sample (invented data, not B3&#x27;s)"
    )
    provenance = section(page, "provenance")
    assert provenance.count("of the offline sample (invented data, not B3&#x27;s)</td>") == 1
    assert len(re.findall(r"· amostra · \d{4}-\d\d-\d\d \d\d:\d\d UTC</li>", page)) == 3
    assert len(re.findall(r"· api · ", page)) == api
    assert "3 dates of the offline sample (invented, not B3's data)" in summary(mixed)
    assert "offline sample" not in summary(data) and "sample" not in section(
        render_report(data), "key-figures"
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


def test_a_year_of_85_constituents_with_previews_is_reported() -> None:
    """A year with its rebalances' previews renders whole (its speed is bench/bench.py's to
    measure, part 8: a timed assertion would only measure the machine's load)."""
    year = report_data.build(sessions=250, tickers=85, previews=True)
    data = load_report_data(year.query, year.index, year.start, year.end)
    page = render_report(data)
    assert len(data.captured) == 248 and len(year.rebalances) == 3
    assert 'id="next-rebalance"' in page and page.count("data-preview-outcome=") == 3


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


# --- previews: "Next rebalance" and "How the last preview did" ----------------------------------


@pytest.fixture(scope="module")
def previewed() -> report_data.Synthetic:
    """The same period and portfolios as `synthetic`, with previews in the preview tables."""
    return report_data.build(sessions=60, tickers=80, previews=True)


@pytest.fixture(scope="module")
def previewed_data(previewed: report_data.Synthetic) -> ReportData:
    return load_report_data(previewed.query, previewed.index, previewed.start, previewed.end)


@pytest.fixture(scope="module")
def previewed_page(previewed_data: ReportData) -> str:
    return render_report(previewed_data)


def table_rows(html: str) -> list[list[str]]:
    """The body rows of the first table in a piece of the report, as cell texts."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    assert body is not None
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1))
    ]


def clip_ids(html: str) -> str:
    """The document with matplotlib's ids of clip paths and markers (random per drawing) made
    equal."""
    return re.sub(r"\b[mp][0-9a-f]{10}\b", "id", html)


def after(html: str, marker: str) -> str:
    return html[html.index(marker) :]


def test_without_a_preview_neither_section_is_there_and_nothing_else_changes(
    page: str, previewed_data: ReportData
) -> None:
    for absent in ('id="next-rebalance"', 'id="last-preview"', "carteira_previa"):
        assert absent not in page
    # the synthetic previews add nothing to the daily tables: stripped of its previews, the
    # previewed report is the report without them (but for the SVGs' random ids)
    stripped = render_report(replace(previewed_data, previews=[], preview_changes=[]))
    assert clip_ids(stripped) == clip_ids(page)


def test_the_previews_are_loaded_as_typed_rows(
    previewed_data: ReportData, previewed: report_data.Synthetic
) -> None:
    facts = previewed.next_preview
    assert facts is not None
    assert [p.data for p in previewed_data.previews] == facts.sessions
    latest = previewed_data.preview
    assert latest is not None and latest.data == facts.session
    assert (latest.quadrimestre, latest.origem, latest.total_ativos) == ("2025-09", "api", 81)
    assert latest.data_coleta is not None and latest.data_coleta.date() == facts.session
    kinds = {(c.data, c.comparacao) for c in previewed_data.preview_changes}
    # the latest preview's comparison and the May rebalance's outcome, nothing else
    [outcome] = previewed.outcomes.values()
    assert kinds == {(facts.session, "previa"), (outcome.session, "realizada")}
    assert all(
        type(c.participacao_antes_pct) in (float, type(None))
        for c in previewed_data.preview_changes
    )


def test_next_rebalance_lists_who_enters_and_leaves_with_their_weights(
    previewed_page: str, previewed: report_data.Synthetic
) -> None:
    facts = previewed.next_preview
    assert facts is not None
    block = section(previewed_page, "next-rebalance")
    assert "<h2>Next rebalance: Sep–Dec 2025</h2>" in block
    entering = table_rows(after(block, "<h3>Entering: 3</h3>"))
    assert entering == [
        [ticker, f"{ticker[:4]} " + entering[i][1].split(" ", 1)[1], f"{weight:.3f}"]
        for i, (ticker, weight) in enumerate(
            sorted(facts.entries.items(), key=lambda item: (-item[1], item[0]))
        )
    ]
    leaving = table_rows(after(block, "<h3>Leaving: 2</h3>"))
    assert [(row[0], row[2]) for row in leaving] == [
        (ticker, f"{weight:.3f}")
        for ticker, weight in sorted(facts.exits.items(), key=lambda item: (-item[1], item[0]))
    ]
    assert f"weight on {facts.compared} (%)" in block
    assert changes(block) == {"entrada": set(facts.entries), "saida": set(facts.exits)}


def test_next_rebalance_shows_the_ten_largest_moves_of_names_that_stay(
    previewed_page: str, previewed: report_data.Synthetic
) -> None:
    facts = previewed.next_preview
    assert facts is not None
    moves = table_rows(after(section(previewed_page, "next-rebalance"), "<div data-moves>"))
    assert [[row[0], row[2], row[3], row[4]] for row in moves] == [
        [ticker, f"{today:.3f}", f"{preview:.3f}", f"{change:+.3f}"]
        for ticker, today, preview, change in facts.moves
    ]
    assert len(moves) == 10


def test_next_rebalance_names_the_target_the_capture_and_the_count(
    previewed_page: str, previewed: report_data.Synthetic
) -> None:
    facts = previewed.next_preview
    assert facts is not None
    block = section(previewed_page, "next-rebalance")
    cards = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)<small>", block))
    assert cards == {
        "Target": "Sep–Dec 2025",
        "Preview captured": str(facts.session),
        "Compared with": str(facts.compared),
        "Entering": str(len(facts.entries)),
        "Leaving": str(len(facts.exits)),
        "Previews captured": str(len(facts.sessions)),
    }
    assert "quadrimester 2025-09, from its first session 2025-09-01" in block
    assert f"fetched from B3&#x27;s API at {facts.session}" in block
    assert f"of Sep–Dec 2025: {facts.sessions[0]} – {facts.sessions[-1]}" in block
    assert f"with {facts.names} names" in block
    # its chart: one bar per entering and leaving name, labelled with the ticker
    chart = re.search(r'data-chart="next-rebalance"><svg (.*?)</svg>', block, re.S)
    assert chart is not None
    texts = set(re.findall(r"<text\b[^>]*>([^<]*)</text>", chart.group(1)))
    assert set(facts.entries) | set(facts.exits) <= texts
    figures = section(previewed_page, "key-figures")
    assert "<dt>Next rebalance</dt><dd>Sep–Dec 2025<small>" in figures
    assert f"preview of {facts.session}: 3 entries, 2 exits" in figures


def test_how_the_last_preview_did_names_its_misses_and_errors(
    previewed_page: str, previewed: report_data.Synthetic
) -> None:
    [(rebalance, outcome)] = previewed.outcomes.items()
    block = section(previewed_page, "last-preview")
    assert f'data-preview-outcome="{rebalance}"' in block
    assert f"Rebalance of {rebalance} (May–Aug 2025): the preview of {outcome.session}" in block
    assert (
        f"on the {outcome.held} names in both, weights off by {outcome.mean_error:.3f} points "
        "on average"
    ) in block
    rows = table_rows(block)
    [missed] = outcome.missed.items()
    [extra] = outcome.extra.items()
    assert rows[0][:2] == ["not in the preview", missed[0]] and rows[0][4] == f"{missed[1]:.3f}"
    assert rows[1][:2] == ["not in B3&#x27;s portfolio", extra[0]]
    assert rows[1][3] == f"{extra[1]:.3f}"
    errors = [abs(float(row[5])) for row in rows[2:]]
    assert len(errors) == 5 and errors == sorted(errors, reverse=True)
    assert changes(block) == {"entrada": {missed[0]}, "saida": {extra[0]}}


def test_a_report_ending_before_the_rebalance_shows_its_preview_and_no_outcome(
    previewed: report_data.Synthetic,
) -> None:
    """Ending the day before May's first session: May is the next rebalance, its latest
    preview the CSV import filed under that day, and no outcome is known yet."""
    [(rebalance, outcome)] = previewed.outcomes.items()
    end = max(day for day in previewed.captured if day < rebalance)
    data = load_report_data(previewed.query, previewed.index, previewed.start, end)
    assert data.preview is not None and data.preview.data == outcome.session == end
    page = render_report(data)
    block = section(page, "next-rebalance")
    assert "<h2>Next rebalance: May–Aug 2025</h2>" in block
    assert "imported from B3&#x27;s quadrimester CSV download" in block
    assert 'id="last-preview"' not in page
    assert "next rebalance 2025-05" in summary(data)


def test_a_report_ending_before_the_next_previews_shows_only_the_outcome(
    previewed: report_data.Synthetic,
) -> None:
    facts = previewed.next_preview
    assert facts is not None
    end = facts.sessions[0] - timedelta(days=1)
    data = load_report_data(previewed.query, previewed.index, previewed.start, end)
    page = render_report(data)
    assert 'id="next-rebalance"' not in page and 'id="last-preview"' in page
    assert "next rebalance" not in summary(data)


def test_a_preview_without_a_daily_portfolio_to_compare_says_so() -> None:
    built = report_data.build(sessions=60, tickers=80, previews=True)
    facts = built.next_preview
    assert facts is not None
    built.connection.execute(
        "DELETE FROM carteira_previa_mudancas WHERE comparacao = 'previa' AND data = ?",
        [facts.session],
    )
    page = render_report(load_report_data(built.query, built.index, built.start, built.end))
    block = section(page, "next-rebalance")
    assert f"no IBOV daily portfolio is captured up to {facts.session}" in block
    assert "data-chart" not in block and "<table" not in block
    assert "no daily portfolio to compare" in section(page, "key-figures")


def test_the_preview_sections_escape_every_text() -> None:
    built = report_data.build(sessions=60, tickers=80, previews=True)
    built.connection.execute(
        "UPDATE carteira_previa_mudancas SET empresa = '<script>x</script> & \"Co\"'"
    )
    page = render_report(load_report_data(built.query, built.index, built.start, built.end))
    assert "<script" not in page
    assert "&lt;script&gt;x&lt;/script&gt; &amp; &quot;Co&quot;" in section(page, "next-rebalance")
    assert "&lt;script&gt;" in section(page, "last-preview")


def test_the_previewed_report_is_still_one_self_contained_document(previewed_page: str) -> None:
    assert not re.search(r"https?:|ftp:|//", previewed_page)
    links = Links()
    links.feed(previewed_page)
    assert all(url.startswith(("data:", "#")) for url in links.urls), links.urls
    assert "script" not in links.tags
    assert sorted(links.charts) == sorted(CHARTS | {"next-rebalance"})
    assert "carteira_previa and carteira_previa_mudancas" in previewed_page  # the footer
