"""Deterministic sample B3 "GetPortfolioDay" responses for any index, and B3's list of indices.

The real B3 API is unreachable offline, so offline runs, tests and benchmarks use these fabricated
responses: same shape, pt-BR string formats and exact sums as the real thing, seeded per (index,
date), so the same call always returns the same object.

Which constituents an index has:

- IBOV comes from a hand-kept universe of about 95 stocks with sectors, weights and quantities
  (its output is kept stable: tests and benchmarks compare it).
- Every index named in the bundled GetStockIndex answer (`stock_index_sample.json`, a byte copy
  of B3's real answer of 2025-04-07: 537 listed companies, 34 index codes) takes its members from
  that answer: IBXX ~101, IBXL ~50, IBRA ~175, SMLL ~120, IDIV ~51, IFIX ~117 real-estate funds
  (HGLG11, KNRI11, type `CI`, no governance level), BDRX ~152 BDRs (AAPL34, type `DRN`), ...
  Names and types are B3's; weights, quantities and the reductor are made up.
- Any other valid code (`[A-Z][A-Z0-9]{2,9}`) gets a seeded subset (30 to 110) of the stocks.

Members change only at the Jan/May/Sep rebalances (a seeded few of the lightest leave and
outsiders of the same kind join); weights and quantities drift daily.

Segment 2 and sectors: an index is split by sector only when every member has a B3 sector
(stocks, and the sector-classified BDRs of Brazilian companies such as ROXO34). A fund index
(IFIX, IFIL) or the foreign BDR index (BDRX) is **not split**: its segment-2 answer is the same
as its segment-1 answer (every `segment` and `partAcum` null, header `partAcum` null, ordered by
asset name), which is how B3 answers for an index that has no sector grouping.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
import random
from typing import Any, NamedTuple

from b3_assets.source.index_list import bundled_stock_index, sample_index_list
from b3_assets.source.models import format_br_integer
from b3_contract.lake_keys import check_index

# sample_index_list: B3's 34 index codes for offline use, {code: companies}, from the bundled answer
__all__ = ["sample_index_list", "sample_portfolio", "sample_stock_index", "stock_index_bytes"]

_SECTORS = {
    "MT": "Bens Indls / Mat Transporte",
    "ME": "Bens Indls / Máqs e Equips",
    "TR": "Bens Indls/Transporte",
    "CO": "Consumo Cíclico / Comércio",
    "CC": "Consumo Cíclico / Construção Civil",
    "CD": "Consumo Cíclico / Diversos",
    "AL": "Cons N Cíclico / Alimentos Processados",
    "BE": "Cons N Cíclico / Bebidas",
    "CN": "Cons N Cíclico / Comércio e Distr",
    "IF": "Financ e Outros / Intermediários Financeiros",
    "SE": "Financ e Outros / Previdência e Seguros",
    "SF": "Financ e Outros / Serv Financeiros Diversos",
    "IM": "Financ e Outros / Exploração de Imóveis",
    "MI": "Mats Básicos / Mineração",
    "SI": "Mats Básicos / Siderurgia e Metalurgia",
    "MP": "Mats Básicos / Madeira e Papel",
    "QU": "Mats Básicos / Químicos",
    "PE": "Petróleo, Gás e Biocombustíveis",
    "SA": "Saúde",
    "CM": "Comunicações",
    "TI": "Tec Informação",
    "EE": "Utilidade Públ / Energ Elétrica",
    "AS": "Utilidade Públ / Água Saneamento",
}

# (ticker, asset, share class, governance, sector key, base weight in bp, theoretical qty in M)
_UNIVERSE = (
    ("PETR4", "PETROBRAS", "PN", "N2", "PE", 700, 4566),
    ("PETR3", "PETROBRAS", "ON", "N2", "PE", 420, 2420),
    ("PRIO3", "PETRORIO", "ON", "NM", "PE", 160, 830),
    ("VBBR3", "VIBRA", "ON", "NM", "PE", 110, 1110),
    ("UGPA3", "ULTRAPAR", "ON", "NM", "PE", 90, 1090),
    ("CSAN3", "COSAN", "ON", "NM", "PE", 40, 1170),
    ("RECV3", "PETRORECSA", "ON", "NM", "PE", 25, 290),
    ("BRAV3", "BRAVA", "ON", "NM", "PE", 22, 410),
    ("RAIZ4", "RAIZEN", "PN", "N2", "PE", 11, 1030),
    ("VALE3", "VALE", "ON", "NM", "MI", 1150, 4200),
    ("BRAP4", "BRADESPAR", "PN", "N1", "MI", 20, 250),
    ("CMIN3", "CSNMINERACAO", "ON", "N2", "MI", 15, 1100),
    ("ITUB4", "ITAUUNIBANCO", "PN", "N1", "IF", 850, 4800),
    ("BBDC4", "BRADESCO", "PN", "N1", "IF", 320, 5000),
    ("BBDC3", "BRADESCO", "ON", "N1", "IF", 80, 1200),
    ("BBAS3", "BRASIL", "ON", "NM", "IF", 270, 2800),
    ("ITSA4", "ITAUSA", "PN", "N1", "IF", 240, 5300),
    ("BPAC11", "BTGP BANCO", "UNT", "N2", "IF", 240, 1150),
    ("SANB11", "SANTANDER BR", "UNT", "", "IF", 70, 360),
    ("BPAN4", "BANCO PAN", "PN", "N1", "IF", 10, 340),
    ("BBSE3", "BBSEGURIDADE", "ON", "NM", "SE", 90, 1990),
    ("PSSA3", "PORTO SEGURO", "ON", "NM", "SE", 40, 320),
    ("CXSE3", "CAIXA SEGURI", "ON", "NM", "SE", 30, 900),
    ("IRBR3", "IRBBRASIL RE", "ON", "NM", "SE", 15, 110),
    ("B3SA3", "B3", "ON", "NM", "SF", 300, 5300),
    ("MULT3", "MULTIPLAN", "ON", "N2", "IM", 25, 280),
    ("ALOS3", "ALLOS", "ON", "NM", "IM", 25, 540),
    ("IGTI11", "IGUATEMI S.A", "UNT", "N1", "IM", 11, 180),
    ("ELET3", "ELETROBRAS", "ON", "N1", "EE", 290, 1900),
    ("ELET6", "ELETROBRAS", "PNB", "N1", "EE", 50, 250),
    ("EQTL3", "EQUATORIAL", "ON", "NM", "EE", 210, 1250),
    ("CPLE6", "COPEL", "PNB", "N2", "EE", 90, 1600),
    ("CMIG4", "CEMIG", "PN", "N1", "EE", 90, 1950),
    ("ENEV3", "ENEVA", "ON", "NM", "EE", 80, 1880),
    ("ENGI11", "ENERGISA", "UNT", "N2", "EE", 40, 360),
    ("EGIE3", "ENGIE BRASIL", "ON", "NM", "EE", 35, 400),
    ("TAEE11", "TAESA", "UNT", "N2", "EE", 25, 220),
    ("CPFE3", "CPFL ENERGIA", "ON", "NM", "EE", 20, 190),
    ("ISAE4", "ISA ENERGIA", "PN", "N1", "EE", 20, 400),
    ("AURE3", "AUREN", "ON", "NM", "EE", 12, 1000),
    ("SBSP3", "SABESP", "ON", "NM", "AS", 300, 680),
    ("SAPR11", "SANEPAR", "UNT", "N2", "AS", 20, 300),
    ("CSMG3", "COPASA", "ON", "NM", "AS", 11, 130),
    ("EMBR3", "EMBRAER", "ON", "NM", "MT", 260, 734),
    ("POMO4", "MARCOPOLO", "PN", "N2", "MT", 13, 700),
    ("WEGE3", "WEG", "ON", "NM", "ME", 260, 2200),
    ("MOTV3", "MOTIVA SA", "ON", "NM", "TR", 75, 1500),
    ("RAIL3", "RUMO S.A.", "ON", "NM", "TR", 70, 1850),
    ("STBP3", "SANTOS BRP", "ON", "NM", "TR", 12, 860),
    ("AZUL4", "AZUL", "PN", "N2", "TR", 10, 330),
    ("RENT3", "LOCALIZA", "ON", "NM", "CD", 160, 1050),
    ("SMFT3", "SMART FIT", "ON", "NM", "CD", 30, 580),
    ("COGN3", "COGNA ON", "ON", "NM", "CD", 20, 1800),
    ("YDUQ3", "YDUQS PART", "ON", "NM", "CD", 12, 280),
    ("VAMO3", "VAMOS", "ON", "NM", "CD", 10, 550),
    ("LREN3", "LOJAS RENNER", "ON", "NM", "CO", 70, 950),
    ("AZZA3", "AZZA", "ON", "NM", "CO", 25, 180),
    ("MGLU3", "MAGAZ LUIZA", "ON", "NM", "CO", 15, 700),
    ("VIVA3", "VIVARA S.A.", "ON", "NM", "CO", 11, 230),
    ("PETZ3", "PETZ", "ON", "NM", "CO", 10, 440),
    ("ALPA4", "ALPARGATAS", "PN", "N1", "CO", 10, 470),
    ("CYRE3", "CYRELA REALT", "ON", "NM", "CC", 40, 280),
    ("CURY3", "CURY S/A", "ON", "NM", "CC", 20, 290),
    ("DIRR3", "DIRECIONAL", "ON", "NM", "CC", 18, 340),
    ("MRVE3", "MRV", "ON", "NM", "CC", 15, 550),
    ("EZTC3", "EZTEC", "ON", "NM", "CC", 11, 210),
    ("ABEV3", "AMBEV S/A", "ON", "", "BE", 270, 4380),
    ("JBSS3", "JBS", "ON", "NM", "AL", 100, 1100),
    ("BRFS3", "BRF SA", "ON", "NM", "AL", 50, 1050),
    ("MRFG3", "MARFRIG", "ON", "NM", "AL", 25, 580),
    ("SMTO3", "SAO MARTINHO", "ON", "NM", "AL", 15, 170),
    ("SLCE3", "SLC AGRICOLA", "ON", "NM", "AL", 12, 420),
    ("BEEF3", "MINERVA", "ON", "NM", "AL", 10, 580),
    ("ASAI3", "ASSAI", "ON", "NM", "CN", 35, 1340),
    ("NATU3", "NATURA", "ON", "NM", "CN", 30, 1380),
    ("GMAT3", "GRUPO MATEUS", "ON", "NM", "CN", 12, 2200),
    ("CRFB3", "CARREFOUR BR", "ON", "NM", "CN", 11, 1200),
    ("PCAR3", "P.ACUCAR-CBD", "ON", "NM", "CN", 10, 480),
    ("GGBR4", "GERDAU", "PN", "N1", "SI", 80, 1150),
    ("GOAU4", "GERDAU MET", "PN", "N1", "SI", 25, 690),
    ("CSNA3", "SID NACIONAL", "ON", "", "SI", 25, 640),
    ("USIM5", "USIMINAS", "PNA", "N1", "SI", 12, 540),
    ("SUZB3", "SUZANO S.A.", "ON", "NM", "MP", 170, 780),
    ("KLBN11", "KLABIN S/A", "UNT", "N2", "MP", 60, 690),
    ("DXCO3", "DEXCO", "ON", "NM", "MP", 11, 320),
    ("BRKM5", "BRASKEM", "PNA", "N1", "QU", 12, 270),
    ("RDOR3", "REDE D OR", "ON", "NM", "SA", 120, 1250),
    ("RADL3", "RAIADROGASIL", "ON", "NM", "SA", 70, 1150),
    ("HAPV3", "HAPVIDA", "ON", "NM", "SA", 50, 750),
    ("HYPE3", "HYPERA", "ON", "NM", "SA", 25, 540),
    ("FLRY3", "FLEURY", "ON", "NM", "SA", 11, 420),
    ("VIVT3", "TELEF BRASIL", "ON", "", "CM", 120, 1130),
    ("TIMS3", "TIM", "ON", "NM", "CM", 80, 800),
    ("TOTS3", "TOTVS", "ON", "NM", "TI", 75, 580),
    ("LWSA3", "LOCAWEB", "ON", "NM", "TI", 10, 300),
)

# More B3 sectors, for the stocks of the bundled GetStockIndex answer outside the universe above.
_SECTORS.update(
    {
        "SV": "Bens Indls / Serviços",
        "CE": "Bens Indls / Constr e Engenh",
        "TV": "Consumo Cíclico / Tecid Vest Calç",
        "VL": "Consumo Cíclico / Viagens e Lazer",
        "HR": "Consumo Cíclico / Hotéis e Restaur",
        "UD": "Consumo Cíclico / Utilid Domésticas",
        "AG": "Cons N Cíclico / Agropecuária",
        "PP": "Cons N Cíclico / Pr Pessoal Limp",
    }
)
_MORE_SECTORS = {
    "AG": "TTEN3 SOJA3 AGRO3 LAND3",
    "AL": "CAML3 MDIA3 JALL3",
    "PP": "NTCO3",
    "CO": "ALLD3 BHIA3 SBFG3 AMAR3 MBLY3 ENJU3 LJQQ3 CGRA3 CGRA4 ALPA3 AMOB3",
    "TV": "CEAB3 GUAR3 GRND3 VULC3 VSTE3 TFCO4 TECN3 CEDO4 PTNT4",
    "UD": "UCAS3",
    "VL": "CVCB3",
    "HR": "MEAL3 ZAMP3",
    "CD": "ANIM3 CSED3 SEER3 BIED3 VTRU3 MOVI3",
    "CC": "AVLL3 EVEN3 GFSA3 HBOR3 JHSF3 LAVV3 MELK3 MTRE3 MDNE3 PLPL3 RDNI3 TCSA3 TEND3 TRIS3 "
    "VIVR3",
    "CE": "AZEV4 PTBL3 ETER3",
    "IM": "LOGG3 SYNE3 HBRE3 SCAR3 LPSB3",
    "IF": "ABCB4 BMGB4 BGIP3 BGIP4 BEES3 BEES4 BRSR3 BRSR6 BRBI11 PINE3 PINE4 BMEB3 BMEB4 ITUB3 "
    "ITSA3 ROXO34 INBR32",
    "SF": "ADMF3 REAG3 CSUD3 PAGS34 STOC34 XPBR31",
    "SE": "WIZC3",
    "SA": "AALR3 BLAU3 DASA3 PNVL3 DMVF3 MATD3 ONCO3 ODPV3 PGMN3 PFRM3 BIOM3 VVEO3 QUAL3 OFSA3",
    "EE": "ALUP11 AZTE3 CLSC3 CLSC4 CMIG3 COCE5 CPLE3 CPLE5 NEOE3 SRNA3 ISAE3 GEPA4",
    "AS": "ORVR3 AMBP3",
    "PE": "LUPA3 OPCT3",
    "MI": "BRAP3",
    "SI": "GGBR3 GOAU3 USIM3 FESA3 FESA4 CBAV3",
    "QU": "BRKM3 UNIP6 DEXP3 DEXP4 FHER3 VITT3",
    "MP": "RANI3 EUCA3 EUCA4",
    "MT": "FRAS3 MYPK3 POMO3 RAPT3 RAPT4 RCSL3 RCSL4 LEVE3 TUPY3",
    "ME": "AERI3 KEPL3 ROMI3 FRIO3 TASA3 TASA4 INEP3 INEP4",
    "SV": "ARML3 MILS3 PRNR3 GGPS3 ALPK3 VLID3",
    "TR": "CCRO3 ECOR3 HBSA3 JSLG3 LOGN3 SIMH3 TGMA3 TPIS3 PORT3",
    "TI": "BMOB3 DOTZ3 INTB3 CASH3 MLAS3 NGRD3 POSI3 TRAD3 LVTC3",
    "CM": "BRST3 DESK3 FIQE3 PDTC3 ELMD3",
}
# Base weights (same unit as the universe's) of the heaviest funds and BDRs; others are seeded.
_HEAVY = {
    "KNCR11": 240, "KNIP11": 190, "XPML11": 140, "HGLG11": 140, "BTLG11": 110, "MXRF11": 105,
    "KNRI11": 100, "HGRU11": 85, "VISC11": 75, "KNHY11": 75, "XPLG11": 73, "HGBS11": 62,
    "AAPL34": 900, "MSFT34": 850, "NVDC34": 800, "AMZO34": 600, "GOGL34": 420, "M1TA34": 380,
    "BERK34": 250, "TSLA34": 240, "AVGO34": 230, "JPMC34": 190, "LILY34": 180, "VISA34": 150,
    "MELI34": 140, "NFLX34": 110, "WALM34": 100, "EXXO34": 90, "MSCD34": 90, "COCA34": 70,
}  # fmt: skip

_FRINGE = tuple(sorted(_UNIVERSE, key=lambda row: (row[5], row[0]))[:17])
_CORE = tuple(row for row in _UNIVERSE if row not in _FRINGE)
_EX_FLAGS = ("ED", "EJ", "EDJ", "ES", "EX", "EB")
_TOTAL_THOUSANDTHS = 100_000  # 100,000% expressed in thousandths of a percent
_PAGE_SIZE = 120  # what the client asks; the envelope of a merged response says so


class _Row(NamedTuple):
    """One constituent, in the universe's tuple layout (so `row[5]` is the base weight)."""

    ticker: str
    asset: str
    share_class: str
    governance: str
    sector: str | None  # a _SECTORS key; None for funds and foreign BDRs (no B3 sector)
    weight: float  # base weight, relative within an index
    qty_millions: float  # base theoretical quantity, in millions
    indexes: frozenset[str] = frozenset()

    @property
    def kind(self) -> str:
        if self.share_class == "CI":
            return "fund"
        return "stock" if self.sector is not None else "bdr"


