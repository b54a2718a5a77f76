"""Synthetic but realistic analytic tables for the report's tests (unit and browser).

`build()` fills an in-memory DuckDB with carteira_historico, carteira_concentracao,
carteira_mudancas and carteira_header, with the columns and types those tables have in the lake,
over a run of real B3 sessions: CSV imports first (no sectors, no capture time), then API
captures, a gap of two sessions with nothing captured, entries and exits at each rebalance (the
first session of January, May or September) and one exit between rebalances. carteira_previa and
carteira_previa_mudancas are there too, empty unless `previews=True`: then B3's previews of each
rebalance of the period (the last one a CSV import, off by one name each way: the forecast's
error) and of the next rebalance after the period (captured on its last four sessions: two
names leave, three enter). `Synthetic.query`
runs Athena (Trino) SQL on it through sqlglot, as `b3 query` does on the local catalog, and returns
the same `QueryResult`; the other fields are what the report must say.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import duckdb
import pyarrow as pa
import sqlglot

from b3_assets.refine.catalog import QueryResult
from b3_assets.source.trading_calendar import trading_days
from b3_contract.previews import next_quadrimester

# Sectors as B3 writes them in segment-2 captures (tests/fixtures/b3/portfolio_day_IBOV_seg2_*).
SECTORS = (
    "Financ e Outros / Interms Financs",
    "Petróleo, Gás e Biocombustíveis",
    "Mats Básicos / Mineração",
    "Utilidade Públ / Energ Elétrica",
    "Bens Indls / Máqs e Equips",
    "Consumo Cíclico / Comércio",
    "Cons N  Básico / Alimentos Processados",
    "Financ e Outros / Previd  Seguros",
    "Mats Básicos / Sid Metalurgia",
    "Saúde/SM Hosp An.Diag",
    "Telecomunicação",
    "Tec.Informação/Programas Servs",
    "Diversos",
)
KINDS = (("ON", "NM", "3"), ("PN", "N1", "4"), ("UNT", "N2", "11"), ("PNA", "N1", "5"))
REBALANCE_MONTHS = (1, 5, 9)

# The tables' columns in order, with their DuckDB types (Spark's: decimal, bigint, int...).
DDL: dict[str, tuple[tuple[str, str], ...]] = {
    "carteira_historico": (
        ("data", "DATE"),
        ("acao", "VARCHAR"),
        ("empresa", "VARCHAR"),
        ("tipo", "VARCHAR"),
        ("classe", "VARCHAR"),
        ("governanca", "VARCHAR"),
        ("setor", "VARCHAR"),
        ("participacao_pct", "DECIMAL(7,3)"),
        ("qtd_teorica", "BIGINT"),
        ("ranking", "INTEGER"),
        ("participacao_acumulada_pct", "DECIMAL(7,3)"),
        ("origem", "VARCHAR"),
        ("indice", "VARCHAR"),
        ("mes", "VARCHAR"),
    ),
    "carteira_concentracao": (
        ("total_ativos", "INTEGER"),
        ("peso_top1_pct", "DECIMAL(7,3)"),
        ("peso_top5_pct", "DECIMAL(7,3)"),
        ("peso_top10_pct", "DECIMAL(7,3)"),
        ("hhi", "DECIMAL(12,6)"),
        ("numero_efetivo", "DECIMAL(10,3)"),
        ("setor_maior", "VARCHAR"),
        ("peso_setor_maior_pct", "DECIMAL(7,3)"),
        ("indice", "VARCHAR"),
        ("data", "DATE"),
    ),
    "carteira_mudancas": (
        ("acao", "VARCHAR"),
        ("tipo_mudanca", "VARCHAR"),
        ("empresa", "VARCHAR"),
        ("setor", "VARCHAR"),
        ("participacao_anterior_pct", "DECIMAL(7,3)"),
        ("participacao_pct", "DECIMAL(7,3)"),
        ("variacao_pp", "DECIMAL(8,3)"),
        ("qtd_teorica_anterior", "BIGINT"),
        ("qtd_teorica", "BIGINT"),
        ("variacao_qtd_pct", "DECIMAL(12,4)"),
        ("data_anterior", "DATE"),
        ("pregoes_desde_anterior", "INTEGER"),
        ("rebalanceamento", "BOOLEAN"),
        ("data_rebalanceamento", "DATE"),
        ("indice", "VARCHAR"),
        ("data", "DATE"),
    ),
    "carteira_previa": (
        ("empresa", "VARCHAR"),
        ("tipo", "VARCHAR"),
        ("participacao_pct", "DECIMAL(7,3)"),
        ("qtd_teorica", "BIGINT"),
        ("ranking", "INTEGER"),
        ("quadrimestre", "VARCHAR"),
        ("data_coleta", "TIMESTAMPTZ"),
        ("origem", "VARCHAR"),
        ("acao", "VARCHAR"),
        ("indice", "VARCHAR"),
        ("data", "DATE"),
    ),
    "carteira_previa_mudancas": (
        ("comparacao", "VARCHAR"),
        ("acao", "VARCHAR"),
        ("empresa", "VARCHAR"),
        ("tipo_mudanca", "VARCHAR"),
        ("participacao_antes_pct", "DECIMAL(7,3)"),
        ("participacao_depois_pct", "DECIMAL(7,3)"),
        ("variacao_pp", "DECIMAL(8,3)"),
        ("qtd_teorica_antes", "BIGINT"),
        ("qtd_teorica_depois", "BIGINT"),
        ("quadrimestre", "VARCHAR"),
        ("data_carteira", "DATE"),
        ("indice", "VARCHAR"),
        ("data", "DATE"),
    ),
    "carteira_header": (
        ("data_carteira", "DATE"),
        ("qtd_teorica_total", "BIGINT"),
        ("redutor", "DECIMAL(20,8)"),
        ("participacao_total_pct", "DECIMAL(7,3)"),
        ("total_ativos", "INTEGER"),
        ("data_coleta", "TIMESTAMPTZ"),
        ("defasagem_dias", "INTEGER"),
        ("origem", "VARCHAR"),
        ("indice", "VARCHAR"),
        ("data", "DATE"),
    ),
}


@dataclass
class Stock:
    acao: str
    empresa: str
    tipo: str
    classe: str
    governanca: str
    setor: str
    weight: float
    qtd: int


Holding = dict[str, tuple[Stock, float, int]]  # ticker: (stock, weight in %, quantity)


@dataclass(frozen=True)
class PreviewFacts:
    """The latest preview of the next rebalance after the period, as the report must show it."""

    session: date
    quadrimester: str
    compared: date  # the daily portfolio it is compared with
    sessions: list[date]  # every preview of that quadrimester captured in the period
    names: int
    entries: dict[str, float]  # ticker: weight in the preview
    exits: dict[str, float]  # ticker: weight today
    moves: list[tuple[str, float, float, float]]  # top 10 (ticker, today, preview, change)


@dataclass(frozen=True)
class OutcomeFacts:
    """How the last preview before a rebalance of the period compares with B3's portfolio."""

    session: date  # the preview's capture session
    quadrimester: str
    missed: dict[str, float]  # in B3's portfolio, not in the preview: ticker: actual weight
    extra: dict[str, float]  # in the preview, not in B3's portfolio: ticker: preview weight
    held: int  # names in both
    mean_error: float  # mean |weight error| in points over the names in both


