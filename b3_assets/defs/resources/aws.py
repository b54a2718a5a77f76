"""B3_ENV=aws: the lake on S3, the refine as a Glue job through Pipes, the Glue Data Catalog, and
Athena for queries."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import dagster as dg
from botocore.exceptions import ClientError
from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector, PipesS3MessageReader
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from b3_assets.aws import clients as aws
from b3_assets.aws.athena import AthenaQueries
from b3_assets.defs.resources.interfaces import (
    CatalogResource,
    LakeResource,
    QueryResource,
    RefinerResource,
    TableOutput,
)
from b3_assets.lake.s3 import S3Lake
from b3_assets.refine.catalog import QueryResult
from b3_assets.testing.glue_local import LocalGlueJobRuns
from b3_contract.glue_runs import (
    DAILY,
    PREVIEWS,
    describe_clashes,
    job_runs,
    run_arguments,
    runs_clashing,
    runs_refining,
)
from b3_contract.glue_tables import unit_expression
from b3_contract.lake_keys import Unit
from b3_contract.tables import INDEX_TABLES, PORTFOLIO_TABLES, IndexTable, RefinedTable

PIPES_PREFIX = "pipes/"

warnings.filterwarnings("ignore", category=dg.PreviewWarning)  # Pipes' expected_writer_count


class S3LakeResource(LakeResource):
    """s3://$B3_BUCKET/, through dagster-aws's S3Resource (region, endpoint, credentials)."""

    s3: S3Resource
    bucket: str
    _lake: S3Lake | None = PrivateAttr(default=None)

    @property
    def lake(self) -> S3Lake:
        """One client for the resource's life: making one costs about 0.2 s, and a range run
        asks once per date."""
        if self._lake is None:
            self._lake = S3Lake(self.s3.get_client(), self.bucket)
        return self._lake


class _PipesMessagesUnderPrefix(PipesS3MessageReader):
    """Pipes message chunks under pipes/messages/ instead of a random top-level folder."""

    @contextmanager
    def get_params(self) -> Iterator[dict[str, Any]]:
        with super().get_params() as params:
            yield {**params, "key_prefix": f"{PIPES_PREFIX}messages/{params['key_prefix']}"}


@contextmanager
def _own_results(context: dg.AssetExecutionContext) -> Iterator[None]:
    """PipesGlueClient marks the step as one that must yield every selected output, as a step
    returning the external run's results would. The chain's step yields its own results from
    the job's summary, and skips a stage with nothing to write (a preview B3 did not serve)
    exactly as it does with the DuckDB refiner, so the mark is taken back after the run. Dagster
    has no public way to opt out (dagster-io/dagster#22117); this sets the step's private flag
    back; `b3 run` on AWS without a preview served (tests/e2e/test_aws_cli.py) fails without it."""
    step = getattr(getattr(context, "op_execution_context", None), "_step_execution_context", None)
    marked = getattr(step, "requires_typed_event_stream", True)
    try:
        yield
    finally:
        if not marked:
            step._requires_typed_event_stream = False  # type: ignore[union-attr]
            step._typed_event_stream_error_message = None  # type: ignore[union-attr]


