"""The asset graph, one chain per index: raw response -> bronze -> lake object -> refined -> catalog.

Every stage is one multi-asset over the indices: asset keys are `INDEX/stage` (grouped by index in
the UI, each with its own trading-date partitions), and a run that selects K indices over N dates
executes each stage once, so the refine is one engine run (one Glue run) for all N x K units.

Indices are independent inside a stage: one index that fails (B3 error, a failed blocking rule,
nothing captured) yields nothing and is named, the others go on to the end of the run, whose last
stage then fails naming every index that did not make it. In a range, dates with nothing captured
are skipped and named, because history has gaps B3 will never fill.
"""

import warnings
from collections.abc import Callable, Iterator, Sequence
from datetime import date

import dagster as dg

from b3_assets.capture.bronze import BRONZE_SCHEMA
from b3_assets.defs.lake_quality import refined_findings
from b3_assets.defs.metadata import (
    column_schema,
    contract_schema,
    markdown_table,
    top_weights_from_ativos,
    top_weights_from_bronze,
)
from b3_assets.defs.partitions import partition_dates, trading_date_partitions
from b3_assets.defs.resources import (
    B3ApiResource,
    CaptureStoreResource,
    CatalogResource,
    LakeResource,
    RefinerResource,
)
from b3_assets.refine import quality
from b3_assets.source.b3_client import B3ApiError
from b3_assets.source.served_date import DateNotServedError
from b3_contract.lake_keys import Unit, raw_object_key
from b3_contract.tables import TABLES

# Single-run backfills are what make a 250-date refine one engine run (see bench/).
warnings.filterwarnings("ignore", category=dg.BetaWarning)
SINGLE_RUN = dg.BackfillPolicy.single_run()

RAW, BRONZE, LAKE, CATALOG = "portfolio_raw", "portfolio_bronze", "lake_raw_object", "catalog"
STAGES = {RAW: 0, BRONZE: 1, LAKE: 2, **{name: 3 for name in TABLES}, CATALOG: 4}


def asset_key(index: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([index, name])


def selected_indices(context: dg.AssetExecutionContext) -> list[str]:
    """The indices this step materializes (the run's selection of this stage's keys)."""
    return sorted({key.path[0] for key in context.selected_asset_keys})


class IndexFailures:
    """Indices that fail in a step: logged and named; the step fails only when it is the last
    stage of the run (nothing downstream for the other indices to lose) or when all failed."""

    def __init__(self, context: dg.AssetExecutionContext, stage: str) -> None:
        self.context, self.stage, self.reasons = context, stage, {}

    def add(self, index: str, reason: str) -> None:
        self.reasons[index] = reason
        self.context.log.error(f"{index}: {reason}")

    def finish(self, indices: Sequence[str]) -> None:
        if not self.reasons:
            return
        lines = "; ".join(f"{index}: {reason}" for index, reason in sorted(self.reasons.items()))
        if len(self.reasons) == len(indices) or self._last_stage():
            raise dg.Failure(
                f"{len(self.reasons)} of {len(indices)} indices failed: {lines}",
                metadata={"indices_failed": sorted(self.reasons)},
            )

    def _last_stage(self) -> bool:
        keys = self.context.job_def.asset_layer.selected_asset_keys
        rank = STAGES[self.stage]
        return not any(STAGES.get(key.path[-1], -1) > rank for key in keys)


def _available(
    dates: list[date], has: Callable[[date], bool], what: str
) -> tuple[list[date], list[date], str | None]:
    """Splits dates into those with `what` and those without; the reason when none is usable
    (or the one date asked has none)."""
    present = [day for day in dates if has(day)]
    missing = [day for day in dates if day not in present]
    if missing and (len(dates) == 1 or not present):
        return present, missing, f"no {what} for {', '.join(map(str, missing))}"
    return present, missing, None


def _specs(indices: Sequence[str], name: str, **kwargs) -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            asset_key(index, name),
            group_name=index,
            partitions_def=trading_date_partitions,
            tags={"b3/index": index},
            **kwargs,
        )
        for index in indices
    ]


