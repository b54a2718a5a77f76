"""What the sensors decide, without Dagster or boto3: which lake objects and Glue runs are new,
and which dates a Glue run refined."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from lambda_fn.handler import ACTIVE_STATES, raw_key_date  # the Lambda's rules, defined once

T = TypeVar("T")
TERMINAL_STATES = {"SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"}

__all__ = [
    "ACTIVE_STATES",
    "TERMINAL_STATES",
    "Watermark",
    "glue_run_dates",
    "raw_key_date",
    "started_by_dagster",
]


@dataclass(frozen=True)
class Watermark:
    """A sensor cursor: everything up to `since` was handled, plus the ids handled at exactly
    `since`. Compact whatever the history, and safe across restarts: items are selected by the
    moment they appeared, not by their position in a listing."""

    since: datetime | None = None
    ids: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, cursor: str | None) -> Watermark:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
            since = datetime.fromisoformat(data["since"]) if data.get("since") else None
            return cls(since, frozenset(data.get("ids", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable sensor cursor {cursor!r}: {exc}") from None

    def serialize(self) -> str:
        since = self.since.isoformat() if self.since else None
        return json.dumps({"since": since, "ids": sorted(self.ids)})

    def select(
        self, items: Iterable[T], moment: Callable[[T], datetime], ident: Callable[[T], str]
    ) -> tuple[list[T], Watermark]:
        """The items not handled yet (oldest first) and the watermark once they are."""
        fresh = [
            item
            for item in items
            if self.since is None
            or moment(item) > self.since
            or (moment(item) == self.since and ident(item) not in self.ids)
        ]
        fresh.sort(key=lambda item: (moment(item), ident(item)))
        if not fresh:
            return [], self
        newest = moment(fresh[-1])
        at_newest = {ident(item) for item in fresh if moment(item) == newest}
        if newest == self.since:
            at_newest |= self.ids
        return fresh, Watermark(newest, frozenset(at_newest))


def started_by_dagster(job_run: dict[str, Any]) -> bool:
    """A run launched through Dagster Pipes, which records its own materializations."""
    return any(key.startswith("--dagster-pipes") for key in job_run.get("Arguments") or {})


def glue_run_dates(job_run: dict[str, Any]) -> list[date]:
    """The trading dates a refine job run was given in --dates; ValueError names a bad one."""
    text = str((job_run.get("Arguments") or {}).get("--dates", ""))
    dates = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        try:
            dates.append(date.fromisoformat(part))
        except ValueError:
            raise ValueError(
                f"job run {job_run.get('Id')} has a bad --dates entry {part!r}"
            ) from None
    if not dates:
        raise ValueError(f"job run {job_run.get('Id')} has no --dates argument")
    return sorted(set(dates))


def runs_refining(
    job_runs: Iterable[dict[str, Any]], dates: Iterable[date], bucket: str
) -> dict[str, list[date]]:
    """Active runs of the job that write any of `dates` in `bucket`: {run id: those dates}.

    Two runs of one date at once would interleave their partition writes on S3, so a new run
    must wait for these (the Lambda checks the same before it starts one).
    """
    wanted, busy = set(dates), {}
    for job_run in job_runs:
        arguments = job_run.get("Arguments") or {}
        if job_run.get("JobRunState") not in ACTIVE_STATES or arguments.get("--bucket") != bucket:
            continue
        try:
            overlap = sorted(wanted.intersection(glue_run_dates(job_run)))
        except ValueError:
            continue
        if overlap:
            busy[job_run["Id"]] = overlap
    return busy
