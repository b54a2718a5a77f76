"""The report of one index over a period: one self-contained HTML file (`b3 report`).

`load_report_data` asks the analytic tables four questions (one query per table, in Athena SQL,
so the same text runs on the local DuckDB catalog and on Athena), and the preview tables two
(the previews of the next rebalance; then what the latest one changes, and how the last preview
before each rebalance of the period did), and keeps the answers as plain rows in a `ReportData`;
`render_report` turns that into one HTML document. The document needs nothing but itself: the
CSS is inline, the charts are inline SVG, there is no script, and its Content-Security-Policy
forbids every fetch, so it opens the same offline, from an e-mail or from a file share years
later, and prints cleanly (`@media print`). Splitting loading from rendering keeps the rendering
a pure function of plain data, testable without any engine.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import TYPE_CHECKING, Any, NamedTuple

from b3_assets.analytics import charts
from b3_assets.source.trading_calendar import next_trading_day, trading_days
from b3_contract.lake_keys import IndexCodeError, check_index
from b3_contract.origins import API, CSV, SAMPLE
from b3_contract.previews import current_quadrimester, next_quadrimester, quadrimester_start

if TYPE_CHECKING:
    from b3_assets.refine.catalog import QueryResult

Query = Callable[[str], "QueryResult"]
REBALANCE_MONTHS = (1, 5, 9)  # B3 rebalances its indices' portfolios in January, May, September


class ReportError(ValueError):
    """No report can be made (nothing held for the index in the period); the message says which."""


class Constituent(NamedTuple):
    """A row of carteira_historico: one constituent on one date."""

    data: date
    acao: str
    empresa: str | None
    setor: str | None
    participacao_pct: float
    ranking: int | None


class Concentration(NamedTuple):
    """A row of carteira_concentracao: the index's concentration on one date."""

    data: date
    total_ativos: int | None
    peso_top1_pct: float | None
    peso_top5_pct: float | None
    peso_top10_pct: float | None
    hhi: float | None
    numero_efetivo: float | None
    setor_maior: str | None
    peso_setor_maior_pct: float | None


class Change(NamedTuple):
    """A row of carteira_mudancas: a ticker that entered or left vs the previous captured date."""

    data: date
    data_anterior: date | None
    pregoes_desde_anterior: int | None
    rebalanceamento: bool
    data_rebalanceamento: date | None
    tipo_mudanca: str
    acao: str
    empresa: str | None
    setor: str | None
    participacao_anterior_pct: float | None
    participacao_pct: float | None


class Capture(NamedTuple):
    """A row of carteira_header: where one date's portfolio came from, and when."""

    data: date
    origem: str | None
    data_coleta: datetime | None
    defasagem_dias: int | None
    total_ativos: int | None


class PreviewSession(NamedTuple):
    """carteira_previa summed up per capture session: one preview B3 served (or a CSV filed)."""

    data: date
    quadrimestre: str
    origem: str | None
    total_ativos: int
    data_coleta: datetime | None


class PreviewChange(NamedTuple):
    """A row of carteira_previa_mudancas. comparacao 'previa': antes = the daily portfolio of
    data_carteira, depois = the preview of `data`; 'realizada': antes = the last preview before
    the rebalance, depois = the portfolio of its first session (data_carteira)."""

    data: date
    comparacao: str
    quadrimestre: str
    data_carteira: date | None
    tipo_mudanca: str
    acao: str
    empresa: str | None
    participacao_antes_pct: float | None
    participacao_depois_pct: float | None
    variacao_pp: float | None


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, as plain rows: what `render_report` needs and nothing else."""

    index: str
    start: date
    end: date
    sessions: list[date]  # B3's sessions from start to end (the trading calendar)
    constituents: list[Constituent]
    concentration: list[Concentration]
    changes: list[Change]  # entries and exits only
    captures: list[Capture]
    # the previews of the next rebalance after `end`, captured up to `end`
    previews: list[PreviewSession] = field(default_factory=list)
    # 'previa' rows of the latest of `previews`; 'realizada' rows of the period's rebalances
    preview_changes: list[PreviewChange] = field(default_factory=list)

    @property
    def captured(self) -> list[date]:
        """The dates with data (carteira_header or carteira_historico rows)."""
        return sorted({c.data for c in self.captures} | {c.data for c in self.constituents})

    @property
    def last(self) -> date:
        return max(c.data for c in self.constituents)

    @property
    def gaps(self) -> list[tuple[date, date, int]]:
        """Sessions of the period with nothing captured, as (first, last, sessions) runs."""
        held = set(self.captured)
        return session_runs([day for day in self.sessions if day not in held], self.sessions)

    @property
    def preview(self) -> PreviewSession | None:
        """The latest preview of the next rebalance, captured up to `end`."""
        return max(self.previews, default=None)


# --- loading -----------------------------------------------------------------------------------


def _literal(text: str) -> str:
    """A SQL string literal (quotes doubled): the same in Athena, Spark and DuckDB."""
    return "'" + text.replace("'", "''") + "'"


def _period_filter(index: str, start: date, end: date) -> str:
    # `indice = ...` first and alone at the top of the WHERE: the local catalog then reads only
    # that index's files, and Athena prunes the `indice` partition.
    return (
        f"indice = {_literal(index)} AND data BETWEEN DATE {_literal(start.isoformat())} "
        f"AND DATE {_literal(end.isoformat())}"
    )


def first_session(quadrimester: str) -> date | None:
    """B3's first session of a quadrimester: its rebalance (None past the calendar)."""
    try:
        return next_trading_day(quadrimester_start(quadrimester))
    except ValueError:
        return None


def next_rebalance(day: date) -> str:
    """The quadrimester of the first rebalance after `day` (a Jan 1 holiday puts January's
    rebalance after Jan 1)."""
    current = current_quadrimester(day)
    first = first_session(current)
    return current if first is not None and first > day else next_quadrimester(day)


def _quadrimester_before(label: str) -> date:
    """The first day of the quadrimester before `label`: previews of `label` are captured from
    then on (each forecasts the next quadrimester after its session)."""
    return quadrimester_start(current_quadrimester(quadrimester_start(label) - timedelta(days=1)))