@dataclass(frozen=True)
class Synthetic:
    """The DuckDB, its `query` callable, and the facts the report must state."""

    connection: duckdb.DuckDBPyConnection
    index: str
    sessions: list[date]  # the B3 sessions from start to end
    captured: list[date]
    gap: list[date]  # the sessions with nothing captured (consecutive)
    csv_dates: list[date]
    api_dates: list[date]
    rebalances: dict[date, tuple[list[str], list[str]]]  # session: (entries, exits)
    other_exit: tuple[date, str]  # an exit between rebalances (a delisting)
    rows: int = field(default=0)
    next_preview: PreviewFacts | None = None
    outcomes: dict[date, OutcomeFacts] = field(default_factory=dict)  # by rebalance session

    @property
    def start(self) -> date:
        return self.sessions[0]

    @property
    def end(self) -> date:
        return self.sessions[-1]

    @property
    def query(self) -> Callable[[str], QueryResult]:
        return lambda sql: run(self.connection, sql)


def run(connection: duckdb.DuckDBPyConnection, sql: str) -> QueryResult:
    """Athena (Trino) SQL on DuckDB, as the local catalog runs `b3 query`."""
    [duck_sql] = sqlglot.transpile(sql, read="trino", write="duckdb")
    relation = connection.cursor().sql(duck_sql)
    return QueryResult(relation.columns, [str(t) for t in relation.types], relation.fetchall())