def _rng(*parts: object) -> random.Random:
    """Seed from SHA-256 because builtin hash() is salted per process."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _fmt_fixed(value: int, decimals: int) -> str:
    """Formats a non-negative count of 10**-decimals units as pt-BR ('15.438.607,05630450')."""
    whole, frac = divmod(value, 10**decimals)
    return f"{whole:,d}".replace(",", ".") + "," + str(frac).zfill(decimals)


stock_index_bytes = bundled_stock_index  # the bundled GetStockIndex answer, exact bytes


def sample_stock_index() -> dict[str, Any]:
    """The bundled GetStockIndex answer as a (fresh, mutable) object."""
    return json.loads(bundled_stock_index())


@functools.cache
def _listed() -> dict[str, _Row]:
    """Every company of the bundled answer as a row: B3's names and types, made-up numbers."""
    universe = {row[0]: row for row in _UNIVERSE}
    sectors = {t: key for key, tickers in _MORE_SECTORS.items() for t in tickers.split()}
    rows = {}
    for item in sample_stock_index()["results"]:
        ticker = item["code"]
        words = item["spotlight"].split()
        share_class, governance = words[0], " ".join(words[1:])
        indexes = frozenset(code for code in (item["indexes"] or "").split(",") if code)
        known = universe.get(ticker)
        seeded = _rng("listed", ticker)
        if known is not None:
            sector, weight, qty = known[4], known[5], known[6]
        elif share_class == "CI":
            sector, weight = None, _HEAVY.get(ticker) or seeded.lognormvariate(math.log(25), 0.6)
            qty = seeded.lognormvariate(math.log(25), 0.9)
        else:
            sector = sectors.get(ticker)  # None: a foreign BDR
            weight = _HEAVY.get(ticker) or seeded.lognormvariate(math.log(12), 0.9)
            qty = seeded.lognormvariate(math.log(150 if sector else 20), 0.9)
        rows[ticker] = _Row(
            ticker, item["company"], share_class, governance, sector, weight, qty, indexes
        )
    return rows