def report_queries(index: str, start: date, end: date) -> dict[str, str]:
    """The queries of a report that need no earlier answer, in Athena (Trino) SQL: one per
    daily table, and the previews of the next rebalance after `end` captured up to `end`."""
    where = _period_filter(index, start, end)
    upcoming = next_rebalance(end)
    since = _quadrimester_before(upcoming)
    months = f"mes BETWEEN {_literal(f'{start:%Y-%m}')} AND {_literal(f'{end:%Y-%m}')}"
    return {
        "carteira_historico": (
            "SELECT data, acao, empresa, setor, participacao_pct, ranking "
            f"FROM carteira_historico WHERE {where} AND {months} ORDER BY data, ranking, acao"
        ),
        "carteira_concentracao": (
            "SELECT data, total_ativos, peso_top1_pct, peso_top5_pct, peso_top10_pct, hhi, "
            "numero_efetivo, setor_maior, peso_setor_maior_pct "
            f"FROM carteira_concentracao WHERE {where} ORDER BY data"
        ),
        "carteira_mudancas": (
            "SELECT data, data_anterior, pregoes_desde_anterior, rebalanceamento, "
            "data_rebalanceamento, tipo_mudanca, acao, empresa, setor, "
            "participacao_anterior_pct, participacao_pct "
            f"FROM carteira_mudancas WHERE {where} AND tipo_mudanca IN ('entrada', 'saida') "
            "ORDER BY data, tipo_mudanca, acao"
        ),
        "carteira_header": (
            "SELECT data, origem, data_coleta, defasagem_dias, total_ativos "
            f"FROM carteira_header WHERE {where} ORDER BY data"
        ),
        "carteira_previa": (
            "SELECT data, quadrimestre, origem, count(*) AS total_ativos, "
            "max(data_coleta) AS data_coleta "
            f"FROM carteira_previa WHERE {_period_filter(index, since, end)} "
            f"AND quadrimestre = {_literal(upcoming)} "
            "GROUP BY data, quadrimestre, origem ORDER BY data"
        ),
    }


def preview_changes_query(index: str, start: date, end: date, session: date | None) -> str | None:
    """carteira_previa_mudancas for the report: the 'previa' rows of the preview captured on
    `session` (the latest of the next rebalance), and the 'realizada' rows (the last preview
    against the portfolio B3 started) of the rebalances from `start` to `end`. None when there
    is neither a preview nor a rebalance in the period to ask about."""
    wanted = []
    if session is not None:
        wanted.append(f"(comparacao = 'previa' AND data = DATE {_literal(session.isoformat())})")
    if rebalance_sessions(trading_days(start, end)):
        wanted.append(
            "(comparacao = 'realizada' AND data_carteira BETWEEN "
            f"DATE {_literal(start.isoformat())} AND DATE {_literal(end.isoformat())})"
        )
    if not wanted:
        return None
    # the last preview before a rebalance of the period is captured from the quadrimester
    # before the period's first one on: the lower bound of `data` prunes the partitions
    since = _quadrimester_before(current_quadrimester(start))
    since = min(since, session) if session is not None else since
    return (
        "SELECT data, comparacao, quadrimestre, data_carteira, tipo_mudanca, acao, empresa, "
        "participacao_antes_pct, participacao_depois_pct, variacao_pp "
        f"FROM carteira_previa_mudancas WHERE {_period_filter(index, since, end)} "
        f"AND ({' OR '.join(wanted)}) "
        "ORDER BY data, comparacao, tipo_mudanca, acao"
    )


def _check_index(index: str) -> str:
    try:
        return check_index(index)
    except IndexCodeError as exc:
        raise ReportError(str(exc)) from None


def _day(value: Any) -> date | None:
    if value is None or type(value) is date:
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _flag(value: Any) -> bool:
    return value in (True, 1) or str(value).lower() == "true"


def _timestamp(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).removesuffix(" UTC").replace(" ", "T"))


def _typed(
    result: QueryResult, table: str, columns: dict[str, Callable[[Any], Any]]
) -> Iterator[list[Any]]:
    """Each row's wanted columns, by name, converted (Decimal to float, text dates to dates):
    DuckDB and Athena hand back the same values in slightly different Python types."""
    where = {name.lower(): i for i, name in enumerate(result.columns)}
    missing = [name for name in columns if name not in where]
    if missing:
        raise ReportError(f"{table} answered without the column(s) {', '.join(missing)}")
    picks = [(where[name], convert) for name, convert in columns.items()]
    for row in result.rows:
        yield [convert(row[i]) for i, convert in picks]