def _tickers(rng: random.Random, count: int) -> list[Stock]:
    seen: set[str] = set()
    stocks = []
    while len(stocks) < count:
        root = "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ") for _ in range(4))
        if root in seen:
            continue
        seen.add(root)
        classe, governanca, suffix = rng.choice(KINDS)
        stocks.append(
            Stock(
                acao=root + suffix,
                empresa=f"{root} {rng.choice(('SA', 'S.A.', 'HOLDING', 'PART', 'ON'))}",
                tipo=f"{classe} {governanca}",
                classe=classe,
                governanca=governanca,
                setor=rng.choice(SECTORS),
                weight=math.exp(rng.gauss(0, 1.0)),
                qtd=rng.randrange(100_000_000, 5_000_000_000),
            )
        )
    return stocks


def _period(count: int) -> list[date]:
    """`count` sessions with the first session of May 2025 a bit after the middle."""
    sessions = trading_days(date(2023, 1, 1), date(2026, 12, 31))
    may = next(day for day in sessions if day >= date(2025, 5, 1))
    first = sessions.index(may) - (count * 11) // 20
    return sessions[first : first + count]


def _weights(members: list[Stock]) -> dict[str, float]:
    """Weights in % rounded as B3 publishes them (3 decimals)."""
    total = sum(stock.weight for stock in members)
    return {stock.acao: round(100 * stock.weight / total, 3) for stock in members}


def _compare(
    index: str,
    session: date,
    comparison: str,
    quadrimester: str,
    portfolio_day: date,
    before: Holding,
    after: Holding,
) -> list[tuple]:
    """carteira_previa_mudancas rows of one comparison, as glue/sql/previa_mudancas.sql makes."""
    rows = []
    for acao in sorted(before.keys() | after.keys()):
        old, new = before.get(acao), after.get(acao)
        kind = "entrada" if old is None else "saida" if new is None else "permanece"
        w_old, w_new = (old[1] if old else None), (new[1] if new else None)
        rows.append(
            (
                comparison,
                acao,
                (new or old)[0].empresa,
                kind,
                w_old,
                w_new,
                round((w_new or 0.0) - (w_old or 0.0), 3),
                old[2] if old else None,
                new[2] if new else None,
                quadrimester,
                portfolio_day,
                index,
                session,
            )
        )
    return rows


def _preview_rows(
    index: str, session: date, quadrimester: str, holding: Holding, csv: bool, minute: int
) -> list[tuple]:
    """carteira_previa rows of one preview (a CSV import has no capture time)."""
    collected = None if csv else datetime.combine(session, time(20, minute), UTC)
    ordered = sorted(holding.items(), key=lambda item: (-item[1][1], item[0]))
    return [
        (
            stock.empresa,
            stock.tipo,
            weight,
            qtd,
            ranking,
            quadrimester,
            collected,
            "csv" if csv else "api",
            acao,
            index,
            session,
        )
        for ranking, (acao, (stock, weight, qtd)) in enumerate(ordered, 1)
    ]


def _forecast(rng: random.Random, members: list[Stock]) -> Holding:
    """A preview of `members`: B3's weights as of some days before, so they differ a little."""
    drifted = {s.acao: s.weight * math.exp(rng.gauss(0, 0.05)) for s in members}
    total = sum(drifted.values())
    return {s.acao: (s, round(100 * drifted[s.acao] / total, 3), s.qtd) for s in members}


