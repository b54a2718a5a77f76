"""Which indices the definitions hold: the configured ones (B3_INDICES) and every index already in
the data dir, so that history imported for any index shows in the UI after a reload."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from b3_assets.settings import Settings
from b3_contract.lake_keys import INDEX_CODE, check_index


def held_indices(data_dir: Path) -> set[str]:
    """Index folders under raw/, bronze/ and the local lake's raw/ (a listing, no file read)."""
    found = set()
    for layer in (data_dir / "raw", data_dir / "bronze", data_dir / "lake" / "raw"):
        if layer.is_dir():
            found |= {
                p.name for p in layer.iterdir() if p.is_dir() and INDEX_CODE.fullmatch(p.name)
            }
    return found


def indices_for(settings: Settings, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The configured indices first (in their order), then the others held or asked for."""
    configured = list(settings.index_codes)
    others = (held_indices(settings.data_path) | {check_index(code) for code in extra}) - set(
        configured
    )
    return (*configured, *sorted(others))