def load_report_data(query: Query, index: str, start: date, end: date) -> ReportData:
    """Runs the report's queries for `index` from `start` to `end` (both inclusive): the four
    daily tables, carteira_previa, then carteira_previa_mudancas of what that found.

    `query` is `resources_for(settings)["queries"].query` (DuckDB locally, Athena on AWS) or any
    callable taking Athena SQL and returning a `QueryResult`. Raises `ReportError` when the index
    has no carteira_historico row in the period: an empty report would look like a broken one.
    """
    index = _check_index(index)
    if start > end:
        raise ReportError(
            f"the period of the {index} report starts ({start}) after it ends ({end})"
        )
    sql = report_queries(index, start, end)
    constituents = [
        Constituent(*row)
        for row in _typed(
            query(sql["carteira_historico"]),
            "carteira_historico",
            {
                "data": _day,
                "acao": str,
                "empresa": _text,
                "setor": _text,
                "participacao_pct": float,
                "ranking": _integer,
            },
        )
    ]
    if not constituents:
        raise ReportError(
            f"no {index} portfolio is held from {start} to {end} (no carteira_historico row): "
            "nothing to report; capture or import those dates first (`b3 run`, `b3 import`), "
            "or pick a period with data"
        )
    concentration = [
        Concentration(*row)
        for row in _typed(
            query(sql["carteira_concentracao"]),
            "carteira_concentracao",
            {
                "data": _day,
                "total_ativos": _integer,
                "peso_top1_pct": _number,
                "peso_top5_pct": _number,
                "peso_top10_pct": _number,
                "hhi": _number,
                "numero_efetivo": _number,
                "setor_maior": _text,
                "peso_setor_maior_pct": _number,
            },
        )
    ]
    changes = [
        Change(*row)
        for row in _typed(
            query(sql["carteira_mudancas"]),
            "carteira_mudancas",
            {
                "data": _day,
                "data_anterior": _day,
                "pregoes_desde_anterior": _integer,
                "rebalanceamento": _flag,
                "data_rebalanceamento": _day,
                "tipo_mudanca": str,
                "acao": str,
                "empresa": _text,
                "setor": _text,
                "participacao_anterior_pct": _number,
                "participacao_pct": _number,
            },
        )
    ]
    captures = [
        Capture(*row)
        for row in _typed(
            query(sql["carteira_header"]),
            "carteira_header",
            {
                "data": _day,
                "origem": _text,
                "data_coleta": _timestamp,
                "defasagem_dias": _integer,
                "total_ativos": _integer,
            },
        )
    ]
    previews = [
        PreviewSession(*row)
        for row in _typed(
            query(sql["carteira_previa"]),
            "carteira_previa",
            {
                "data": _day,
                "quadrimestre": str,
                "origem": _text,
                "total_ativos": int,
                "data_coleta": _timestamp,
            },
        )
    ]
    latest = max(previews, default=None)
    changes_sql = preview_changes_query(index, start, end, latest.data if latest else None)
    preview_changes = (
        [
            PreviewChange(*row)
            for row in _typed(
                query(changes_sql),
                "carteira_previa_mudancas",
                {
                    "data": _day,
                    "comparacao": str,
                    "quadrimestre": str,
                    "data_carteira": _day,
                    "tipo_mudanca": str,
                    "acao": str,
                    "empresa": _text,
                    "participacao_antes_pct": _number,
                    "participacao_depois_pct": _number,
                    "variacao_pp": _number,
                },
            )
        ]
        if changes_sql
        else []
    )
    return ReportData(
        index=index,
        start=start,
        end=end,
        sessions=trading_days(start, end),
        constituents=constituents,
        concentration=concentration,
        changes=changes,
        captures=captures,
        previews=previews,
        preview_changes=preview_changes,
    )


def held_range(query: Query, index: str) -> tuple[date, date] | None:
    """The first and last dates of `index` in carteira_historico, or None if it holds none: the
    default period of `b3 report`."""
    index = _check_index(index)
    result = query(
        "SELECT min(data) AS primeira, max(data) AS ultima FROM carteira_historico "
        f"WHERE indice = {_literal(index)}"
    )
    [[first, last]] = list(_typed(result, "carteira_historico", {"primeira": _day, "ultima": _day}))
    return None if first is None or last is None else (first, last)


# --- what the report derives -------------------------------------------------------------------


def session_runs(days: Iterable[date], sessions: Sequence[date]) -> list[tuple[date, date, int]]:
    """`days` (sessions) as runs of consecutive sessions: (first, last, count). Friday and the
    next Monday are consecutive sessions, and so are the sessions around a holiday."""
    position = {day: i for i, day in enumerate(sessions)}
    runs: list[tuple[date, date, int]] = []
    for day in sorted(days, key=lambda d: position[d]):
        if runs and position[day] == position[runs[-1][1]] + 1:
            first, _, count = runs[-1]
            runs[-1] = (first, day, count + 1)
        else:
            runs.append((day, day, 1))
    return runs


def rebalance_sessions(sessions: Sequence[date]) -> list[date]:
    """The first session of January, May and September among `sessions` (B3's rebalances)."""
    firsts = {}
    for day in sessions:
        if day.month in REBALANCE_MONTHS:
            firsts.setdefault((day.year, day.month), day)
    return sorted(day for day in firsts.values() if trading_days(day.replace(day=1), day) == [day])


@dataclass(frozen=True)
class Rebalance:
    """The entries and exits recorded at one rebalance (compared: `before` with `after`)."""

    session: date
    before: date | None
    after: date
    sessions_apart: int | None
    entries: list[Change]
    exits: list[Change]


def rebalances(changes: Iterable[Change]) -> list[Rebalance]:
    """The entries and exits of rebalance comparisons, one group per rebalance session."""
    groups: dict[date, list[Change]] = defaultdict(list)
    for change in changes:
        if change.rebalanceamento:
            groups[change.data_rebalanceamento or change.data].append(change)
    out = []
    for session, rows in sorted(groups.items()):
        entries = [r for r in rows if r.tipo_mudanca == "entrada"]
        exits = [r for r in rows if r.tipo_mudanca == "saida"]
        out.append(
            Rebalance(
                session=session,
                before=rows[0].data_anterior,
                after=rows[0].data,
                sessions_apart=rows[0].pregoes_desde_anterior,
                entries=sorted(entries, key=lambda r: (-(r.participacao_pct or 0), r.acao)),
                exits=sorted(exits, key=lambda r: (-(r.participacao_anterior_pct or 0), r.acao)),
            )
        )
    return out


@dataclass(frozen=True)
class NextRebalance:
    """What the latest preview of the next rebalance says against today's portfolio."""

    preview: PreviewSession
    rows: list[PreviewChange]  # its 'previa' comparison (none without a daily portfolio)
    entries: list[PreviewChange]  # heaviest in the preview first
    exits: list[PreviewChange]  # heaviest today first
    moves: list[PreviewChange]  # names that stay, largest |weight change| first (top 10)

    @property
    def compared(self) -> date | None:
        """The daily portfolio the preview is compared with (data_carteira)."""
        return max((r.data_carteira for r in self.rows if r.data_carteira), default=None)


def next_rebalance_of(data: ReportData, moves: int = 10) -> NextRebalance | None:
    """The latest preview of the next rebalance after the report's end, or None."""
    preview = data.preview
    if preview is None:
        return None
    rows = [c for c in data.preview_changes if c.comparacao == "previa" and c.data == preview.data]
    kept = [r for r in rows if r.tipo_mudanca == "permanece" and r.variacao_pp]
    return NextRebalance(
        preview=preview,
        rows=rows,
        entries=sorted(
            (r for r in rows if r.tipo_mudanca == "entrada"),
            key=lambda r: (-(r.participacao_depois_pct or 0.0), r.acao),
        ),
        exits=sorted(
            (r for r in rows if r.tipo_mudanca == "saida"),
            key=lambda r: (-(r.participacao_antes_pct or 0.0), r.acao),
        ),
        moves=sorted(kept, key=lambda r: (-abs(r.variacao_pp or 0.0), r.acao))[:moves],
    )