def _previews(
    rng: random.Random,
    index: str,
    captured: list[date],
    portfolios: dict[date, Holding],
    rebalances: dict[date, tuple[list[str], list[str]]],
    spare: list[Stock],
) -> tuple[list[tuple], list[tuple], PreviewFacts, dict[date, OutcomeFacts]]:
    """carteira_previa and carteira_previa_mudancas rows, and what the report must say."""
    previa: list[tuple] = []
    mudancas: list[tuple] = []
    outcomes = {}
    for rebalance, (joining, leaving) in sorted(rebalances.items()):
        quadrimester = rebalance.strftime("%Y-%m")
        actual = portfolios[rebalance]
        stocks = {acao: held[0] for day in portfolios.values() for acao, held in day.items()}
        # the preview misses one name that entered and keeps one that left
        members = [actual[a][0] for a in actual if a != joining[0]] + [stocks[leaving[0]]]
        position = captured.index(rebalance)
        sessions = captured[max(0, position - 3) : position]
        for n, day in enumerate(sessions):
            last = n == len(sessions) - 1
            forecast = _forecast(rng, members)
            previa += _preview_rows(index, day, quadrimester, forecast, last, n)
            mudancas += _compare(index, day, "previa", quadrimester, day, portfolios[day], forecast)
            if last:
                mudancas += _compare(
                    index, day, "realizada", quadrimester, rebalance, forecast, actual
                )
                both = forecast.keys() & actual.keys()
                errors = [abs(round(actual[a][1] - forecast[a][1], 3)) for a in both]
                outcomes[rebalance] = OutcomeFacts(
                    session=day,
                    quadrimester=quadrimester,
                    missed={joining[0]: actual[joining[0]][1]},
                    extra={leaving[0]: forecast[leaving[0]][1]},
                    held=len(both),
                    mean_error=sum(errors) / len(errors),
                )
    # the next rebalance: two of today's smallest names leave, three new ones enter
    end = captured[-1]
    quadrimester = next_quadrimester(end)
    today = portfolios[end]
    ranked = sorted(today, key=lambda a: (today[a][1], a))
    leaving = {ranked[1], ranked[2]}
    joining = [spare.pop() for _ in range(3)]
    members = [today[a][0] for a in today if a not in leaving] + joining
    sessions = captured[-4:]
    forecast: Holding = {}
    for n, day in enumerate(sessions):
        forecast = _forecast(rng, members)
        previa += _preview_rows(index, day, quadrimester, forecast, False, 30 + n)
        mudancas += _compare(index, day, "previa", quadrimester, day, portfolios[day], forecast)
    moves = sorted(
        (
            (a, today[a][1], forecast[a][1], round(forecast[a][1] - today[a][1], 3))
            for a in today.keys() & forecast.keys()
            if round(forecast[a][1] - today[a][1], 3) != 0
        ),
        key=lambda move: (-abs(move[3]), move[0]),
    )
    facts = PreviewFacts(
        session=end,
        quadrimester=quadrimester,
        compared=end,
        sessions=sessions,
        names=len(forecast),
        entries={s.acao: forecast[s.acao][1] for s in joining},
        exits={a: today[a][1] for a in leaving},
        moves=moves[:10],
    )
    return previa, mudancas, facts, outcomes