class GlueRefinerResource(RefinerResource):
    """The refine as one run of the Glue job $B3_GLUE_JOB for all the run's dates, launched with
    dagster-aws's PipesGlueClient: the job gets the Dagster context through S3 and sends its
    figures back the same way. With runner="local" the job runs here on pyspark (glue_local)."""

    s3: S3Resource
    bucket: str
    job_name: str = "b3-refine"
    database: str = "b3_refined"
    runner: Literal["aws", "local"] = "aws"
    message_interval: float = 1.0

    def launcher(self) -> Any:
        """What starts and lists the job's runs: Glue, or the local runner (which answers the
        same calls for the runs of every process here)."""
        glue = aws.client("glue")
        return LocalGlueJobRuns(glue, self.s3.get_client()) if self.runner == "local" else glue

    def pipes_client(self, launcher: Any) -> PipesGlueClient:
        s3 = self.s3.get_client()
        return PipesGlueClient(
            client=launcher,
            context_injector=PipesS3ContextInjector(
                bucket=self.bucket, client=s3, key_prefix=f"{PIPES_PREFIX}context/"
            ),
            message_reader=_PipesMessagesUnderPrefix(
                bucket=self.bucket, client=s3, interval=self.message_interval
            ),
        )

    def refine(
        self, context: dg.AssetExecutionContext, lake: LakeResource, units: list[Unit]
    ) -> dict[str, TableOutput]:
        return self._run(context, units, DAILY)

    def refine_previews(
        self, context: dg.AssetExecutionContext, lake: LakeResource, units: list[Unit]
    ) -> dict[str, TableOutput]:
        return self._run(context, units, PREVIEWS)

    def _run(
        self, context: dg.AssetExecutionContext, units: list[Unit], mode: str
    ) -> dict[str, TableOutput]:
        """One run of the job in `mode` (`--refine`) for the units, unless a run of the same
        mode is refining one of them: a daily and a preview run write different tables."""
        params = {
            "JobName": self.job_name,
            "Arguments": {
                **run_arguments(units, self.bucket, mode),
                "--database": self.database,
            },
        }
        what = "the previews of these units" if mode == PREVIEWS else "these units"
        with aws.aws_errors(f"running Glue job {self.job_name}", self.bucket):
            launcher = self.launcher()
            runs = list(job_runs(launcher, self.job_name))
            busy = runs_refining(runs, units, self.bucket, mode=mode)
            if busy:
                running = "; ".join(
                    f"{run_id} ({', '.join(map(str, taken))})" for run_id, taken in busy.items()
                )
                raise dg.Failure(
                    f"Glue job {self.job_name} is already refining {what}: {running}. Two "
                    "runs of one unit would interleave their writes; run again once it ends."
                )
            clashing = runs_clashing(runs, units, self.bucket, mode=mode)
            if clashing:
                raise dg.Failure(
                    f"Glue job {self.job_name} is rewriting what a refine of {what} rewrites: "
                    f"{describe_clashes(clashing)}. Two runs would interleave their writes of "
                    "those partitions; run again once it ends."
                )
            with _own_results(context):
                invocation = self.pipes_client(launcher).run(
                    context=context, start_job_run_params=params
                )
        summaries = [
            message["b3_refine_summary"]
            for message in invocation.get_custom_messages()
            if isinstance(message, dict) and "b3_refine_summary" in message
        ]
        if not summaries:
            raise dg.Failure(
                f"Glue job {self.job_name} succeeded but sent no summary through Pipes"
            )
        summary = summaries[-1]
        run_facts = {
            **dict(invocation.metadata),
            "glue_job_seconds": summary["timings_s"],
            "glue_job_aws_calls": summary["aws_calls"],
        }
        outputs = {}
        for name, table in summary["tables"].items():
            outputs[name] = TableOutput(
                location=table["location"],
                rows=table["rows"],
                files=table["files"],
                rows_by_unit={Unit.parse(u): n for u, n in table["rows_by_unit"].items()},
                details={
                    **run_facts,
                    "glue_catalog_table": table["catalog_table"],
                    "glue_catalog_partitions": table["catalog_partitions"],
                    **(
                        {"glue_index_table": table["index_table"]} if "index_table" in table else {}
                    ),
                    "objects_removed": table["objects_removed"],
                    **(
                        {"partitions_rewritten": table["partitions_rewritten"]}
                        if "partitions_rewritten" in table
                        else {}
                    ),
                },
            )
        return outputs


class GlueCatalogResource(CatalogResource):
    """The Glue Data Catalog database $B3_GLUE_DATABASE. The Glue job registers the tables and
    partitions it writes (so a Lambda-started run registers them too); this checks that every
    table (carteira_* and ibov_*) is there, located under the bucket, and counts each unit's
    partitions (a month table: the unit's month)."""

    count_unit: ClassVar[str] = "partitions"
    bucket: str
    database: str = "b3_refined"

    def describe(self) -> str:
        return f"glue://{self.database}"

    def register(self, lake: LakeResource, units: list[Unit]) -> dict[str, dict[Unit, int]]:
        glue = aws.client("glue")
        counts: dict[str, dict[Unit, int]] = {}
        specs: list[RefinedTable | IndexTable] = [
            *PORTFOLIO_TABLES.values(),
            *INDEX_TABLES.values(),
        ]
        for spec in specs:
            name = spec.name
            with aws.aws_errors(f"reading Glue table {self.database}.{name}"):
                try:
                    table = glue.get_table(DatabaseName=self.database, Name=name)["Table"]
                except ClientError as exc:
                    if aws.error_code(exc) != "EntityNotFoundException":
                        raise
                    raise dg.Failure(
                        f"table {self.database}.{name} is not in the Glue Data Catalog: "
                        "`b3 deploy` (or the CloudFormation stack) creates it, and the Glue job "
                        "on its first successful run"
                    ) from None
                location = table["StorageDescriptor"]["Location"]
                expected = f"s3://{self.bucket}/{spec.prefix}/"
                if location.rstrip("/") != expected.rstrip("/"):
                    raise dg.Failure(f"{self.database}.{name} points at {location}, not {expected}")
                counts[name] = {}
                for unit in units:
                    if isinstance(spec, IndexTable) and unit.index != spec.index:
                        continue
                    pages = glue.get_paginator("get_partitions").paginate(
                        DatabaseName=self.database,
                        TableName=name,
                        Expression=unit_expression(spec, unit),
                    )
                    found = sum(len(page["Partitions"]) for page in pages)
                    if found:
                        counts[name][unit] = found
        return counts


class AthenaResource(QueryResource):
    """Athena queries on the refined tables.

    A wrapper of boto3 rather than dagster-aws's AthenaClientResource, which has no region,
    endpoint or database settings and fails under moto when fetching rows; this one also types
    the results and surfaces Athena's reason when a query FAILS or is CANCELLED.
    """

    workgroup: str = "primary"
    database: str = "b3_refined"
    output_location: str | None = None
    poll_interval: float = 0.25
    max_poll_interval: float = 5.0
    timeout_seconds: float = 300.0

    def queries(self) -> AthenaQueries:
        return AthenaQueries(
            aws.client("athena"),
            self.workgroup,
            self.database,
            self.output_location,
            self.poll_interval,
            self.max_poll_interval,
            self.timeout_seconds,
        )

    def query(self, sql: str) -> QueryResult:
        return self.queries().run(sql)