@dataclass(frozen=True)
class PreviewOutcome:
    """How the last preview before a rebalance compared with the portfolio B3 started."""

    quadrimester: str
    session: date  # the preview's capture session
    started: date  # the rebalance's first session (data_carteira)
    missed: list[PreviewChange]  # in B3's portfolio, not in the preview
    extra: list[PreviewChange]  # in the preview, not in B3's portfolio
    errors: list[PreviewChange]  # names in both, largest |weight error| first
    held: int  # names in both

    @property
    def mean_error(self) -> float | None:
        """The mean absolute weight error in points over the names in both."""
        if not self.held:
            return None
        return sum(abs(r.variacao_pp or 0.0) for r in self.errors) / self.held


def preview_outcomes(data: ReportData) -> list[PreviewOutcome]:
    """The 'realizada' comparisons of the period's rebalances, oldest first."""
    groups: dict[tuple[date, date], list[PreviewChange]] = defaultdict(list)
    for row in data.preview_changes:
        if row.comparacao == "realizada" and row.data_carteira is not None:
            groups[(row.data_carteira, row.data)].append(row)
    out = []
    for (started, session), rows in sorted(groups.items()):
        kept = [r for r in rows if r.tipo_mudanca == "permanece"]
        out.append(
            PreviewOutcome(
                quadrimester=rows[0].quadrimestre,
                session=session,
                started=started,
                missed=sorted(
                    (r for r in rows if r.tipo_mudanca == "entrada"), key=lambda r: r.acao
                ),
                extra=sorted((r for r in rows if r.tipo_mudanca == "saida"), key=lambda r: r.acao),
                errors=sorted(kept, key=lambda r: (-abs(r.variacao_pp or 0.0), r.acao)),
                held=len(kept),
            )
        )
    return out


def summary(data: ReportData) -> str:
    """One line about the report, for the CLI."""
    held, gaps = data.captured, data.gaps
    missing = sum(count for _, _, count in gaps)
    groups = rebalances(data.changes)
    entries = sum(len(g.entries) for g in groups)
    exits = sum(len(g.exits) for g in groups)
    last = data.last
    constituents = sum(1 for c in data.constituents if c.data == last)
    line = (
        f"{data.index} {data.start}..{data.end}: {len(held)} of {len(data.sessions)} sessions "
        f"captured ({missing} not captured), {constituents} constituents on {last}, "
        f"{len(groups)} rebalance(s) with {entries} entries and {exits} exits"
    )
    samples = _origins(data).get(SAMPLE, 0)
    if samples:
        line += f"; {_plural(samples, 'date')} of the offline sample (invented, not B3's data)"
    upcoming = next_rebalance_of(data)
    if upcoming is not None:
        line += (
            f"; next rebalance {upcoming.preview.quadrimestre}: the preview of "
            f"{upcoming.preview.data} has {len(upcoming.entries)} entries and "
            f"{len(upcoming.exits)} exits"
        )
    return line


# --- rendering ---------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _span(first: date, last: date) -> str:
    return str(first) if first == last else f"{first} – {last}"


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


CSS = """
:root { --ink: #1b1f24; --muted: #59636e; --rule: #d5dae1; --panel: #f5f7f9;
        --accent: #332288; --entry: #117733; --exit: #882255; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
             "DejaVu Sans", sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 28px 22px 56px; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 0 0 4px; }
h2 { font-size: 1.35rem; margin: 40px 0 12px; padding-bottom: 4px;
     border-bottom: 2px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 22px 0 6px; }
p { margin: 6px 0 10px; }
.lead { color: var(--muted); margin: 0; }
.muted, figcaption, caption { color: var(--muted); }
code { font-size: .92em; background: var(--panel); padding: 0 3px; border-radius: 3px; }
dl.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr));
             gap: 10px; margin: 12px 0 0; }
dl.figures div { background: var(--panel); border: 1px solid var(--rule); border-radius: 6px;
                 padding: 10px 12px; }
dl.figures dt { font-size: .78rem; letter-spacing: .03em; text-transform: uppercase;
                color: var(--muted); }
dl.figures dd { margin: 2px 0 0; font-size: 1.3rem; font-weight: 600; }
dl.figures dd small { display: block; font-size: .8rem; font-weight: 400; color: var(--muted); }
figure.chart { margin: 18px 0 26px; }
figure.chart svg { display: block; width: 100%; max-width: 900px; height: auto; }
figure.chart figcaption { font-size: .88rem; margin-top: 4px; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; margin: 6px 0 18px; }
caption { text-align: left; font-size: .85rem; padding: 0 0 4px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--rule); text-align: left;
         vertical-align: top; }
thead th { background: var(--panel); font-weight: 600; }
.nowrap { white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
thead th.num, thead th.nowrap { white-space: normal; }
tr.entrada td:first-child { color: var(--entry); font-weight: 600; }
tr.saida td:first-child { color: var(--exit); font-weight: 600; }
ul.gaps { columns: 2 18em; margin: 6px 0 12px; padding-left: 1.2em; }
details { margin: 8px 0 16px; }
summary { cursor: pointer; color: var(--accent); }
ol.dates { columns: 3 15em; font-size: .84rem; margin: 8px 0; padding-left: 0;
           list-style: none; font-variant-numeric: tabular-nums; }
ol.dates li { break-inside: avoid; }
footer { margin-top: 40px; font-size: .82rem; color: var(--muted); }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { font-size: 10pt; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  main { max-width: none; padding: 0; }
  h1 { font-size: 18pt; }
  h2 { font-size: 13pt; margin-top: 18pt; break-after: avoid; }
  h3 { break-after: avoid; }
  dl.figures { grid-template-columns: repeat(4, 1fr); gap: 6pt; }
  dl.figures div { break-inside: avoid; }
  figure.chart, tr, .rebalance { break-inside: avoid; }
  details::details-content { content-visibility: visible; display: block; }
  table { font-size: 8.5pt; }
  th, td { padding: 2pt 4pt; }
  ol.dates { columns: 3; font-size: 8pt; }
}
"""


