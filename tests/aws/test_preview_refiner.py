"""GlueRefinerResource.refine_previews: one run of the refine job with `--refine previews`, whose
Pipes summary becomes the TableOutputs; the busy-unit guard collides only runs of the same mode
(a daily and a preview run of IBOV/2025-08-29 write different tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
import pytest

from b3_assets.defs.resources import resources_for
from b3_assets.defs.resources.aws import GlueRefinerResource
from b3_assets.settings import Settings
from b3_contract.glue_runs import ACTIVE_STATES, DAILY, PREVIEWS
from b3_contract.lake_keys import Unit

JOB = "b3-refine"
UNIT = Unit("IBOV", date(2025, 8, 29))
EARLIER = Unit("IBOV", date(2025, 8, 28))  # a change list the plan rewrote


def table_summary(name: str, rows_by_unit: dict[str, int], rewritten: int) -> dict[str, Any]:
    """One table's entry in the job's b3_refine_summary (glue/refine_job.py run_previews)."""
    return {
        "location": f"s3://b3-lake-test/refined/{name.removeprefix('carteira_')}",
        "rows": sum(rows_by_unit.values()),
        "files": len(rows_by_unit),
        "rows_by_unit": rows_by_unit,
        "objects_removed": 0,
        "catalog_table": f"b3_refined.{name} (created)",
        "catalog_partitions": {"added": len(rows_by_unit), "removed": 0, "kept": 0},
        "partitions_rewritten": rewritten,
    }


SUMMARIES = {
    PREVIEWS: {
        "refine": PREVIEWS,
        "tables": {
            "carteira_previa": table_summary("carteira_previa", {str(UNIT): 92}, 1),
            "carteira_previa_mudancas": table_summary(
                "carteira_previa_mudancas", {str(EARLIER): 95, str(UNIT): 97}, 2
            ),
        },
        "timings_s": {"spark_sql_and_write": 1.5},
        "aws_calls": {"s3": 12, "glue": 6},
    },
    DAILY: {"refine": DAILY, "tables": {}, "timings_s": {}, "aws_calls": {}},
}


@dataclass
class Invocation:
    summary: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    def get_custom_messages(self) -> list[dict[str, Any]]:
        return [{"b3_refine_summary": self.summary}]


@dataclass
class StartsTheRun:
    """PipesGlueClient's part without Pipes: starts the run on moto's Glue (where it stays
    RUNNING) and answers with the summary the job sends in the run's mode."""

    launcher: Any
    started: list[dict[str, Any]]

    def run(self, context: Any, start_job_run_params: dict[str, Any]) -> Invocation:
        run_id = self.launcher.start_job_run(**start_job_run_params)["JobRunId"]
        self.started.append({"id": run_id, **start_job_run_params})
        return Invocation(SUMMARIES[start_job_run_params["Arguments"]["--refine"]])


@pytest.fixture
def context():
    with dg.build_asset_context() as asset_context:
        yield asset_context


@pytest.fixture
def refiner(aws, data_dir, glue_job, glue_runs_stay_running, monkeypatch):
    """The B3_ENV=aws refiner on moto, Pipes replaced by StartsTheRun; and its started runs."""
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(
        GlueRefinerResource, "pipes_client", lambda self, launcher: StartsTheRun(launcher, started)
    )
    settings = Settings(env="aws", data_dir=data_dir, bucket=aws.bucket)
    resource = resources_for(settings)["refiner"]
    assert isinstance(resource, GlueRefinerResource)
    return resource, started


def test_a_preview_refine_runs_the_job_in_preview_mode_beside_a_daily_run(
    aws, glue_job, refiner, context
) -> None:
    resource, started = refiner
    daily = glue_job.start_job_run(
        JobName=JOB, Arguments={"--units": str(UNIT), "--bucket": aws.bucket}
    )["JobRunId"]  # refining IBOV/2025-08-29's daily tables right now

    outputs = resource.refine_previews(context, None, [UNIT])

    [run] = started
    assert run["JobName"] == JOB
    assert run["Arguments"] == {
        "--units": "IBOV/2025-08-29",
        "--bucket": aws.bucket,
        "--refine": PREVIEWS,
        "--database": "b3_refined",
    }
    assert set(outputs) == {"carteira_previa", "carteira_previa_mudancas"}
    previa, changes = outputs["carteira_previa"], outputs["carteira_previa_mudancas"]
    assert previa.rows_by_unit == {UNIT: 92} and previa.rows == 92
    assert changes.rows_by_unit == {EARLIER: 95, UNIT: 97}
    assert changes.location == "s3://b3-lake-test/refined/previa_mudancas"
    assert changes.details["partitions_rewritten"] == 2
    assert changes.details["glue_catalog_table"] == "b3_refined.carteira_previa_mudancas (created)"
    assert changes.details["glue_job_seconds"] == {"spark_sql_and_write": 1.5}
    states = {r["Id"]: r["JobRunState"] for r in glue_job.get_job_runs(JobName=JOB)["JobRuns"]}
    assert set(states) == {daily, run["id"]}  # both active at once
    assert set(states.values()) <= ACTIVE_STATES


def test_a_second_preview_refine_of_the_unit_is_refused_and_a_daily_one_is_not(
    aws, glue_job, refiner, context
) -> None:
    resource, started = refiner
    resource.refine_previews(context, None, [UNIT])
    [preview] = started

    with pytest.raises(dg.Failure) as refused:
        resource.refine_previews(context, None, [EARLIER, UNIT])
    message = str(refused.value.description)
    assert f"already refining the previews of these units: {preview['id']} (IBOV/2025-08-29)" in (
        message
    )
    assert len(started) == 1  # nothing started

    resource.refine(context, None, [UNIT])
    assert [run["Arguments"]["--refine"] for run in started] == [PREVIEWS, DAILY]
    with pytest.raises(dg.Failure, match="already refining these units: "):
        resource.refine(context, None, [UNIT])
