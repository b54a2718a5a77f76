"""The asset graph of one trading date: raw response -> bronze -> lake object -> refined -> catalog.

Every asset accepts a single partition or a range (single-run backfills loop over the keys). In a
one-date run a missing input is an error; in a range, dates with nothing captured are skipped and
named in the metadata, because history has gaps B3 will never fill.
"""

import warnings
from collections.abc import Callable
from datetime import date

import dagster as dg

from b3_assets.capture.bronze import BRONZE_SCHEMA
from b3_assets.defs.lake_quality import REFINED_RULES, refined_findings
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
from b3_contract.lake_keys import raw_object_key
from b3_contract.tables import TABLES

# Single-run backfills are what make a 250-date refine one engine run (see bench/).
warnings.filterwarnings("ignore", category=dg.BetaWarning)
SINGLE_RUN = dg.BackfillPolicy.single_run()


def _available(
    context: dg.AssetExecutionContext, dates: list[date], has: Callable[[date], bool], what: str
) -> tuple[list[date], list[date]]:
    """Splits the run's dates into those with `what` and those without (an error for one date)."""
    present = [day for day in dates if has(day)]
    missing = [day for day in dates if day not in present]
    if missing and (len(dates) == 1 or not present):
        raise dg.Failure(f"no {what} for {', '.join(map(str, missing))}")
    if missing:
        context.log.warning(f"skipping {len(missing)} date(s) with no {what}: {missing}")
    return present, missing


@dg.asset(
    partitions_def=trading_date_partitions,
    backfill_policy=SINGLE_RUN,
    group_name="capture",
    kinds={"json"},
)
def ibov_portfolio_raw(
    context: dg.AssetExecutionContext, b3_api: B3ApiResource, capture_store: CaptureStoreResource
) -> dg.MaterializeResult:
    """B3's GetPortfolioDay response for the date, kept byte for byte (all pages merged).

    B3 serves only the current portfolio: a date already captured is kept as it is, a date B3
    is serving is fetched, and any other date fails with the way to import it from B3's CSV. In
    a range, dates that cannot be fetched (another date served, or B3 unreachable) are skipped
    and named, so a backfill over captured history works without B3.
    """
    dates = partition_dates(context)
    captured, fetched, refused, unreachable, b3_error = [], [], [], [], ""
    fetch = b3_api.fetcher()
    for day in dates:
        try:
            capture, was_fetched = capture_store.capture(day, fetch)
        except (DateNotServedError, B3ApiError) as exc:
            if len(dates) == 1:
                raise dg.Failure(str(exc)) from exc
            if isinstance(exc, DateNotServedError):
                refused.append(day)
            else:
                unreachable.append(day)
                b3_error = str(exc)
            continue
        captured.append(capture)
        if was_fetched:
            fetched.append(day)
    if unreachable:
        context.log.warning(
            f"skipping {len(unreachable)} uncaptured date(s) B3 could not be asked for "
            f"({b3_error}): {', '.join(map(str, unreachable))}"
        )
    if not captured:
        reason = b3_error or "B3 serves only the current portfolio"
        raise dg.Failure(f"nothing captured for {dates[0]}..{dates[-1]}: {reason}")
    newest = captured[-1]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(capture_store.raw_path(newest.trading_date))),
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
        }
    )


@dg.asset(
    partitions_def=trading_date_partitions,
    backfill_policy=SINGLE_RUN,
    group_name="capture",
    kinds={"parquet"},
    deps=[ibov_portfolio_raw],
)
def ibov_portfolio_bronze(
    context: dg.AssetExecutionContext, capture_store: CaptureStoreResource
) -> dg.MaterializeResult:
    """The whole response as Parquet: B3's strings untouched, plus ingestion columns."""
    dates, missing = _available(
        context, partition_dates(context), capture_store.has_capture, "raw capture"
    )
    rows, written, path, table = 0, [], None, None
    for day in dates:
        path, table, changed = capture_store.bronze(day)
        rows += table.num_rows
        if changed:
            written.append(str(day))
    assert table is not None and path is not None
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "dagster/column_schema": column_schema(BRONZE_SCHEMA),
            "path": dg.MetadataValue.path(str(path)),
            "dates_written": written,
            "dates_skipped": [str(d) for d in missing],
            "top_10_weights": dg.MetadataValue.md(top_weights_from_bronze(table)),
        }
    )


