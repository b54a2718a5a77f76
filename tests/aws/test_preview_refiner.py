"""GlueRefinerResource.refine_previews: one run of the refine job with `--refine previews`, whose
Pipes summary becomes the TableOutputs; the busy-unit guard collides only runs of the same mode
(a daily and a preview run of IBOV/2025-08-29 write different tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import dagster as dg
import pytest

from b3_assets.defs.resources.aws import GlueRefinerResource, S3LakeResource
from b3_contract.glue_runs import DAILY, PREVIEWS
from b3_contract.lake_keys import Unit

JOB = "b3-refine"
UNIT = Unit("IBOV", date(2025, 8, 29))


def table_summary(rows_by_unit: dict[str, int], rewritten: int) -> dict[str, Any]:
    """One table's entry in the job's b3_refine_summary (glue/refine_job.py store_table)."""
    return {
        "location": "s3://b3-lake-test/refined/previa",
        "rows": sum(rows_by_unit.values()),
        "files": len(rows_by_unit),
        "rows_by_unit": rows_by_unit,
        "objects_removed": 0,
        "catalog_table": "b3_refined.carteira_previa (created)",
        "catalog_partitions": {"added": len(rows_by_unit), "removed": 0, "kept": 0},
        "partitions_rewritten": rewritten,
    }


@dataclass
class Invocation:
    summary: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)

    def get_custom_messages(self) -> list[dict[str, Any]]:
        return [{"b3_refine_summary": self.summary}]


@dataclass
class StartsTheRun:
    """PipesGlueClient's part, without Pipes: starts the run on moto's Glue and answers with
    the summary the job would send."""

    launcher: Any
    summary: dict[str, Any]
    started: list[dict[str, Any]] = field(default_factory=list)

    def run(self, context: Any, start_job_run_params: dict[str, Any]) -> Invocation:
        self.started.append(start_job_run_params)
        self.launcher.start_job_run(**start_job_run_params)
        return Invocation(self.summary)


@pytest.fixture
def refiner(aws, glue_job, glue_runs_stay_running, monkeypatch):
    """The resource on moto, its Pipes client replaced by StartsTheRun (summary per mode)."""
    summaries = {
        PREVIEWS: {
            "refine": PREVIEWS,
            "tables": {
                "carteira_previa": table_summary({str(UNIT): 92}, 1),
                "carteira_previa_mudancas": table_summary({str(UNIT): 97}, 2),
            },
            "timings_s": {"spark_sql_and_write": 1.0},
            "aws_calls": {"s3": 3},
        },
        DAILY: {"refine": DAILY, "tables": {}, "timings_s": {}, "aws_calls": {}},
    }
    clients: list[StartsTheRun] = []

    def pipes_client(self, launcher):
        mode = PREVIEWS if clients == [] or not self.__dict__.get("_daily") else DAILY
        clients.append(StartsTheRun(launcher, summaries[mode]))
        return clients[-1]

    monkeypatch.setattr(GlueRefinerResource, "pipes_client", pipes_client)
    resource = GlueRefinerResource(s3=S3LakeResource.model_fields["s3"].annotation(), bucket=aws.bucket)
    return resource, clients


def test_placeholder():
    pass