def _chart(name: str, fig: Any, caption: str) -> str:
    """A chart as an inline SVG in a `<figure data-chart=name>`, labelled for screen readers."""
    svg = charts.svg_text(fig)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_e(caption)}" ', 1)
    return (
        f'<figure class="chart" data-chart="{_e(name)}">{svg}'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _table(
    head: Sequence[tuple[str, str]], rows: Iterable[tuple[str, Sequence[str]]], caption: str = ""
) -> str:
    """An HTML table: `head` is (title, CSS class of the column) per column, rows are (CSS class,
    cells already escaped)."""

    def attr(kind: str) -> str:
        return f' class="{kind}"' if kind else ""

    cells = "".join(f"<th{attr(kind)}>{_e(title)}</th>" for title, kind in head)
    body = "".join(
        f"<tr{attr(kind)}>"
        + "".join(
            f"<td{attr(column)}>{value}</td>" for (_, column), value in zip(head, row, strict=True)
        )
        + "</tr>"
        for kind, row in rows
    )
    title = f"<caption>{_e(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _key_figures(
    data: ReportData, groups: list[Rebalance], upcoming: NextRebalance | None = None
) -> str:
    held, last = data.captured, data.last
    first_day = min(c.data for c in data.constituents)
    on_last = [c for c in data.constituents if c.data == last]
    on_first = [c for c in data.constituents if c.data == first_day]
    top = max(on_last, key=lambda c: c.participacao_pct)
    missing = sum(count for _, _, count in data.gaps)
    conc = {row.data: row for row in data.concentration}
    latest, earliest = conc.get(last), conc.get(first_day)
    origins = _origins(data)
    entries = sum(len(g.entries) for g in groups)
    exits = sum(len(g.exits) for g in groups)
    items = [
        (
            "Sessions captured",
            f"{len(held)} of {len(data.sessions)}",
            f"{missing} not captured in {_plural(len(data.gaps), 'gap')}"
            if missing
            else "every session of the period",
        ),
        (
            "Constituents",
            f"{len(on_last)}",
            f"on {last}; {len(on_first)} on {first_day}",
        ),
        (
            "Largest weight",
            f"{top.acao} {top.participacao_pct:.3f}%",
            f"{top.empresa or ''} on {last}".strip(),
        ),
    ]
    if latest is not None:
        items += [
            (
                "Top-10 weight",
                f"{_pct(latest.peso_top10_pct, 2)}%",
                f"{_pct(earliest.peso_top10_pct, 2)}% on {first_day}" if earliest else "",
            ),
            (
                "Effective constituents",
                _pct(latest.numero_efetivo, 1),
                f"HHI {_pct(latest.hhi, 1)} on {last}",
            ),
            (
                "Largest sector",
                f"{_pct(latest.peso_setor_maior_pct, 2)}%" if latest.setor_maior else "–",
                latest.setor_maior or f"no sector data on {last}",
            ),
        ]
    items += [
        (
            "Rebalances",
            str(len(groups)),
            f"{_plural(entries, 'entry', 'entries')}, {_plural(exits, 'exit')}",
        ),
        (
            "Origin",
            f"{origins.get(CSV, 0)} CSV · {origins.get(API, 0)} API"
            + (f" · {origins[SAMPLE]} sample" if origins.get(SAMPLE) else ""),
            "dates imported from B3's downloads · fetched from B3's API"
            + (" · the offline sample, invented, not B3's" if origins.get(SAMPLE) else ""),
        ),
    ]
    if upcoming is not None:
        items.append(
            (
                "Next rebalance",
                charts.quadrimester_name(upcoming.preview.quadrimestre),
                f"preview of {upcoming.preview.data}: "
                + (
                    f"{_plural(len(upcoming.entries), 'entry', 'entries')}, "
                    f"{_plural(len(upcoming.exits), 'exit')}"
                    if upcoming.rows
                    else "no daily portfolio to compare"
                ),
            )
        )
    cards = "".join(
        f"<div><dt>{_e(label)}</dt><dd>{_e(value)}<small>{_e(note)}</small></dd></div>"
        for label, value, note in items
    )
    return (
        f'<section id="key-figures"><h2>Key figures</h2><dl class="figures">{cards}</dl></section>'
    )


def _charts(data: ReportData) -> str:
    last = data.last
    gaps = [(first, end) for first, end, _ in data.gaps]
    on_last = [c for c in data.constituents if c.data == last]
    weights = charts.weights_chart(
        [(c.acao, c.participacao_pct) for c in on_last], last, data.index
    )
    sectors = charts.sector_chart(
        [(c.setor, c.participacao_pct) for c in on_last], last, data.index
    )
    history = charts.top_weights_chart(
        [(c.data, c.acao, c.participacao_pct) for c in data.constituents], data.index, gaps=gaps
    )
    sector_history = charts.sector_history_chart(
        [(c.data, c.setor, c.participacao_pct) for c in data.constituents], data.index, gaps=gaps
    )
    shaded = " Grey bands: sessions not captured (lines cross them)." if gaps else ""
    return (
        f'<section id="portfolio"><h2>The portfolio on {_e(last)}</h2>'
        + _chart(
            "weights",
            weights,
            f"Weights of the 15 largest of {len(on_last)} constituents; the rest summed."
            if len(on_last) > 15
            else f"Weights of all {len(on_last)} constituents.",
        )
        + _chart("sectors", sectors, "Weights by sector (the sum of each sector's constituents).")
        + "</section>"
        '<section id="over-time"><h2>Over the period</h2>'
        + _chart(
            "top-weights",
            history,
            f"The largest constituents on {last}, and their weights on every captured date."
            + shaded,
        )
        + _chart(
            "sector-weights",
            sector_history,
            "Sector weights on each captured date with sectors (CSV imports carry none).",
        )
        + "</section>"
    )


