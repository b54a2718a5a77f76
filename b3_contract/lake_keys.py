"""The lake's raw objects: `raw/YYYY-MM-DD/dados_originais.parquet`, one per trading date.

The refine reads exactly that object, so exactly that key starts a refine: the Lambda, the raw/
sensor and the refine job all ask `raw_key_date`, and any other object under raw/ (a stray
upload, a temporary file) is ignored by all three alike.
"""

from __future__ import annotations

import re
from datetime import date

RAW_PREFIX = "raw/"
RAW_FILE = "dados_originais.parquet"
_RAW_KEY = re.compile(r"raw/(\d{4}-\d{2}-\d{2})/" + re.escape(RAW_FILE))


def raw_object_key(day: date) -> str:
    """The key of a trading date's raw object (the bronze file, as the refine's input)."""
    return f"{RAW_PREFIX}{day.isoformat()}/{RAW_FILE}"


def raw_key_date(key: str) -> date | None:
    """The trading date of a raw object key, or None for any other key."""
    match = _RAW_KEY.fullmatch(key)
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:  # 2025-02-30 has the shape but is not a date
        return None
