"""The refine job's runs as the Glue API returns them (`get_job_runs`): which are active, which
dates each covers, and which are refining a given date now.

Two runs of one date at once would interleave their partition writes, so the Lambda (before it
starts a run for a new raw object) and Dagster (before it launches a refine) ask the same
`runs_refining`, over every page of the job's runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

ACTIVE_STATES = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED", "ERROR"})


def job_runs(glue: Any, job_name: str, page_size: int = 200) -> Iterator[dict[str, Any]]:
    """Every run of the job, page after page (Glue returns at most `page_size` per call)."""
    token = None
    while True:
        request: dict[str, Any] = {"JobName": job_name, "MaxResults": page_size}
        if token:
            request["NextToken"] = token
        page = glue.get_job_runs(**request)
        yield from page.get("JobRuns", [])
        token = page.get("NextToken")
        if not token:
            return


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


def started_by_dagster(job_run: dict[str, Any]) -> bool:
    """A run launched through Dagster Pipes, which records its own materializations."""
    return any(key.startswith("--dagster-pipes") for key in job_run.get("Arguments") or {})


def runs_refining(
    runs: Iterable[dict[str, Any]],
    dates: Iterable[date],
    bucket: str,
    started_since: datetime | None = None,
) -> dict[str, list[date]]:
    """Active runs that write any of `dates` in `bucket`: {run id: those dates}.

    With `started_since`, a run that started before that moment does not count: it read the raw
    object as it was then (the Lambda passes the time of the S3 event it handles).
    """
    wanted, busy = set(dates), {}
    for job_run in runs:
        arguments = job_run.get("Arguments") or {}
        if job_run.get("JobRunState") not in ACTIVE_STATES or arguments.get("--bucket") != bucket:
            continue
        started = job_run.get("StartedOn")
        if started_since is not None and (started is None or started < started_since):
            continue
        try:
            overlap = sorted(wanted.intersection(glue_run_dates(job_run)))
        except ValueError:
            continue
        if overlap:
            busy[job_run["Id"]] = overlap
    return busy
