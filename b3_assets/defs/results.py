"""A finished Dagster run in a person's words: its failed checks, its failure, its figures.

The CLI prints these, the tests assert on them and the bench stops on them, so the reading of a
run result is written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import dagster as dg

RunResult = dg.ExecuteInProcessResult


def check_line(evaluation: dg.AssetCheckEvaluation) -> str:
    """`asset.rule [date]: message`, one line per failed check."""
    where = f" [{evaluation.partition}]" if evaluation.partition else ""
    return f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}{where}: " + (
        evaluation.description or ""
    )


@dataclass(frozen=True)
class FailedChecks:
    blocking: list[dg.AssetCheckEvaluation]  # their units stop at the lake or the catalog
    warnings: list[dg.AssetCheckEvaluation]  # per date, reported, never stopping anything


def failed_checks(result: RunResult) -> FailedChecks:
    """The run's failed checks. A range run reports each rule once per date and once for the
    step; the step's verdict is dropped where the per-date ones say it all."""
    failed = [
        event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
        and not event.event_specific_data.passed
    ]
    per_date = {(e.asset_key, e.check_name) for e in failed if e.partition}
    blocking = [
        e
        for e in failed
        if e.severity == dg.AssetCheckSeverity.ERROR
        and (e.partition or (e.asset_key, e.check_name) not in per_date)
    ]
    warnings = [e for e in failed if e.severity == dg.AssetCheckSeverity.WARN and e.partition]
    return FailedChecks(blocking, warnings)


def step_failures(result: RunResult) -> list[str]:
    """`step: message` for each failed step, the framework's wrapper unwrapped."""
    found = []
    for event in result.all_events:
        if not (event.is_step_failure and event.step_failure_data):
            continue
        error = event.step_failure_data.error
        message = error.message.strip() if error else "unknown error"
        if error and error.cause and error.cls_name == "DagsterExecutionStepExecutionError":
            message = error.cause.message.strip()  # the wrapper adds only noise
        elif error and error.cause and "Failure" not in error.cls_name:
            message += f" (caused by {error.cause.message.strip()})"
        message = re.sub(r"^dagster\.[\w.]+\.Failure: ", "", message)  # our own dg.Failure
        found.append(f"{event.step_key}: {message}")
    return found


def problem(result: RunResult, what: str) -> str | None:
    """Why the run of `what` (e.g. "2025-07-14") did not do all its work, or None if it did.

    A failed blocking rule stops its unit in the stage that would pass it on (the lake upload,
    the catalog), which then fails naming the index; the failed rules are listed with it.
    """
    blocking = failed_checks(result).blocking
    if result.success and not blocking:
        return None
    failures = step_failures(result)
    if failures:
        step, _, message = failures[0].partition(": ")
        text = f"{step} failed for {what}: {message}"
    else:
        text = f"the run for {what} failed" if not result.success else ""
    if blocking:
        lines = "\n  ".join(check_line(e) for e in blocking)
        rules = f"data-quality checks failed for {what}:\n  {lines}"
        text = f"{text}\n{rules}" if text else rules
    return text


def materialized_metadata(result: RunResult) -> dict[str, dict[str, Any]]:
    """{asset: the metadata values of its last materialization in the run}."""
    return {
        event.asset_key.to_user_string(): {
            key: value.value for key, value in event.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
        if event.asset_key
    }