def build_assets(indices: Sequence[str]) -> list[dg.AssetsDefinition]:
    """The five stages over `indices` (the definitions hold every index configured or held)."""

    @dg.multi_asset(
        name=RAW,
        specs=_specs(
            indices,
            RAW,
            kinds={"json"},
            description="B3's GetPortfolioDay response of the index for the date, byte for byte.",
            skippable=True,
        ),
        partitions_def=trading_date_partitions,
        backfill_policy=SINGLE_RUN,
        can_subset=True,
    )
    def portfolio_raw(
        context: dg.AssetExecutionContext,
        b3_api: B3ApiResource,
        capture_store: CaptureStoreResource,
    ) -> Iterator[dg.MaterializeResult]:
        """B3 serves only the current portfolio: a unit already captured is kept as it is, one
        B3 is serving is fetched (once per index per run), and any other fails with the way to
        import it from B3's CSV. In a range, dates that cannot be fetched (another date served,
        or B3 unreachable) are skipped and named, so a backfill over captured history works
        without B3."""
        dates, chosen = partition_dates(context), selected_indices(context)
        failures, fetch = IndexFailures(context, RAW), b3_api.fetcher()
        for index in chosen:
            captured, fetched, refused, unreachable, b3_error = [], [], [], [], ""
            for day in dates:
                try:
                    capture, was_fetched = capture_store.capture(Unit(index, day), fetch)
                except (DateNotServedError, B3ApiError) as exc:
                    if isinstance(exc, DateNotServedError):
                        refused.append(day)
                    else:
                        unreachable.append(day)
                    b3_error = str(exc)
                    continue
                captured.append(capture)
                if was_fetched:
                    fetched.append(day)
            if not captured or (len(dates) == 1 and (refused or unreachable)):
                failures.add(index, b3_error or "B3 serves only the current portfolio")
                continue
            if unreachable:
                context.log.warning(
                    f"{index}: skipping {len(unreachable)} uncaptured date(s) B3 could not be "
                    f"asked for ({b3_error}): {', '.join(map(str, unreachable))}"
                )
            newest = captured[-1]
            unit = Unit(index, newest.trading_date)
            yield dg.MaterializeResult(
                asset_key=asset_key(index, RAW),
                metadata={
                    "index": index,
                    "path": dg.MetadataValue.path(str(capture_store.raw_path(unit))),
                    "sha256": newest.sha256,
                    "source_url": dg.MetadataValue.url(newest.source_url)
                    if newest.source_url.startswith("http")
                    else newest.source_url,
                    "origin": newest.origin,
                    "fetched_at": newest.fetched_at.isoformat()
                    if newest.fetched_at
                    else "unknown: B3's CSV download carries no capture time",
                    "pages": newest.pages,
                    "dates_fetched_now": [str(d) for d in fetched],
                    "dates_already_captured": [
                        str(c.trading_date) for c in captured if c.trading_date not in fetched
                    ],
                    "dates_not_served": [str(d) for d in refused],
                    "dates_b3_unreachable": [str(d) for d in unreachable],
                    "b3_error": b3_error,
                },
            )
        failures.finish(chosen)

    @dg.multi_asset(
        name=BRONZE,
        specs=[
            spec.replace_attributes(deps=[asset_key(spec.key.path[0], RAW)])
            for spec in _specs(
                indices,
                BRONZE,
                kinds={"parquet"},
                description="The whole response as Parquet: B3's strings untouched, plus "
                "ingestion columns.",
                skippable=True,
            )
        ],
        partitions_def=trading_date_partitions,
        backfill_policy=SINGLE_RUN,
        can_subset=True,
    )
    def portfolio_bronze(
        context: dg.AssetExecutionContext, capture_store: CaptureStoreResource
    ) -> Iterator[dg.MaterializeResult]:
        dates, chosen = partition_dates(context), selected_indices(context)
        failures = IndexFailures(context, BRONZE)
        for index in chosen:
            present, missing, reason = _available(
                dates, lambda day: capture_store.has_capture(Unit(index, day)), "raw capture"
            )
            if reason:
                failures.add(index, reason)
                continue
            rows, written, path, table = 0, [], None, None
            for day in present:
                path, table, changed = capture_store.bronze(Unit(index, day))
                rows += table.num_rows
                if changed:
                    written.append(str(day))
            assert table is not None and path is not None
            yield dg.MaterializeResult(
                asset_key=asset_key(index, BRONZE),
                metadata={
                    "index": index,
                    "dagster/row_count": rows,
                    "dagster/column_schema": column_schema(BRONZE_SCHEMA),
                    "path": dg.MetadataValue.path(str(path)),
                    "dates_written": written,
                    "dates_skipped": [str(d) for d in missing],
                    "top_10_weights": dg.MetadataValue.md(top_weights_from_bronze(table)),
                },
            )
        failures.finish(chosen)

    @dg.multi_asset(
        name=LAKE,
        specs=[
            spec.replace_attributes(deps=[asset_key(spec.key.path[0], BRONZE)])
            for spec in _specs(
                indices,
                LAKE,
                kinds={"parquet", "s3"},
                description="The bronze file in the lake as raw/INDEX/DATE/dados_originais."
                "parquet: the refine's input. A unit whose bronze file breaks a blocking rule "
                "is not uploaded.",
                skippable=True,
            )
        ],
        partitions_def=trading_date_partitions,
        backfill_policy=SINGLE_RUN,
        can_subset=True,
    )
    def lake_raw_object(
        context: dg.AssetExecutionContext, capture_store: CaptureStoreResource, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult]:
        dates, chosen = partition_dates(context), selected_indices(context)
        failures = IndexFailures(context, LAKE)
        for index in chosen:
            present, missing, reason = _available(
                dates, lambda day: capture_store.has_bronze(Unit(index, day)), "bronze file"
            )
            if reason:
                failures.add(index, reason)
                continue
            bad = {}
            for day in present:
                broken = quality.failed(
                    quality.bronze_findings(capture_store.bronze_response(Unit(index, day)), day)
                )
                if broken:
                    bad[day] = "; ".join(f"{f.rule}: {f.message}" for f in broken)
            if bad:
                failures.add(
                    index,
                    "bronze fails its blocking checks, not uploaded: "
                    + "; ".join(f"{day}: {why}" for day, why in bad.items()),
                )
                continue
            objects = [
                lake.put_file(
                    raw_object_key(Unit(index, day)), capture_store.bronze_path(Unit(index, day))
                )
                for day in present
            ]
            newest = objects[-1]
            yield dg.MaterializeResult(
                asset_key=asset_key(index, LAKE),
                metadata={
                    "index": index,
                    "uri": newest.uri,
                    "size_bytes": newest.size,
                    "etag": newest.etag,
                    "objects_uploaded": sum(o.changed for o in objects),
                    "objects_unchanged": sum(not o.changed for o in objects),
                    "dates_skipped": [str(d) for d in missing],
                },
            )
        failures.finish(chosen)

    @dg.multi_asset(
        name="refined_tables",
        specs=[
            dg.AssetSpec(
                asset_key(index, name),
                deps=[asset_key(index, LAKE)],
                description=f"{table.description} Rows of {index}; query all indices as "
                f"{name}" + (" and IBOV alone as ibov_" + name[9:] if index == "IBOV" else "."),
                group_name=index,
                kinds={"parquet", "sql"},
                partitions_def=trading_date_partitions,
                tags={"b3/index": index},
                metadata={"dagster/column_schema": contract_schema(table.columns)},
                skippable=True,
            )
            for index in indices
            for name, table in TABLES.items()
        ],
        partitions_def=trading_date_partitions,
        backfill_policy=SINGLE_RUN,
        can_subset=True,
    )
    def refined_tables(
        context: dg.AssetExecutionContext, lake: LakeResource, refiner: RefinerResource
    ) -> Iterator[dg.MaterializeResult]:
        """carteira_ativos, carteira_header and carteira_setores from the refine SQL of
        glue/sql: every selected index and date in one engine run, and only those units'
        partitions replaced. (An index is refined with all three tables.)"""
        dates, chosen = partition_dates(context), selected_indices(context)
        failures = IndexFailures(context, "carteira_ativos")
        units, skipped = [], {}
        for index in chosen:
            present, missing, reason = _available(
                dates, lambda day: lake.exists(raw_object_key(Unit(index, day))), "raw object"
            )
            if reason:
                failures.add(index, reason + " in the lake")
                continue
            units += [Unit(index, day) for day in present]
            skipped[index] = [str(d) for d in missing]
        outputs = refiner.refine(context, lake, units) if units else {}
        for index in sorted(skipped):
            for name, output in outputs.items():
                rows = {
                    str(u.day): n
                    for u, n in sorted(output.rows_by_unit.items())
                    if u.index == index
                }
                metadata = {
                    **output.details,
                    "index": index,
                    "dagster/row_count": sum(rows.values()),
                    "dagster/column_schema": contract_schema(TABLES[name].columns),
                    "location": output.location,
                    "files_written_in_run": output.files,
                    "units_in_engine_run": len(units),
                    "rows_by_date": rows,
                    "dates_skipped": skipped[index],
                }
                if name == "carteira_ativos" and output.preview is not None:
                    mine = output.preview.filter(
                        output.preview["indice"].to_numpy(zero_copy_only=False) == index
                    )
                    metadata["top_10_weights"] = dg.MetadataValue.md(top_weights_from_ativos(mine))
                yield dg.MaterializeResult(asset_key=asset_key(index, name), metadata=metadata)
        failures.finish(chosen)

    @dg.multi_asset(
        name=CATALOG,
        specs=[
            spec.replace_attributes(deps=[asset_key(spec.key.path[0], name) for name in TABLES])
            for spec in _specs(
                indices,
                CATALOG,
                kinds={"duckdb", "glue"},
                description="The index's refined partitions registered for SQL (carteira_*, and "
                "ibov_* for IBOV): DuckDB views locally, Glue Data Catalog on AWS. Units whose "
                "refined rows break a blocking rule are refused.",
                skippable=True,
            )
        ],
        partitions_def=trading_date_partitions,
        backfill_policy=SINGLE_RUN,
        can_subset=True,
    )
    def catalog(
        context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource
    ) -> Iterator[dg.MaterializeResult]:
        dates, chosen = partition_dates(context), selected_indices(context)
        failures = IndexFailures(context, CATALOG)
        good: list[Unit] = []
        for index in chosen:
            bad, seen = {}, []
            for day in dates:
                found = refined_findings(lake, Unit(index, day))
                if found is None:
                    continue
                seen.append(day)
                failed = [
                    f"{name}.{f.rule}: {f.message}"
                    for name, fs in found.items()
                    for f in quality.failed(fs)
                ]
                if failed:
                    bad[day] = failed
            if bad:
                lines = "; ".join(f"{day}: {' | '.join(why)}" for day, why in bad.items())
                failures.add(index, f"refined data fails its checks, not registered: {lines}")
                continue
            if not seen:
                failures.add(index, f"nothing refined for {dates[0]}..{dates[-1]}")
                continue
            good += [Unit(index, day) for day in seen]
        counts = catalog.register(lake, good) if good else {}
        unit = catalog.count_unit
        for index in sorted({u.index for u in good}):
            rows = [
                [name, str(u.day), counts[name].get(u, 0)]
                for name in counts
                for u in good
                if u.index == index and (index == "IBOV" or not name.startswith("ibov_"))
            ]
            metadata = {
                "index": index,
                "catalog": catalog.describe(),
                "tables": sorted({row[0] for row in rows}),
                f"{unit}_by_table_and_date": dg.MetadataValue.md(
                    markdown_table(["table", "date", unit], rows)
                ),
            }
            if unit == "rows":
                metadata["dagster/row_count"] = sum(
                    row[2] for row in rows if row[0].startswith("carteira_")
                )
            yield dg.MaterializeResult(asset_key=asset_key(index, CATALOG), metadata=metadata)
        failures.finish(chosen)

    return [portfolio_raw, portfolio_bronze, lake_raw_object, refined_tables, catalog]


def stage_keys(indices: Sequence[str], *names: str) -> list[dg.AssetKey]:
    """The keys of these stages (by asset name) for these indices."""
    return [asset_key(index, name) for index in indices for name in names]


CAPTURE_STAGES = (RAW, BRONZE, LAKE)
REFINE_STAGES = (*TABLES, CATALOG)