def _change_rows(rows: Iterable[Change], with_date: bool = False) -> Iterator[tuple[str, list]]:
    for r in rows:
        cells = [
            "entry" if r.tipo_mudanca == "entrada" else "exit",
            f"<strong>{_e(r.acao)}</strong>",
            _e(r.empresa or ""),
            _e(r.setor or "–"),
            _pct(r.participacao_anterior_pct),
            _pct(r.participacao_pct),
        ]
        if with_date:
            cells.insert(1, _e(f"{r.data_anterior} → {r.data}"))
        yield r.tipo_mudanca, cells


CHANGE_HEAD = [
    ("change", ""),
    ("acao", ""),
    ("empresa", ""),
    ("setor", ""),
    ("weight before (%)", "num"),
    ("weight after (%)", "num"),
]


def _unrecorded_rebalance(session: date, groups: list[Rebalance], held: list[date]) -> str:
    """Why a rebalance session of the period has no entries or exits listed."""
    for group in groups:
        if group.before is not None and group.before < session <= group.after:
            return (
                f"it lies between {group.before} and {group.after}, whose comparison is listed "
                f"under the rebalance of {group.session}"
            )
    before = [day for day in held if day < session]
    after = [day for day in held if day >= session]
    if not after:
        return "no date on or after it is captured in this period"
    if not before:
        return f"carteira_mudancas has none on {after[0]}, the first date captured on or after it"
    return f"carteira_mudancas has none between {before[-1]} and {after[0]}"


def _rebalance_section(data: ReportData, groups: list[Rebalance]) -> str:
    parts = ['<section id="rebalances"><h2>Entries and exits at each rebalance</h2>']
    parts.append(
        "<p>B3 rebalances its indices on the first session of January, May and September. Each "
        "table compares the last portfolio captured before the rebalance with the first one "
        "captured on or after it (<code>carteira_mudancas</code>, "
        "<code>rebalanceamento</code> true).</p>"
    )
    recorded = {g.session for g in groups}
    for group in groups:
        apart = group.sessions_apart or 1
        note = f"Compared {group.before} with {group.after}" + (
            f", {apart} sessions apart: the changes may include moves on the sessions between."
            if apart > 1
            else " (consecutive sessions)."
        )
        counts = (
            f"{_plural(len(group.entries), 'entry', 'entries')}, "
            f"{_plural(len(group.exits), 'exit')}"
        )
        parts.append(
            f'<div class="rebalance" data-rebalance="{_e(group.session)}">'
            f"<h3>Rebalance of {_e(group.session)}: {_e(counts)}</h3>"
            f'<p class="muted">{_e(note)}</p>'
            + _table(CHANGE_HEAD, _change_rows([*group.entries, *group.exits]))
            + "</div>"
        )
    for session in rebalance_sessions(data.sessions):
        if session not in recorded:
            why = _unrecorded_rebalance(session, groups, data.captured)
            parts.append(
                f"<h3>Rebalance of {_e(session)}</h3>"
                f"<p>No entries or exits recorded: {_e(why)}.</p>"
            )
    if not groups and not rebalance_sessions(data.sessions):
        parts.append("<p>No rebalance falls in this period.</p>")
    others = [c for c in data.changes if not c.rebalanceamento]
    if others:
        head = [*CHANGE_HEAD[:1], ("compared", "nowrap"), *CHANGE_HEAD[1:]]
        parts.append(
            "<h3>Entries and exits between rebalances</h3>"
            '<p class="muted">Changes of composition outside a rebalance (a delisting, a '
            "merger or another corporate event).</p>"
            + _table(head, _change_rows(others, with_date=True))
        )
    parts.append("</section>")
    return "".join(parts)


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


def _preview_origin(preview: PreviewSession) -> str:
    if preview.origem == CSV:
        return "imported from B3's quadrimester CSV download"
    if preview.origem == SAMPLE:
        return "the offline sample: invented data, not B3's"
    if preview.data_coleta is not None:
        return f"fetched from B3's API at {preview.data_coleta:%Y-%m-%d %H:%M} UTC"
    return _origin_label(preview.origem)


def _next_rebalance_section(data: ReportData, upcoming: NextRebalance | None) -> str:
    """The latest preview of the next rebalance: who enters, who leaves, the largest moves."""
    if upcoming is None:
        return ""
    preview = upcoming.preview
    name = charts.quadrimester_name(preview.quadrimestre)
    first = first_session(preview.quadrimestre)
    compared = upcoming.compared
    sessions = sorted(p.data for p in data.previews)
    items = [
        (
            "Target",
            name,
            f"quadrimester {preview.quadrimestre}"
            + (f", from its first session {first}" if first else ""),
        ),
        ("Preview captured", str(preview.data), _preview_origin(preview)),
        (
            "Compared with",
            str(compared) if compared else "–",
            "the latest daily portfolio captured up to the preview"
            if compared
            else f"no daily portfolio captured up to {preview.data}",
        ),
        ("Entering", str(len(upcoming.entries)), "in the preview, not in today's portfolio"),
        ("Leaving", str(len(upcoming.exits)), "in today's portfolio, not in the preview"),
        (
            "Previews captured",
            str(len(sessions)),
            f"of {name}: {_span(sessions[0], sessions[-1])}",
        ),
    ]
    cards = "".join(
        f"<div><dt>{_e(label)}</dt><dd>{_e(value)}<small>{_e(note)}</small></dd></div>"
        for label, value, note in items
    )
    parts = [
        f'<section id="next-rebalance"><h2>Next rebalance: {_e(name)}</h2>',
        f"<p>B3 publishes the next quadrimester's portfolio (its preview) in the weeks before "
        f"each rebalance. The latest {_e(data.index)} preview captured up to {_e(data.end)} is "
        f"that of {_e(preview.data)}, with {_plural(preview.total_ativos, 'name')} "
        f"(<code>carteira_previa</code>); against today's portfolio "
        f"(<code>carteira_previa_mudancas</code>) it says:</p>",
        f'<dl class="figures">{cards}</dl>',
    ]
    if not upcoming.rows:
        parts.append(
            f"<p>No comparison: no {_e(data.index)} daily portfolio is captured up to "
            f"{_e(preview.data)}, so who enters and who leaves cannot be told.</p></section>"
        )
        return "".join(parts)
    fig = charts.rebalance_chart(
        [row._asdict() for row in upcoming.rows], data.index, preview.quadrimestre, preview.data
    )
    parts.append(
        _chart(
            "next-rebalance",
            fig,
            f"Names entering with their weight in the preview of {preview.data}; names leaving "
            f"with their weight on {compared}.",
        )
    )
    today = f"weight on {compared} (%)"
    in_preview = "weight in the preview (%)"
    # an entry is shown with its weight in the preview, an exit with its weight today
    sides = (
        ("Entering", "entrada", upcoming.entries, in_preview, "participacao_depois_pct", "enters"),
        ("Leaving", "saida", upcoming.exits, today, "participacao_antes_pct", "leaves"),
    )
    for title, kind, rows, heading, weight, verb in sides:
        parts.append(f"<h3>{title}: {len(rows)}</h3>")
        parts.append(
            _table(
                [("acao", ""), ("empresa", ""), (heading, "num")],
                (
                    (
                        kind,
                        [
                            f"<strong>{_e(r.acao)}</strong>",
                            _e(r.empresa or ""),
                            _pct(getattr(r, weight)),
                        ],
                    )
                    for r in rows
                ),
            )
            if rows
            else f"<p>No name {verb}.</p>"
        )
    if upcoming.moves:
        parts.append(
            "<h3>The largest weight moves</h3><div data-moves>"
            + _table(
                [
                    ("acao", ""),
                    ("empresa", ""),
                    (today, "num"),
                    (in_preview, "num"),
                    ("change (points)", "num"),
                ],
                (
                    (
                        "",
                        [
                            f"<strong>{_e(r.acao)}</strong>",
                            _e(r.empresa or ""),
                            _pct(r.participacao_antes_pct),
                            _pct(r.participacao_depois_pct),
                            _signed(r.variacao_pp),
                        ],
                    )
                    for r in upcoming.moves
                ),
                f"The {_plural(len(upcoming.moves), 'name')} staying in the index whose weight "
                "the preview moves most.",
            )
            + "</div>"
        )
    parts.append("</section>")
    return "".join(parts)


