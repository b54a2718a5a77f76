"""The Lambda of the AWS-native trigger: S3 ObjectCreated on raw/INDEX/DATE/dados_originais.parquet
-> one Glue run of the refine job per bucket, covering every (index, date) unit of the event
(docs/automation.md); on previa/raw/INDEX/DATE/dados_originais.parquet (B3's quadrimester preview)
-> one preview-mode run (`--refine previews`) per bucket. A preview object never starts a daily
run, and a daily object never a preview run.

Standard library, the runtime's boto3 and b3_contract (the rules it shares with the code
location), which `b3 package-lambda` puts beside this file in the deployment package.
`plan_runs` decides from the event alone; `lambda_handler` only talks to Glue.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from b3_contract.glue_runs import (
    DAILY,
    PREVIEWS,
    describe_clashes,
    job_runs,
    run_arguments,
    runs_clashing,
    runs_refining,
)
from b3_contract.lake_keys import Unit, preview_key_unit, raw_key_unit

_clients: dict[str, Any] = {}
WAIT_POLL_SECONDS = 5.0
WAIT_MARGIN_SECONDS = 15.0
"""A unit whose partitions an active run rewrites waits for that run while the invocation has
time left (less this margin, to start the run and log), polling every WAIT_POLL_SECONDS."""
EXPECTED_KEYS = (
    "not a raw/INDEX/YYYY-MM-DD/dados_originais.parquet or "
    "previa/raw/INDEX/YYYY-MM-DD/dados_originais.parquet key"
)


@dataclass
class BucketRun:
    """One Glue run to start: the bucket, what it refines (`--refine`: daily or previews), its
    (index, date) units and the objects that asked."""

    bucket: str
    units: list[Unit] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    first_event: datetime | None = None
    mode: str = DAILY


@dataclass
class Plan:
    runs: list[BucketRun]
    skipped: list[dict[str, str]]


def _event_time(record: dict[str, Any]) -> datetime | None:
    text = record.get("eventTime")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan_runs(event: Any, bucket_allowed: str | None = None) -> Plan:
    """The runs an S3 event asks for: one per bucket and mode (daily raw objects, preview
    objects), with its distinct units in order.

    Records that are not an ObjectCreated of a raw or preview object key (b3_contract.lake_keys;
    of the allowed bucket, when one is set) are skipped with the reason; nothing here raises on
    bad input.
    """
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return Plan([], [{"key": "", "reason": "not an S3 event: no Records list"}])
    runs: dict[tuple[str, str], BucketRun] = {}
    skipped: list[dict[str, str]] = []
    for record in records:
        s3 = record.get("s3") if isinstance(record, dict) else None
        raw_key = (s3 or {}).get("object", {}).get("key") if isinstance(s3, dict) else None
        bucket = (s3 or {}).get("bucket", {}).get("name") if isinstance(s3, dict) else None
        if not isinstance(raw_key, str) or not isinstance(bucket, str):
            skipped.append({"key": "", "reason": "record without s3.bucket.name and s3.object.key"})
            continue
        key = unquote_plus(raw_key)
        name = record.get("eventName", "")
        if record.get("eventSource") != "aws:s3" or not str(name).startswith("ObjectCreated:"):
            skipped.append({"key": key, "reason": f"not an S3 ObjectCreated event: {name!r}"})
            continue
        if bucket_allowed and bucket != bucket_allowed:
            skipped.append({"key": key, "reason": f"bucket {bucket!r} is not {bucket_allowed!r}"})
            continue
        unit, mode = raw_key_unit(key), DAILY
        if unit is None:
            unit, mode = preview_key_unit(key), PREVIEWS
        if unit is None:
            skipped.append({"key": key, "reason": EXPECTED_KEYS})
            continue
        run = runs.setdefault((bucket, mode), BucketRun(bucket, mode=mode))
        if unit not in run.units:
            run.units.append(unit)
        run.keys.append(key)
        moment = _event_time(record)
        if moment and (run.first_event is None or moment < run.first_event):
            run.first_event = moment
    return Plan(list(runs.values()), skipped)


def log(message: str, **fields: Any) -> None:
    """One JSON object per line: CloudWatch Logs Insights can filter on every field."""
    entry = {"level": fields.pop("level", "INFO"), "message": message, **fields}
    print(json.dumps(entry, default=str, sort_keys=True), file=sys.stdout, flush=True)


def glue_client() -> Any:
    """Created on first use, not at import: a cold start that skips every record pays nothing."""
    if "glue" not in _clients:
        import boto3

        _clients["glue"] = boto3.client("glue")
    return _clients["glue"]


def active_runs_for(glue: Any, job_name: str, run: BucketRun) -> dict[str, list[Unit]]:
    """Runs of the job already refining some of these units in the run's mode since the event:
    {id: units}.

    S3 retries a failed invocation with the same records; a run started by the first attempt
    must not be started again. A run that began before the object was written read the old file,
    so it does not count, nor does a run of the other mode (it writes other tables).
    """
    runs = job_runs(glue, job_name)
    return runs_refining(runs, run.units, run.bucket, run.first_event, mode=run.mode)


def wait_budget(context: Any) -> float:
    """Seconds this invocation may wait for a clashing run: its remaining time less the margin
    (none without a Lambda context's clock)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return 0.0
    return max(0.0, remaining() / 1000 - WAIT_MARGIN_SECONDS)


def start_runs(glue: Any, job_name: str, plan: Plan, wait_seconds: float = 0.0) -> dict[str, Any]:
    """Starts one run per bucket and mode for its units that no active run covers; one failing
    run does not stop the others.

    A unit whose partitions an active run also rewrites (the same unit started before the
    event, its month's carteira_historico, a neighbouring session's change list:
    b3_contract.glue_runs.runs_clashing) waits for that run, up to `wait_seconds` in all; one
    still clashing then gets no run and is listed under "waiting" (the invocation fails, so S3
    retries the event), while the event's other units start.
    """
    started, running, failed, waiting = [], [], [], []
    deadline = time.monotonic() + wait_seconds
    for run in plan.runs:
        fields = {
            "units": [str(u) for u in run.units],
            "bucket": run.bucket,
            "refine": run.mode,
            "keys": run.keys,
        }
        try:
            announced = False
            while True:
                runs = list(job_runs(glue, job_name))
                busy = runs_refining(runs, run.units, run.bucket, run.first_event, mode=run.mode)
                taken = {unit for units in busy.values() for unit in units}
                todo = [unit for unit in run.units if unit not in taken]
                clashing = runs_clashing(runs, todo, run.bucket, run.mode) if todo else {}
                if not clashing or time.monotonic() >= deadline:
                    break
                if not announced:
                    log(
                        "waiting for runs that rewrite these units' partitions",
                        **fields,
                        clashes=describe_clashes(clashing),
                    )
                    announced = True
                time.sleep(WAIT_POLL_SECONDS)
            for job_run_id, units in busy.items():
                covered = {**fields, "units": [str(u) for u in units], "job_run_id": job_run_id}
                running.append(covered)
                log("already refining these units", **covered)
            blocked = {unit for found in clashing.values() for unit in found}
            if blocked:
                held = {
                    **fields,
                    "units": [str(u) for u in sorted(blocked)],
                    "clashes": describe_clashes(clashing),
                }
                waiting.append(held)
                log("another run rewrites these units' partitions", level="WARNING", **held)
            todo = [unit for unit in todo if unit not in blocked]
            if not todo:
                continue
            fields["units"] = [str(u) for u in todo]
            response = glue.start_job_run(
                JobName=job_name, Arguments=run_arguments(todo, run.bucket, run.mode)
            )
        except Exception as exc:  # reported below; the invocation then fails so S3 retries
            error = f"{type(exc).__name__}: {exc}"
            failed.append({**fields, "error": error})
            log("could not start the Glue run", level="ERROR", error=error, **fields)
            continue
        started.append({**fields, "job_run_id": response["JobRunId"]})
        log("started the Glue run", job_name=job_name, job_run_id=response["JobRunId"], **fields)
    return {"started": started, "already_running": running, "failed": failed, "waiting": waiting}


class StartFailed(RuntimeError):
    """Some units got no Glue run (an error, or another run still rewriting their partitions):
    failing the invocation makes S3 retry the event."""


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job_name = os.environ.get("B3_GLUE_JOB", "b3-refine")
    plan = plan_runs(event, os.environ.get("B3_BUCKET") or None)
    request_id = getattr(context, "aws_request_id", None)
    for skip in plan.skipped:
        log("skipped", request_id=request_id, **skip)
    result = {"job_name": job_name, "skipped": plan.skipped}
    if plan.runs:
        result |= start_runs(glue_client(), job_name, plan, wait_budget(context))
    else:
        result |= {"started": [], "already_running": [], "failed": [], "waiting": []}
    log(
        "done",
        request_id=request_id,
        started=len(result["started"]),
        already_running=len(result["already_running"]),
        failed=len(result["failed"]),
        waiting=len(result["waiting"]),
        skipped=len(plan.skipped),
    )
    if result["failed"]:
        units = ", ".join(unit for item in result["failed"] for unit in item["units"])
        raise StartFailed(f"no Glue run started for {units}: {result['failed'][0]['error']}")
    if result["waiting"]:
        units = ", ".join(unit for item in result["waiting"] for unit in item["units"])
        clash = "; ".join(item["clashes"] for item in result["waiting"])
        raise StartFailed(
            f"no Glue run started for {units}: an active run rewrites their partitions ({clash}); "
            "S3 retries the event"
        )
    return result
