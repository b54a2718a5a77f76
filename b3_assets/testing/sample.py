"""Deterministic sample B3 "GetPortfolioDay" responses for IBOVESPA.

The real B3 API is unreachable offline, so offline runs and benchmarks use these fabricated
responses: same shape, pt-BR string formats and exact sums as the real thing, seeded per date.
"""

import datetime
import hashlib
import math
import random
from decimal import Decimal

from b3_assets.source.models import format_br_decimal, format_br_integer

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

# The smallest names rotate in and out of the index at each quadrimester rebalance.
_FRINGE = tuple(sorted(_UNIVERSE, key=lambda row: (row[5], row[0]))[:17])
_CORE = tuple(row for row in _UNIVERSE if row not in _FRINGE)
_EX_FLAGS = ("ED", "EJ", "EDJ", "ES", "EX", "EB")
_TOTAL_THOUSANDTHS = 100_000  # 100,000% expressed in thousandths of a percent


def _rng(*parts: object) -> random.Random:
    """Seed from SHA-256 because builtin hash() is salted per process."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _fmt_fixed(value: int, decimals: int) -> str:
    """Formats an integer count of 10**-decimals units exactly (no float on the way)."""
    return format_br_decimal(Decimal(value).scaleb(-decimals), decimals)


def _members(year: int, quad: int, index: str) -> list[tuple]:
    """Constituents only change at the Jan/May/Sep rebalances, like the real index."""
    rng = _rng(index, "members", year, quad)
    return list(_CORE) + rng.sample(_FRINGE, rng.randint(4, 10))


def _weights(rows: list[tuple], day: datetime.date, index: str) -> list[int]:
    """Drifted weights in thousandths of a percent summing to exactly 100,000."""
    daily = _rng(index, "weights", day.isoformat())
    raw = []
    for row in rows:
        phase_rng = _rng("phase", row[0])
        phase, period = phase_rng.random(), phase_rng.uniform(45, 180)
        drift = 1 + 0.06 * math.sin(2 * math.pi * (day.toordinal() / period + phase))
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


def _quantities(rows: list[tuple], day: datetime.date, index: str, quad: int) -> list[int]:
    """Quantities are reset per quadrimester and nudged slightly by daily corporate events."""
    daily = _rng(index, "qty", day.isoformat())
    out = []
    for row in rows:
        quad_factor = _rng(index, "qty", row[0], day.year, quad).uniform(0.95, 1.05)
        out.append(round(row[6] * 1_000_000 * quad_factor * (1 + daily.uniform(-0.001, 0.001))))
    return out


def _type_field(share_class: str, ex_flag: str, governance: str) -> str:
    return (share_class.ljust(4) + ex_flag.ljust(4) + governance).rstrip()


def sample_portfolio(trading_date: datetime.date, segment: int = 2, index: str = "IBOV") -> dict:
    """Return a synthetic B3 GetPortfolioDay response for ``trading_date``.

    segment=2 groups constituents by sector (with per-sector ``partAcum``); segment=1 lists
    them flat by asset name with null sector fields, mirroring the two real API views.
    """
    if index != "IBOV":
        raise ValueError(f"sample data exists only for IBOV, not {index!r}")
    if segment not in (1, 2):
        raise ValueError(f"segment must be 1 or 2, got {segment!r}")
    if isinstance(trading_date, datetime.datetime):
        trading_date = trading_date.date()

    quad = (trading_date.month - 1) // 4
    rows = _members(trading_date.year, quad, index)
    parts = _weights(rows, trading_date, index)
    qtys = _quantities(rows, trading_date, index, quad)

    ex_rng = _rng(index, "ex", trading_date.isoformat())
    ex_count = ex_rng.choice((0, 0, 1, 1, 2, 3))
    ex_flags = {i: ex_rng.choice(_EX_FLAGS) for i in ex_rng.sample(range(len(rows)), ex_count)}

    sector_totals: dict[str, int] = {}
    for row, part in zip(rows, parts, strict=True):
        sector_totals[row[4]] = sector_totals.get(row[4], 0) + part

    items = []
    for i, (ticker, asset, share_class, gov, sector, _, _) in enumerate(rows):
        items.append(
            {
                "segment": _SECTORS[sector] if segment == 2 else None,
                "cod": ticker,
                "asset": asset,
                "type": _type_field(share_class, ex_flags.get(i, ""), gov),
                "part": _fmt_fixed(parts[i], 3),
                "partAcum": _fmt_fixed(sector_totals[sector], 3) if segment == 2 else None,
                "theoricalQty": format_br_integer(qtys[i]),
            }
        )
    sort_field = "segment" if segment == 2 else "asset"
    items.sort(key=lambda item: (item[sort_field], item["cod"]))

    red_rng = _rng(index, "reductor", trading_date.isoformat())
    quad_base = _rng(index, "reductor", trading_date.year, quad).uniform(15.2e6, 15.8e6)
    reductor = round(quad_base * (1 + red_rng.uniform(-0.002, 0.002)) * 10**8)

    return {
        "page": {"pageNumber": 1, "pageSize": 120, "totalRecords": len(items), "totalPages": 1},
        "header": {
            "date": trading_date.strftime("%d/%m/%y"),
            "text": "Quantidade Teórica Total",
            "part": _fmt_fixed(_TOTAL_THOUSANDTHS, 3),
            "partAcum": _fmt_fixed(_TOTAL_THOUSANDTHS, 3) if segment == 2 else None,
            "textReductor": "Redutor",
            "reductor": _fmt_fixed(reductor, 8),
            "theoricalQty": format_br_integer(sum(qtys)),
        },
        "results": items,
    }