@functools.cache
def _base_members(index: str) -> tuple[_Row, ...]:
    """An index's members in the bundled answer, or a seeded subset of the stocks."""
    listed = _listed()
    members = tuple(row for ticker, row in sorted(listed.items()) if index in row.indexes)
    if members:
        return members
    stocks = [row for _, row in sorted(listed.items()) if row.kind == "stock"]
    rng = _rng(index, "universe")
    return tuple(sorted(rng.sample(stocks, rng.randint(30, 110))))


@functools.lru_cache(maxsize=1024)
def _members(year: int, quad: int, index: str) -> tuple[tuple, ...]:
    """Constituents only change at the Jan/May/Sep rebalances, like the real index."""
    rng = _rng(index, "members", year, quad)
    if index == "IBOV":
        return (*_CORE, *rng.sample(_FRINGE, rng.randint(4, 10)))
    base = _base_members(index)
    lightest = sorted(base, key=lambda row: (row.weight, row.ticker))[: len(base) // 3]
    leaving = set(rng.sample(lightest, rng.randint(0, len(base) // 30)))
    kind = max(("stock", "fund", "bdr"), key=[row.kind for row in base].count)
    outsiders = [row for row in _listed().values() if row.kind == kind and row not in base]
    joining = rng.sample(sorted(outsiders), min(len(outsiders), rng.randint(0, len(leaving))))
    return (*(row for row in base if row not in leaving), *joining)


@functools.lru_cache(maxsize=4096)
def _phase(ticker: str) -> tuple[float, float]:
    phase_rng = _rng("phase", ticker)
    return phase_rng.random(), phase_rng.uniform(45, 180)


def _weights(rows: tuple[tuple, ...], day: datetime.date, index: str) -> list[int]:
    """Drifted weights in thousandths of a percent summing to exactly 100,000."""
    daily = _rng(index, "weights", day.isoformat())
    ordinal = day.toordinal()
    raw = []
    for row in rows:
        phase, period = _phase(row[0])
        drift = 1 + 0.06 * math.sin(2 * math.pi * (ordinal / period + phase))
        raw.append(row[5] * drift * (1 + daily.gauss(0, 0.005)))
    total = sum(raw)
    exact = [w * _TOTAL_THOUSANDTHS / total for w in raw]
    parts = [max(1, int(x)) for x in exact]
    # Largest-remainder apportionment so the rounded parts add up exactly.
    by_remainder = sorted(range(len(rows)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    for i in by_remainder[: max(0, _TOTAL_THOUSANDTHS - sum(parts))]:
        parts[i] += 1
    parts[parts.index(max(parts))] -= sum(parts) - _TOTAL_THOUSANDTHS  # only if max(1, .) overshot
    return parts


@functools.lru_cache(maxsize=1024)
def _quad_factors(index: str, year: int, quad: int, tickers: tuple[str, ...]) -> tuple[float, ...]:
    """Quantities are reset per quadrimester."""
    return tuple(_rng(index, "qty", t, year, quad).uniform(0.95, 1.05) for t in tickers)


def _quantities(rows: tuple[tuple, ...], day: datetime.date, index: str, quad: int) -> list[int]:
    """The quadrimester's quantities, nudged slightly by daily corporate events."""
    daily = _rng(index, "qty", day.isoformat())
    factors = _quad_factors(index, day.year, quad, tuple(row[0] for row in rows))
    return [
        round(row[6] * 1_000_000 * factor * (1 + daily.uniform(-0.001, 0.001)))
        for row, factor in zip(rows, factors, strict=True)
    ]


def _type_field(share_class: str, ex_flag: str, governance: str) -> str:
    return (share_class.ljust(4) + ex_flag.ljust(4) + governance).rstrip()


def _reductor(index: str, day: datetime.date, quad: int) -> int:
    """The reductor in units of 10**-8: IBOV about 15.5 million, other indices their own level."""
    red_rng = _rng(index, "reductor", day.isoformat())
    if index == "IBOV":
        quad_base = _rng(index, "reductor", day.year, quad).uniform(15.2e6, 15.8e6)
    else:
        level = _rng(index, "reductor-level").uniform(10e6, 150e6)
        quad_base = level * _rng(index, "reductor", day.year, quad).uniform(0.97, 1.03)
    return round(quad_base * (1 + red_rng.uniform(-0.002, 0.002)) * 10**8)


def sample_portfolio(trading_date: datetime.date, segment: int = 2, index: str = "IBOV") -> dict:
    """Return a synthetic B3 GetPortfolioDay response of `index` for `trading_date`.

    segment=2 groups constituents by sector (with per-sector ``partAcum``) when the index is split
    by sector; segment=1, and segment 2 of an index with no sectors (funds, BDRs), list them flat
    by asset name with null sector fields, mirroring the real API views. The object is a whole
    response, as the client merges its pages: an index of more than 120 constituents says
    ``totalPages: 2`` (page size 120) and holds every result.
    """
    check_index(index)
    if segment not in (1, 2):
        raise ValueError(f"segment must be 1 or 2, got {segment!r}")
    if isinstance(trading_date, datetime.datetime):
        trading_date = trading_date.date()

    quad = (trading_date.month - 1) // 4
    rows = _members(trading_date.year, quad, index)
    parts = _weights(rows, trading_date, index)
    qtys = _quantities(rows, trading_date, index, quad)
    by_sector = segment == 2 and all(row[4] is not None for row in rows)

    ex_rng = _rng(index, "ex", trading_date.isoformat())
    ex_count = ex_rng.choice((0, 0, 1, 1, 2, 3))
    ex_flags = {i: ex_rng.choice(_EX_FLAGS) for i in ex_rng.sample(range(len(rows)), ex_count)}

    sector_totals: dict[str | None, int] = {}
    for row, part in zip(rows, parts, strict=True):
        sector_totals[row[4]] = sector_totals.get(row[4], 0) + part

    items = []
    for i, (ticker, asset, share_class, gov, sector, *_) in enumerate(rows):
        ex_flag = ex_flags.get(i, "")
        if ex_flag and share_class == "CI":
            ex_flag = "ER"  # a fund goes ex-rendimento, as in IFIX's "CI  ER"
        items.append(
            {
                "segment": _SECTORS[sector] if by_sector else None,
                "cod": ticker,
                "asset": asset,
                "type": _type_field(share_class, ex_flag, gov),
                "part": _fmt_fixed(parts[i], 3),
                "partAcum": _fmt_fixed(sector_totals[sector], 3) if by_sector else None,
                "theoricalQty": format_br_integer(qtys[i]),
            }
        )
    sort_field = "segment" if by_sector else "asset"
    items.sort(key=lambda item: (item[sort_field], item["cod"]))

    return {
        "page": {
            "pageNumber": 1,
            "pageSize": _PAGE_SIZE,
            "totalRecords": len(items),
            "totalPages": math.ceil(len(items) / _PAGE_SIZE),
        },
        "header": {
            "date": trading_date.strftime("%d/%m/%y"),
            "text": "Quantidade Teórica Total",
            "part": _fmt_fixed(_TOTAL_THOUSANDTHS, 3),
            "partAcum": _fmt_fixed(_TOTAL_THOUSANDTHS, 3) if by_sector else None,
            "textReductor": "Redutor",
            "reductor": _fmt_fixed(_reductor(index, trading_date, quad), 8),
            "theoricalQty": format_br_integer(sum(qtys)),
        },
        "results": items,
    }


def sample_csv(trading_date: datetime.date, index: str = "IBOV") -> bytes:
    """The sample portfolio as B3's "Carteira do Dia" download (IBOVDia_DD-MM-YY.csv): ISO-8859-1,
    `;`, a title line, a header line, a trailing `;` on each row and two footer lines."""
    response = sample_portfolio(trading_date, 1, index)
    header = response["header"]
    lines = [
        f"{index} - Carteira do Dia {trading_date:%d/%m/%y}",
        "Código;Ação;Tipo;Qtde. Teórica;Part. (%)",
        *(
            f"{row['cod']};{row['asset']};{row['type']};{row['theoricalQty']};{row['part']};"
            for row in response["results"]
        ),
        f"Quantidade Teórica Total;;;{header['theoricalQty']};{header['part']}",
        f"Redutor;;;{header['reductor']}",
    ]
    return ("\n".join(lines) + "\n").encode("iso-8859-1")


PREVIEW_WINDOW_SESSIONS = 15  # the sample publishes the preview on the last 15 sessions before


def sample_theoretical(day: datetime.date, kind: str = "preview", index: str = "IBOV") -> dict:
    """A synthetic GetQuartelyPreview ("preview") or GetTheoricalPortfolio ("theoretical") answer
    of `index` on session `day`, in B3's pt-BR strings and shape (header without a date, `cont`
    per row). The preview is published only in the last PREVIEW_WINDOW_SESSIONS sessions before
    a rebalance and lists the next quadrimester's members (the sample's own rotation, so it
    differs from today's portfolio); otherwise B3's empty answer. The theoretical portfolio is
    today's members, always served."""
    from b3_assets.source.trading_calendar import first_session, trading_days
    from b3_contract.previews import next_quadrimester, quadrimester_start

    check_index(index)
    if kind not in ("preview", "theoretical"):
        raise ValueError(f"kind must be 'preview' or 'theoretical', not {kind!r}")
    target = quadrimester_start(next_quadrimester(day))
    if kind == "preview":
        start = first_session(next_quadrimester(day)) or target
        window = trading_days(day, start)[:-1]
        if len(window) > PREVIEW_WINDOW_SESSIONS:
            return {
                "page": {"pageNumber": 1, "pageSize": 9999, "totalRecords": 0, "totalPages": 0},
                "header": None,
                "results": [],
            }
        year, quad = target.year, (target.month - 1) // 4
    else:
        year, quad = day.year, (day.month - 1) // 4
    rows = _members(year, quad, index)
    parts = _weights(rows, day, index)
    qtys = _quantities(rows, day, index, quad)
    cont = _rng(index, "cont", kind, day.isoformat())
    items = [
        {
            "cod": ticker,
            "asset": asset,
            "type": _type_field(share_class, "", gov),
            "theoricalQty": format_br_integer(qtys[i]),
            "part": _fmt_fixed(parts[i], 3),
            "cont": cont.randint(1, 3),
        }
        for i, (ticker, asset, share_class, gov, *_) in enumerate(rows)
    ]
    items.sort(key=lambda item: item["asset"])
    return {
        "page": {"pageNumber": 1, "pageSize": 9999, "totalRecords": len(items), "totalPages": 1},
        "header": {
            "part": _fmt_fixed(_TOTAL_THOUSANDTHS, 3),
            "theoricalQty": format_br_integer(sum(qtys)),
            "reductor": _fmt_fixed(_reductor(index, day, quad), 8),
        },
        "results": items,
    }
