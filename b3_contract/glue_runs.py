"""The refine job's runs as the Glue API returns them (`get_job_runs`): which are active, which
(index, date) units each covers (its `--units` argument), what each refines (its `--refine`
argument: the daily tables, or the preview's), and which are refining a given unit.

Two runs of one unit and one kind at once would interleave their partition writes, so the Lambda
(before it starts a run for new objects) and Dagster (before it launches a refine) ask the same
`runs_refining`, over every page of the job's runs. A daily run and a preview run of the same
(index, date) write different tables, so they never block each other.

Two daily runs of different units race too when their analytics rewrite the same partitions
(b3_contract.analytics.plan_analytics): carteira_historico is one file per index and month, and a
unit rewrites the carteira_mudancas of its index's next captured session, reading that session's
rows. `clashes` is that rule, from the runs' `--units` alone, and `runs_clashing` applies it to
the active runs; both launchers ask it before they start a run.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from b3_contract.lake_keys import Month, Unit
from b3_contract.sessions import CalendarEndError, sessions_between

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
REFINE_ARGUMENT = "--refine"
DAILY, PREVIEWS = "daily", "previews"
REFINE_MODES = (DAILY, PREVIEWS)
"""`--refine daily` (the default, also when the argument is absent: runs started before it
existed): raw/ objects -> the daily portfolio's tables. `--refine previews`: previa/raw/ objects
-> carteira_previa and carteira_previa_mudancas, never a daily table."""


def units_argument(units: Iterable[Unit]) -> str:
    """The job's `--units` value: 'IBOV/2025-07-14,IBXX/2025-07-14', sorted, no repeats."""
    return ",".join(str(unit) for unit in sorted(set(units)))


def parse_units(text: str) -> list[Unit]:
    """The units of a `--units` value; ValueError names a bad entry."""
    units = {Unit.parse(part) for part in (piece.strip() for piece in text.split(",")) if part}
    if not units:
        raise ValueError("no INDEX/YYYY-MM-DD units given")
    return sorted(units)


def check_mode(mode: str) -> str:
    """The mode if the job knows it; ValueError names it and the known ones."""
    if mode not in REFINE_MODES:
        raise ValueError(f"{REFINE_ARGUMENT} {mode!r} is not one of {', '.join(REFINE_MODES)}")
    return mode


def run_arguments(units: Iterable[Unit], bucket: str, mode: str = DAILY) -> dict[str, str]:
    """The arguments of a run that refines `units` of `bucket` in `mode` (the job's defaults
    give the rest): what the Lambda and Dagster both start."""
    return {
        UNITS_ARGUMENT: units_argument(units),
        "--bucket": bucket,
        REFINE_ARGUMENT: check_mode(mode),
    }


def glue_run_mode(job_run: dict[str, Any]) -> str:
    """What a run refines (DAILY or PREVIEWS); ValueError names an unknown `--refine`."""
    mode = str((job_run.get("Arguments") or {}).get(REFINE_ARGUMENT) or DAILY)
    try:
        return check_mode(mode)
    except ValueError as exc:
        raise ValueError(f"job run {job_run.get('Id')}: {exc}") from None


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
    mode: str = DAILY,
) -> dict[str, list[Unit]]:
    """Active runs of `mode` that write any of `units` in `bucket`: {run id: those units}.

    With `started_since`, a run that started before that moment does not count: it read the raw
    object as it was then (the Lambda passes the time of the S3 event it handles). A run of the
    other mode writes other tables: it does not count either.
    """
    wanted, busy = set(units), {}
    for job_run, theirs in _active_runs(runs, bucket, mode):
        started = job_run.get("StartedOn")
        if started_since is not None and (started is None or started < started_since):
            continue
        overlap = sorted(wanted.intersection(theirs))
        if overlap:
            busy[job_run["Id"]] = overlap
    return busy


def _active_runs(
    runs: Iterable[dict[str, Any]], bucket: str, mode: str
) -> Iterator[tuple[dict[str, Any], list[Unit]]]:
    """(run, its units) of the active runs of `mode` in `bucket`; a run whose arguments are not
    the job's (no units, another mode) is not one of them."""
    check_mode(mode)
    for job_run in runs:
        arguments = job_run.get("Arguments") or {}
        if job_run.get("JobRunState") not in ACTIVE_STATES or arguments.get("--bucket") != bucket:
            continue
        try:
            if glue_run_mode(job_run) != mode:
                continue
            theirs = glue_run_units(job_run)
        except ValueError:
            continue
        yield job_run, theirs


SAME_UNIT = "the same unit"


def _no_session_between(first: date, last: date) -> bool:
    """Whether B3 holds no session strictly between two days (a day past the shipped calendar
    counts as none: unknown means they may be neighbours)."""
    low, high = min(first, last), max(first, last)
    if (high - low).days <= 1:
        return True
    try:
        return not sessions_between(low + timedelta(days=1), high - timedelta(days=1))
    except CalendarEndError:
        return True


def clashes(mine: Iterable[Unit], theirs: Iterable[Unit]) -> dict[Unit, str]:
    """My units that a daily run of `theirs` races with, each with the reason: {unit: why}.

    From the units alone, what plan_analytics rewrites: a unit's own partitions, its month's
    carteira_historico file (whole), and the carteira_mudancas of the next captured session,
    read from that session's rows. So two units of one index clash when they are the same, share
    a month, or have no B3 session between them (one is the other's next session, so one run
    rewrites the other's change list while the other rewrites its rows). Units with an
    uncaptured session between them are not seen as neighbours: the launchers cannot list the
    lake, and in daily use every session is captured (docs/automation.md, Limits).
    """
    units, months, days = set(), set(), {}
    for unit in theirs:
        units.add(unit)
        months.add(Month.of(unit))
        days.setdefault(unit.index, set()).add(unit.day)
    ordered = {index: sorted(found) for index, found in days.items()}
    found: dict[Unit, str] = {}
    for unit in sorted(set(mine)):
        if unit in units:
            found[unit] = SAME_UNIT
            continue
        month = Month.of(unit)
        if month in months:
            found[unit] = f"month {month} of carteira_historico"
            continue
        near = ordered.get(unit.index, [])
        at = bisect_left(near, unit.day)
        for other in near[max(at - 1, 0) : at + 1]:
            if _no_session_between(unit.day, other):
                found[unit] = f"next session {unit.index}/{other}: carteira_mudancas"
                break
    return found


def runs_clashing(
    runs: Iterable[dict[str, Any]], units: Iterable[Unit], bucket: str, mode: str = DAILY
) -> dict[str, dict[Unit, str]]:
    """Active runs of `mode` in `bucket` that a run of `units` must not run beside:
    {run id: {my unit: why}}, whenever they started (one that began before a new object was
    written still writes the partitions). Daily runs clash by `clashes`; preview runs write one
    partition per unit and the change lists of their own plan, so they clash on the same unit."""
    wanted, busy = set(units), {}
    for job_run, theirs in _active_runs(runs, bucket, mode):
        if mode == DAILY:
            found = clashes(wanted, theirs)
        else:
            found = {unit: SAME_UNIT for unit in sorted(wanted.intersection(theirs))}
        if found:
            busy[job_run["Id"]] = found
    return busy


def describe_clashes(busy: dict[str, dict[Unit, str]]) -> str:
    """'jr_1 (IBOV/2025-07-14: month IBOV/2025-07 of carteira_historico); jr_2 (...)'."""
    return "; ".join(
        f"{run_id} ({', '.join(f'{unit}: {why}' for unit, why in found.items())})"
        for run_id, found in busy.items()
    )