OUTCOME_KINDS = {  # tipo_mudanca of a 'realizada' row, from the preview to B3's portfolio
    "entrada": "not in the preview",
    "saida": "not in B3's portfolio",
    "permanece": "weight error",
}


def _last_preview_section(outcomes: list[PreviewOutcome], errors: int = 5) -> str:
    """How the last preview before each rebalance of the period did: its forecast's error."""
    if not outcomes:
        return ""
    parts = [
        '<section id="last-preview"><h2>How the last preview did</h2>',
        "<p>The preview is a forecast: B3 settles the portfolio only on the rebalance. Each "
        "table compares the last preview captured before a rebalance with the portfolio B3 "
        "started on its first session (<code>carteira_previa_mudancas</code>, comparison "
        "<code>realizada</code>).</p>",
    ]
    for outcome in outcomes:
        wrong = len(outcome.missed) + len(outcome.extra)
        mean = outcome.mean_error
        largest = outcome.errors[0].variacao_pp if outcome.errors else None
        note = (
            f"{_plural(len(outcome.missed), 'name')} of B3's portfolio missing from the preview, "
            f"{_plural(len(outcome.extra), 'name')} of the preview missing from B3's portfolio"
            + (
                f"; on the {outcome.held} names in both, weights off by {mean:.3f} points on "
                f"average (largest {abs(largest or 0.0):.3f})"
                if mean is not None
                else ""
            )
            + "."
        )
        rows = [
            *outcome.missed,
            *outcome.extra,
            *[r for r in outcome.errors[:errors] if r.variacao_pp],
        ]
        parts.append(
            f'<div class="rebalance" data-preview-outcome="{_e(outcome.started)}">'
            f"<h3>Rebalance of {_e(outcome.started)} "
            f"({_e(charts.quadrimester_name(outcome.quadrimester))}): the preview of "
            f"{_e(outcome.session)}</h3><p>{_e(note)}</p>"
            + (
                _table(
                    [
                        ("", ""),
                        ("acao", ""),
                        ("empresa", ""),
                        ("preview (%)", "num"),
                        ("B3's portfolio (%)", "num"),
                        ("error (points)", "num"),
                    ],
                    (
                        (
                            r.tipo_mudanca if r.tipo_mudanca != "permanece" else "",
                            [
                                _e(OUTCOME_KINDS.get(r.tipo_mudanca, r.tipo_mudanca)),
                                f"<strong>{_e(r.acao)}</strong>",
                                _e(r.empresa or ""),
                                _pct(r.participacao_antes_pct),
                                _pct(r.participacao_depois_pct),
                                _signed(r.variacao_pp),
                            ],
                        )
                        for r in rows
                    ),
                )
                if rows or wrong
                else "<p>The preview was exact.</p>"
            )
            + "</div>"
        )
    parts.append("</section>")
    return "".join(parts)


def _concentration_section(data: ReportData) -> str:
    rows = sorted(data.concentration)
    gaps = [(first, end) for first, end, _ in data.gaps]
    fig = charts.concentration_chart(
        [
            (r.data, r.peso_top10_pct, r.numero_efetivo)
            for r in rows
            if r.peso_top10_pct is not None and r.numero_efetivo is not None
        ],
        data.index,
        gaps=gaps,
    )
    parts = [
        '<section id="concentration"><h2>Concentration over time</h2>',
        "<p>The weight of the ten largest constituents, and the effective number of "
        "constituents: 10000 / HHI, where HHI is the Herfindahl-Hirschman index of the weights "
        "in percent (an index of N equal weights has N effective constituents).</p>",
        _chart("concentration", fig, "Top-10 weight and effective number of constituents."),
    ]
    month_ends = [
        list(group)[-1] for _, group in groupby(rows, key=lambda r: (r.data.year, r.data.month))
    ]
    if month_ends:
        head = [
            ("date", "nowrap"),
            ("constituents", "num"),
            ("top 1 (%)", "num"),
            ("top 5 (%)", "num"),
            ("top 10 (%)", "num"),
            ("HHI", "num"),
            ("effective N", "num"),
            ("largest sector", ""),
        ]
        body = (
            (
                "",
                [
                    _e(r.data),
                    _e(r.total_ativos if r.total_ativos is not None else "–"),
                    _pct(r.peso_top1_pct, 2),
                    _pct(r.peso_top5_pct, 2),
                    _pct(r.peso_top10_pct, 2),
                    _pct(r.hhi, 1),
                    _pct(r.numero_efetivo, 1),
                    _e(
                        f"{r.setor_maior} ({r.peso_setor_maior_pct:.2f}%)"
                        if r.setor_maior and r.peso_setor_maior_pct is not None
                        else "–"
                    ),
                ],
            )
            for r in month_ends
        )
        parts.append(_table(head, body, "The last captured date of each month."))
    parts.append("</section>")
    return "".join(parts)


