"""The refine job's runs as the Glue API returns them (`get_job_runs`): which are active, which
(index, date) units each covers (its `--units` argument), and which are refining a given unit.

Two runs of one unit at once would interleave their partition writes, so the Lambda (before it
starts a run for new raw objects) and Dagster (before it launches a refine) ask the same
`runs_refining`, over every page of the job's runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from b3_contract.lake_keys import Unit

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


UNITS_ARGUMENT = "--units"


def units_argument(units: Iterable[Unit]) -> str:
    """The job's `--units` value: 'IBOV/2025-07-14,IBXX/2025-07-14', sorted, no repeats."""
    return ",".join(str(unit) for unit in sorted(set(units)))


def parse_units(text: str) -> list[Unit]:
    """The units of a `--units` value; ValueError names a bad entry."""
    units = {Unit.parse(part) for part in (piece.strip() for piece in text.split(",")) if part}
    if not units:
        raise ValueError("no INDEX/YYYY-MM-DD units given")
    return sorted(units)


def glue_run_units(job_run: dict[str, Any]) -> list[Unit]:
    """The units a refine job run was given; ValueError names a bad or missing argument."""
    text = str((job_run.get("Arguments") or {}).get(UNITS_ARGUMENT, ""))
    try:
        return parse_units(text)
    except ValueError as exc:
        raise ValueError(f"job run {job_run.get('Id')}: {UNITS_ARGUMENT} {exc}") from None


def started_by_dagster(job_run: dict[str, Any]) -> bool:
    """A run launched through Dagster Pipes, which records its own materializations."""
    return any(key.startswith("--dagster-pipes") for key in job_run.get("Arguments") or {})


def runs_refining(
    runs: Iterable[dict[str, Any]],
    units: Iterable[Unit],
    bucket: str,
    started_since: datetime | None = None,
) -> dict[str, list[Unit]]:
    """Active runs that write any of `units` in `bucket`: {run id: those units}.

    With `started_since`, a run that started before that moment does not count: it read the raw
    object as it was then (the Lambda passes the time of the S3 event it handles).
    """
    wanted, busy = set(units), {}
    for job_run in runs:
        arguments = job_run.get("Arguments") or {}
        if job_run.get("JobRunState") not in ACTIVE_STATES or arguments.get("--bucket") != bucket:
            continue
        started = job_run.get("StartedOn")
        if started_since is not None and (started is None or started < started_since):
            continue
        try:
            overlap = sorted(wanted.intersection(glue_run_units(job_run)))
        except ValueError:
            continue
        if overlap:
            busy[job_run["Id"]] = overlap
    return busy