def build(
    sessions: int = 60,
    tickers: int = 80,
    index: str = "IBOV",
    seed: int = 13,
    previews: bool = False,
) -> Synthetic:
    """The tables over `sessions` B3 sessions of about `tickers` constituents (with previews:
    those of the period's rebalances and of the next one)."""
    rng = random.Random(seed)
    period = _period(sessions)
    position = {day: i for i, day in enumerate(period)}
    rebalance_days = [
        day
        for i, day in enumerate(period)
        if i > 0 and day.month in REBALANCE_MONTHS and period[i - 1].month != day.month
    ]
    gap = period[sessions // 5 : sessions // 5 + 2]
    assert not set(gap) & set(rebalance_days)
    captured = [day for day in period if day not in gap]
    split = captured[len(captured) // 2]  # CSV imports before, API captures from here on
    delisting = captured[(len(captured) * 4) // 5]
    if delisting in rebalance_days:
        delisting = captured[captured.index(delisting) + 1]

    pool = _tickers(rng, tickers + 4 * (len(rebalance_days) + 1) + 1)
    members, spare = pool[:tickers], pool[tickers:]
    rebalances: dict[date, tuple[list[str], list[str]]] = {}
    other_exit: tuple[date, str] | None = None
    historico, concentracao, mudancas, header = [], [], [], []
    portfolios: dict[date, Holding] = {}
    previous: Holding = {}
    previous_day: date | None = None
    for day in captured:
        for stock in members:
            stock.weight *= math.exp(rng.gauss(0, 0.012))
        crossed = [
            r for r in rebalance_days if previous_day is not None and previous_day < r <= day
        ]
        if crossed:
            ranked = sorted(members, key=lambda s: s.weight)
            leaving = [ranked[0], ranked[3]]
            joining = [spare.pop() for _ in range(3)]
            members = [s for s in members if s not in leaving] + joining
            for stock in members:
                if stock not in joining and rng.random() < 0.7:
                    stock.qtd = int(stock.qtd * rng.uniform(0.9, 1.1))
            rebalances[crossed[-1]] = (
                sorted(s.acao for s in joining),
                sorted(s.acao for s in leaving),
            )
        if day == delisting:
            gone = sorted(members, key=lambda s: s.weight)[1]
            members = [s for s in members if s is not gone]
            other_exit = (day, gone.acao)
        weights = _weights(members)
        api = day >= split
        ordered = sorted(members, key=lambda s: (-weights[s.acao], s.acao))
        running = 0.0
        for ranking, stock in enumerate(ordered, 1):
            running += weights[stock.acao]
            historico.append(
                (
                    day,
                    stock.acao,
                    stock.empresa,
                    stock.tipo,
                    stock.classe,
                    stock.governanca,
                    stock.setor if api else None,
                    weights[stock.acao],
                    stock.qtd,
                    ranking,
                    round(min(running, 100.0), 3),
                    "api" if api else "csv",
                    index,
                    day.strftime("%Y-%m"),
                )
            )
        values = [weights[s.acao] for s in ordered]
        hhi = sum(w * w for w in values)
        by_sector: dict[str, float] = {}
        for stock in ordered:
            by_sector[stock.setor] = by_sector.get(stock.setor, 0.0) + weights[stock.acao]
        biggest = max(by_sector, key=lambda name: by_sector[name]) if api else None
        concentracao.append(
            (
                len(ordered),
                values[0],
                round(sum(values[:5]), 3),
                round(sum(values[:10]), 3),
                round(hhi, 6),
                round(10000 / hhi, 3),
                biggest,
                round(by_sector[biggest], 3) if biggest else None,
                index,
                day,
            )
        )
        if previous_day is not None:
            gap_sessions = position[day] - position[previous_day]
            crossing = crossed[-1] if crossed else None
            now = {s.acao: (s, weights[s.acao], s.qtd) for s in members}
            for acao in sorted(now.keys() | previous.keys()):
                old, new = previous.get(acao), now.get(acao)
                stock = (new or old)[0]
                if old is None:
                    kind = "entrada"
                elif new is None:
                    kind = "saida"
                elif new[2] != old[2]:
                    kind = "quantidade"
                elif new[1] != old[1]:
                    kind = "peso"
                else:
                    continue
                before, after = (old[1] if old else None), (new[1] if new else None)
                qtd_before, qtd_after = (old[2] if old else None), (new[2] if new else None)
                mudancas.append(
                    (
                        acao,
                        kind,
                        stock.empresa,
                        stock.setor if api else None,
                        before,
                        after,
                        round((after or 0.0) - (before or 0.0), 3),
                        qtd_before,
                        qtd_after,
                        round(100 * (qtd_after / qtd_before - 1), 4)
                        if qtd_before and qtd_after
                        else None,
                        previous_day,
                        gap_sessions,
                        crossing is not None,
                        crossing,
                        index,
                        day,
                    )
                )
        collected = None
        lag = None
        if api:
            # captured the evening of the session; a Monday's on the Saturday before, as B3
            # already serves Monday's portfolio then
            when = day - timedelta(days=2) if day.weekday() == 0 and day.day <= 7 else day
            collected = datetime.combine(when, time(21, rng.randrange(0, 50)), UTC)
            lag = (day - when).days
        header.append(
            (
                day,
                sum(s.qtd for s in members),
                round(rng.uniform(1e6, 3e6), 8),
                round(sum(values), 3),
                len(members),
                collected,
                lag,
                "api" if api else "csv",
                index,
                day,
            )
        )
        previous = {s.acao: (s, weights[s.acao], s.qtd) for s in members}
        portfolios[day] = previous
        previous_day = day

    previa: list[tuple] = []
    previa_mudancas: list[tuple] = []
    next_preview, outcomes = None, {}
    if previews:
        previa, previa_mudancas, next_preview, outcomes = _previews(
            rng, index, captured, portfolios, rebalances, spare
        )

    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    for name, rows in (
        ("carteira_historico", historico),
        ("carteira_concentracao", concentracao),
        ("carteira_mudancas", mudancas),
        ("carteira_header", header),
        ("carteira_previa", previa),
        ("carteira_previa_mudancas", previa_mudancas),
    ):
        connection.execute(f"CREATE TABLE {name} ({', '.join(map(' '.join, DDL[name]))})")
        columns = [column for column, _ in DDL[name]]
        arrow = pa.table({col: [row[i] for row in rows] for i, col in enumerate(columns)})
        connection.register("incoming", arrow)
        connection.execute(f"INSERT INTO {name} SELECT * FROM incoming")
        connection.unregister("incoming")
    assert other_exit is not None
    return Synthetic(
        connection=connection,
        index=index,
        sessions=period,
        captured=captured,
        gap=gap,
        csv_dates=[day for day in captured if day < split],
        api_dates=[day for day in captured if day >= split],
        rebalances=rebalances,
        other_exit=other_exit,
        rows=len(historico),
        next_preview=next_preview,
        outcomes=outcomes,
    )