@dg.asset(
    partitions_def=trading_date_partitions,
    backfill_policy=SINGLE_RUN,
    group_name="lake",
    kinds={"parquet", "s3"},
    deps=[ibov_portfolio_bronze],
)
def ibov_lake_raw_object(
    context: dg.AssetExecutionContext, capture_store: CaptureStoreResource, lake: LakeResource
) -> dg.MaterializeResult:
    """The bronze file in the lake as raw/DATE/dados_originais.parquet: the Glue job's input."""
    dates, missing = _available(
        context, partition_dates(context), capture_store.has_bronze, "bronze file"
    )
    objects = [lake.put_file(raw_object_key(day), capture_store.bronze_path(day)) for day in dates]
    newest = objects[-1]
    return dg.MaterializeResult(
        metadata={
            "uri": newest.uri,
            "size_bytes": newest.size,
            "etag": newest.etag,
            "objects_uploaded": sum(o.changed for o in objects),
            "objects_unchanged": sum(not o.changed for o in objects),
            "dates_skipped": [str(d) for d in missing],
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            name,
            deps=[ibov_lake_raw_object],
            description=table.description,
            group_name="refined",
            kinds={"parquet", "sql"},
            partitions_def=trading_date_partitions,
            metadata={"dagster/column_schema": contract_schema(table.columns)},
        )
        for name, table in TABLES.items()
    ],
    partitions_def=trading_date_partitions,
    backfill_policy=SINGLE_RUN,
    can_subset=False,
)
def ibov_refined_tables(
    context: dg.AssetExecutionContext, lake: LakeResource, refiner: RefinerResource
):
    """ibov_ativos, ibov_header and ibov_setores from the refine SQL of glue/sql, in one run.

    A range of dates is refined in a single engine run and only those dates' partitions are
    replaced.
    """
    dates, missing = _available(
        context,
        partition_dates(context),
        lambda day: lake.exists(raw_object_key(day)),
        "raw object in the lake",
    )
    outputs = refiner.refine(context, lake, dates)
    for name, output in outputs.items():
        metadata = {
            **output.details,
            "dagster/row_count": output.rows,
            "dagster/column_schema": contract_schema(TABLES[name].columns),
            "location": output.location,
            "files_written": output.files,
            "rows_by_date": {str(d): n for d, n in sorted(output.rows_by_date.items())},
            "dates_skipped": [str(d) for d in missing],
        }
        if name == "ibov_ativos" and output.preview is not None:
            metadata["top_10_weights"] = dg.MetadataValue.md(
                top_weights_from_ativos(output.preview)
            )
        yield dg.MaterializeResult(asset_key=name, metadata=metadata)


def _refined_checks_blocked(context: dg.AssetExecutionContext) -> bool:
    """Whether this run holds the blocking refined checks, which then gate this step (also in a
    run without the refine, like `ibov_catalog_check`). Without them, this asset checks the
    same rules itself: the catalog is never registered over refined data that fails them."""
    selected = context.run.asset_check_selection
    if selected is None:
        selected = context.job_def.asset_layer.asset_graph.asset_check_keys
    wanted = {
        dg.AssetCheckKey(dg.AssetKey(table), rule)
        for table, rules in REFINED_RULES.items()
        for rule in rules
    }
    return wanted <= set(selected)


@dg.asset(
    partitions_def=trading_date_partitions,
    backfill_policy=SINGLE_RUN,
    group_name="refined",
    kinds={"duckdb", "glue"},
    deps=list(TABLES),
)
def ibov_catalog(
    context: dg.AssetExecutionContext, lake: LakeResource, catalog: CatalogResource
) -> dg.MaterializeResult:
    """The refined tables registered for SQL: DuckDB views locally, Glue Data Catalog on AWS."""
    dates = partition_dates(context)
    bad = {}
    checked_here = not _refined_checks_blocked(context)
    for day in dates if checked_here else []:
        found = (refined_findings(lake, day) or {}).items()
        failed = [f"{name}.{f.rule}: {f.message}" for name, fs in found for f in quality.failed(fs)]
        if failed:
            bad[day] = failed
    if bad:
        lines = "; ".join(f"{day}: {' | '.join(failed)}" for day, failed in bad.items())
        raise dg.Failure(f"refined data fails its checks, not registered in the catalog: {lines}")
    counts = catalog.register(lake, dates)
    unit = catalog.count_unit
    rows = [[name, str(day), counts[name].get(day, 0)] for name in counts for day in dates]
    metadata = {
        "catalog": catalog.describe(),
        "tables": list(counts),
        "refined_rules_checked_by": "this asset, before registering"
        if checked_here
        else "ibov_refined_checks, blocking, earlier in this run",
        f"{unit}_by_table_and_date": dg.MetadataValue.md(
            markdown_table(["table", "date", unit], rows)
        ),
    }
    if unit == "rows":
        metadata["dagster/row_count"] = sum(sum(c.values()) for c in counts.values())
    return dg.MaterializeResult(metadata=metadata)


ALL_ASSETS = [
    ibov_portfolio_raw,
    ibov_portfolio_bronze,
    ibov_lake_raw_object,
    ibov_refined_tables,
    ibov_catalog,
]