def _origins(data: ReportData) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for capture in data.captures:
        counts[capture.origem or "unknown"] += 1
    return dict(counts)


ORIGIN_LABELS = {
    CSV: "imported from a CSV download",
    API: "fetched from B3's API",
    SAMPLE: "of the offline sample (invented data, not B3's)",
}


def _origin_label(origem: str | None) -> str:
    return ORIGIN_LABELS.get(origem or "", f"origin {origem or 'unknown'}")


_ORDER = {CSV: 0, API: 1, SAMPLE: 2}  # how the provenance lists the origins


def _when(capture: Capture) -> str:
    if capture.data_coleta is None:
        return "no capture time"
    return f"{capture.data_coleta:%Y-%m-%d %H:%M} UTC"


def _provenance_section(data: ReportData) -> str:
    held = data.captured
    gaps = data.gaps
    missing = sum(count for _, _, count in gaps)
    origins = _origins(data)
    parts = [
        '<section id="provenance"><h2>Provenance</h2>',
        f"<p>B3's trading calendar has {_plural(len(data.sessions), 'session')} from "
        f"{_e(data.start)} to {_e(data.end)}; {_plural(len(held), 'date')} of them are captured "
        f"here ({_e(held[0])} to {_e(held[-1])}).</p>",
    ]
    if gaps:
        items = "".join(
            f"<li>{_e(_span(first, last))} ({_plural(count, 'session')})</li>"
            for first, last, count in gaps
        )
        parts.append(
            f'<h3>Sessions not captured: {missing}</h3><ul class="gaps" data-gaps>{items}</ul>'
        )
    else:
        parts.append("<p>Every session of the period is captured.</p>")
    described = ", ".join(
        f"{_plural(count, 'date')} {_origin_label(origem)}"
        for origem, count in sorted(origins.items(), key=lambda item: _ORDER.get(item[0], 3))
    )
    without_header = len(set(held) - {c.data for c in data.captures})
    parts.append(
        f"<h3>Where the dates came from</h3><p data-origins>{_e(described or 'no capture record')}"
        + (
            f"; {without_header} without a <code>carteira_header</code> row"
            if without_header
            else ""
        )
        + ". CSV imports carry no sectors and no capture time."
        + (
            " The offline sample is invented data, not B3's: a real capture or import of its "
            "date replaces it."
            if origins.get(SAMPLE)
            else ""
        )
        + "</p>"
    )
    runs = []
    for (origem, lag), group in groupby(
        sorted(data.captures), key=lambda c: (c.origem, c.defasagem_dias)
    ):
        rows = list(group)
        stamps = [c.data_coleta for c in rows if c.data_coleta is not None]
        when = (
            f"{min(stamps):%Y-%m-%d %H:%M} – {max(stamps):%Y-%m-%d %H:%M} UTC"
            if stamps
            else "unknown (CSV download)"
            if origem == CSV
            else "–"
        )
        runs.append(
            (
                "",
                [
                    _e(_span(rows[0].data, rows[-1].data)),
                    str(len(rows)),
                    _e(_origin_label(origem)),
                    _e(when),
                    _e("–" if lag is None else lag),
                ],
            )
        )
    head = [
        ("dates", "nowrap"),
        ("count", "num"),
        ("origin", ""),
        ("captured", "nowrap"),
        ("lag (days)", "num"),
    ]
    parts.append(
        _table(
            head,
            runs,
            (
                "Consecutive captured dates of the same origin and lag (the session's date minus "
                "the UTC date of its capture: B3 serves Monday's portfolio from Saturday on)."
            ),
        )
    )
    listing = "".join(
        f"<li>{_e(c.data)} · {_e(c.origem or '?')} · {_e(_when(c))}</li>"
        for c in sorted(data.captures)
    )
    parts.append(
        f"<details><summary>Every captured date ({len(data.captures)})</summary>"
        f'<ol class="dates">{listing}</ol></details></section>'
    )
    return "".join(parts)


def render_report(data: ReportData) -> str:
    """The report as one self-contained HTML document: inline CSS and SVG, no script, nothing
    fetched (its Content-Security-Policy forbids any fetch), a print stylesheet."""
    if not data.constituents:
        raise ReportError(
            f"no {data.index} portfolio is held from {data.start} to {data.end}: nothing to report"
        )
    groups = rebalances(data.changes)
    upcoming = next_rebalance_of(data)
    outcomes = preview_outcomes(data)
    title = f"{data.index} portfolio report, {data.start} to {data.end}"
    previews = ", carteira_previa and carteira_previa_mudancas" if upcoming or outcomes else ""
    body = "".join(
        [
            f"<header><h1>{_e(data.index)} portfolio report</h1>"
            f'<p class="lead">{_e(data.start)} to {_e(data.end)} · '
            f"{_plural(len(data.sessions), 'B3 session')} · "
            f"{_plural(len(data.captured), 'date')} captured</p></header>",
            _key_figures(data, groups, upcoming),
            _charts(data),
            _rebalance_section(data, groups),
            _last_preview_section(outcomes),
            _next_rebalance_section(data, upcoming),
            _concentration_section(data),
            _provenance_section(data),
            "<footer>Made by <code>b3 report</code> from the tables carteira_historico, "
            f"carteira_concentracao, carteira_mudancas{previews} and carteira_header of "
            "b3-lake. Weights are B3's, in percent of the index.</footer>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )
