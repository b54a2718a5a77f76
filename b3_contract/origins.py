"""Where a unit's data came from: the `origin` of a capture record, the bronze file's `_origin`
and every refined table's `origem` (the refine SQL passes it through). Said once, here, for the
capture layer and the table contract alike.

The offline sample (`b3 run --offline`, the bundled generator of realistic responses) is invented
data: it has its own origin so that it is never counted, shown or kept as B3's. B3's own data
(an API capture or a CSV import) replaces a sample unit without being asked; a sample never
replaces B3's data.
"""

from __future__ import annotations

API, CSV, SAMPLE = "api", "csv", "amostra"

ORIGINS: dict[str, str] = {
    API: "captured from B3's API",
    CSV: "imported from one of B3's CSV downloads",
    SAMPLE: "the offline sample of `b3 run --offline`: invented data, not B3's",
}
"""Every origin, with what it means (the contract's column descriptions are made from it)."""

TIMED = (API, SAMPLE)
"""The origins whose capture time is known: B3's answer and the sample carry it, a CSV download
says nothing of when it was downloaded."""

SAMPLE_SOURCE = "offline-sample:"
"""How the source URL of an offline sample starts (`offline-sample:GetPortfolioDay/IBOV/...`)."""


def recorded_origin(origin: str, source_url: str) -> str:
    """A capture record's origin as read now. Versions before `amostra` recorded the offline
    sample as `api`; its source URL still says what it is."""
    return SAMPLE if origin == API and source_url.startswith(SAMPLE_SOURCE) else origin


def replaces(new: str, held: str) -> bool:
    """Whether data of origin `new` replaces a held unit of origin `held` without `--replace`:
    B3's data (api or csv) replaces the offline sample, and nothing else is replaced unasked."""
    return held == SAMPLE and new != SAMPLE
