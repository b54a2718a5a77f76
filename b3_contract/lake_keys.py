"""The lake's keys: one (index, trading date) is one unit of data, and every key carries both.

  raw/INDEX/YYYY-MM-DD/dados_originais.parquet         the refine's input, one per (index, date)
  refined/TABLE/indice=INDEX/data=YYYY-MM-DD/...        the refined partitions of that unit
  previa/raw/INDEX/YYYY-MM-DD/dados_originais.parquet  the preview refine's input, one per
                                                        (index, capture session)

The refine reads exactly the raw object, so exactly that key starts a refine: the Lambda, the raw/
sensor and the refine job all ask `raw_key_unit`, and any other object under raw/ (a stray
upload, a temporary file, a key of the earlier IBOV-only layout) is ignored by all three alike.
A preview's object lives outside raw/ (`preview_key_unit`), so it never starts the daily refine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

RAW_PREFIX = "raw/"
PREVIEW_RAW_PREFIX = "previa/raw/"
RAW_FILE = "dados_originais.parquet"
INDEX_CODE = re.compile(r"[A-Z][A-Z0-9]{2,9}")
_UNIT_PATH = r"([A-Z][A-Z0-9]{2,9})/(\d{4}-\d{2}-\d{2})/" + re.escape(RAW_FILE)
_RAW_KEY = re.compile(re.escape(RAW_PREFIX) + _UNIT_PATH)
_PREVIEW_KEY = re.compile(re.escape(PREVIEW_RAW_PREFIX) + _UNIT_PATH)
# The earlier layout (IBOV only, no index in the key): what the upgrade moves.
LEGACY_RAW_KEY = re.compile(r"raw/(\d{4}-\d{2}-\d{2})/" + re.escape(RAW_FILE))


class IndexCodeError(ValueError):
    """Not a B3 index code (IBOV, IBXX, SMLL, ...)."""


def check_index(code: str) -> str:
    """The code as B3 writes it; anything else is refused by name (it becomes a key and a path)."""
    if not isinstance(code, str) or not INDEX_CODE.fullmatch(code):
        raise IndexCodeError(
            f"{code!r} is not a B3 index code (3 to 10 capitals and digits, like IBOV or SMLL)"
        )
    return code


@dataclass(frozen=True, order=True)
class Unit:
    """One index's portfolio on one trading date: the grain of every layer."""

    index: str
    day: date

    def __post_init__(self) -> None:
        check_index(self.index)

    def __str__(self) -> str:
        return f"{self.index}/{self.day.isoformat()}"

    @classmethod
    def parse(cls, text: str) -> Unit:
        """'IBOV/2025-07-14' -> Unit; anything else raises ValueError naming the text."""
        index, _, day = text.strip().partition("/")
        try:
            return cls(check_index(index), date.fromisoformat(day))
        except ValueError:
            raise ValueError(f"{text!r} is not INDEX/YYYY-MM-DD (like IBOV/2025-07-14)") from None


def raw_object_key(unit: Unit) -> str:
    """The key of a unit's raw object (the bronze file, as the refine's input)."""
    return f"{RAW_PREFIX}{unit.index}/{unit.day.isoformat()}/{RAW_FILE}"


def raw_key_unit(key: str) -> Unit | None:
    """The (index, date) of a raw object key, or None for any other key."""
    return _key_unit(_RAW_KEY, key)


def preview_object_key(unit: Unit) -> str:
    """The key of a preview unit's object (index, capture session): the preview refine's input."""
    return f"{PREVIEW_RAW_PREFIX}{unit.index}/{unit.day.isoformat()}/{RAW_FILE}"


def preview_key_unit(key: str) -> Unit | None:
    """The (index, capture session) of a preview object key, or None for any other key."""
    return _key_unit(_PREVIEW_KEY, key)


def _key_unit(pattern: re.Pattern[str], key: str) -> Unit | None:
    match = pattern.fullmatch(key)
    if match is None:
        return None
    try:
        return Unit(match.group(1), date.fromisoformat(match.group(2)))
    except ValueError:  # 2025-02-30 has the shape but is not a date
        return None


def partition_prefix(table_prefix: str, unit: Unit) -> str:
    """Where a refined table keeps one unit: every file under it belongs to that unit only."""
    return f"{table_prefix}/indice={unit.index}/data={unit.day.isoformat()}/"


def by_index(units: Iterable[Unit]) -> dict[str, list[date]]:
    """Sorted dates per index, indices in order."""
    grouped: dict[str, list[date]] = {}
    for unit in sorted(set(units)):
        grouped.setdefault(unit.index, []).append(unit.day)
    return grouped


@dataclass(frozen=True, order=True)
class Month:
    """One index's month ('2025-07'): the grain of carteira_historico's files."""

    index: str
    month: str

    def __str__(self) -> str:
        return f"{self.index}/{self.month}"

    @classmethod
    def of(cls, unit: Unit) -> Month:
        return cls(unit.index, unit.day.strftime("%Y-%m"))


def month_prefix(table_prefix: str, month: Month) -> str:
    """Where a month-partitioned table keeps one index's month."""
    return f"{table_prefix}/indice={month.index}/mes={month.month}/"
