"""The asset graph, one chain per index: raw response -> bronze -> lake object -> refined ->
catalog.

Asset keys are `INDEX/stage` (grouped by index in the UI, each with its own trading-date
partitions and checks), and the chain of every index is one multi-asset: a run that selects any
stages of K indices over N dates is one step, so the refine is one engine run (one Glue run) for
all N x K units (docs/architecture.md says why not one step per stage).

Indices are independent inside the step: one that fails a stage (B3 error, nothing captured, a
blocking rule) stops there and is logged, the others go on, and the step then fails naming every
index that did not make it. In a range, dates with nothing captured are skipped and named,
because history has gaps B3 will never fill.
"""

import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from datetime import date
from functools import cache, partial

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from b3_assets.capture.bronze import BRONZE_SCHEMA, response_from_bronze
from b3_assets.defs.lake_quality import (
    BRONZE_RULES,
    DRIFT,
    PREVIEW_RULES,
    REFINED_RULES,
    chain_check_specs,
    drift_findings,
    refined_findings,
    report,
)
from b3_assets.defs.lake_quality import (
    preview_findings as lake_preview_findings,
)
from b3_assets.defs.metadata import (
    analytics_metadata,
    column_schema,
    contract_schema,
    markdown_table,
    preview_metadata,
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
from b3_assets.defs.resources.interfaces import TableOutput
from b3_assets.refine import quality
from b3_assets.source.b3_client import B3ApiError
from b3_assets.source.served_date import DateNotServedError
from b3_assets.source.trading_calendar import current_session, is_rebalance_session
from b3_contract.lake_keys import Unit, preview_object_key, raw_object_key
from b3_contract.origins import ORIGINS, SAMPLE
from b3_contract.tables import (
    ANALYTIC_TABLES,
    PORTFOLIO_TABLES,
    PREVIEW_TABLES,
    TABLES,
    RefinedTable,
)

# Single-run backfills are what make a 250-date refine one engine run (see bench/).
warnings.filterwarnings("ignore", category=dg.BetaWarning)
SINGLE_RUN = dg.BackfillPolicy.single_run()

RAW, BRONZE, LAKE, CATALOG = "portfolio_raw", "portfolio_bronze", "lake_raw_object", "catalog"
PREVIEW_RAW, PREVIEW_BRONZE, PREVIEW_LAKE = "preview_raw", "preview_bronze", "preview_lake_object"


def asset_key(index: str, name: str) -> dg.AssetKey:
    return dg.AssetKey([index, name])


class ChainRun:
    """One execution of the chain: its dates, what it materializes and checks per index, and
    the indices that failed (each stops there; the others go on)."""

    def __init__(self, context: dg.AssetExecutionContext, family: str = "") -> None:
        self.context = context
        self.family = family  # "preview": the preview stages fail apart from the daily ones
        self.dates = partition_dates(context)
        self.keys = set(context.selected_asset_keys)
        self.checks = set(context.selected_asset_check_keys)
        self.failed: dict[str, str] = {}

    def indices(self, stage: str) -> list[str]:
        """Indices whose `stage` asset this run materializes and that have not failed."""
        return sorted({k.path[0] for k in self.keys if k.path[-1] == stage} - set(self.failed))

    def checked(self, asset: str, rules: Iterable[str]) -> list[str]:
        """Indices with any of these checks of `asset` selected (and not failed)."""
        wanted = set(rules)
        return sorted(
            {
                k.asset_key.path[0]
                for k in self.checks
                if k.asset_key.path[-1] == asset and k.name in wanted
            }
            - set(self.failed)
        )

    def available(
        self, index: str, has: Callable[[date], bool], what: str
    ) -> tuple[list[date], list[date]] | None:
        """The run's dates of `index` with `what` and those without; None, with the index
        failed, when none has it (or the one date asked has not): in a range, history has gaps
        B3 will never fill, so dates without it are only skipped."""
        present = [day for day in self.dates if has(day)]
        missing = [day for day in self.dates if day not in present]
        if missing and (len(self.dates) == 1 or not present):
            self.fail(index, f"no {what} for {', '.join(map(str, missing))}")
            return None
        return present, missing

    def fail(self, index: str, reason: str) -> None:
        self.failed[index] = reason
        self.context.log.error(f"{self.name(index)}: {reason}")

    def name(self, index: str) -> str:
        return f"{index} {self.family}".strip()


def finish(*runs: ChainRun) -> None:
    """Fails the step naming every index (and family) that did not make it."""
    failed = {run.name(index): why for run in runs for index, why in run.failed.items()}
    if failed:
        first = runs[0]
        every = {k.path[0] for k in first.keys} | {k.asset_key.path[0] for k in first.checks}
        lines = "; ".join(f"{name}: {why}" for name, why in sorted(failed.items()))
        raise dg.Failure(
            f"{len({n.split()[0] for n in failed})} of {len(every)} indices failed: {lines}",
            metadata={"indices_failed": sorted(failed)},
        )


DESCRIPTIONS = {
    RAW: "B3's GetPortfolioDay response of the index for the date, byte for byte (all pages "
    "merged). B3 serves only the current portfolio: a captured unit is kept, the served one is "
    "fetched, any other date fails with the way to import it from B3's CSV.",
    BRONZE: "The whole response as Parquet: B3's strings untouched, plus ingestion columns.",
    LAKE: "The bronze file in the lake as raw/INDEX/DATE/dados_originais.parquet: the refine's "
    "input. A unit whose bronze file breaks a blocking rule is not uploaded.",
    CATALOG: "The index's refined partitions registered for SQL (carteira_*, and ibov_* for "
    "IBOV): DuckDB views locally, Glue Data Catalog on AWS. Units whose refined rows break a "
    "blocking rule are refused.",
}
PREVIEW_DESCRIPTIONS = {
    PREVIEW_RAW: "B3's preview of the next quadrimester (GetQuartelyPreview) and its current "
    "theoretical portfolio (GetTheoricalPortfolio) of the index, byte for byte, filed under the "
    "capture session (their header has no date) with the quadrimester the preview forecasts. B3 "
    "serves them only now: a day without a preview (outside the weeks before a rebalance) is "
    "recorded as 'none served', not an error.",
    PREVIEW_BRONZE: "Every served answer of the session as Parquet (B3's strings untouched, "
    "`_carteira` previa or teorica), plus ingestion columns.",
    PREVIEW_LAKE: "The preview bronze file in the lake as previa/raw/INDEX/DATE/"
    "dados_originais.parquet: the preview refine's input (never a daily refine's).",
}
KINDS = {
    RAW: {"json"},
    BRONZE: {"parquet"},
    LAKE: {"parquet", "s3"},
    CATALOG: {"duckdb", "glue"},
}
UPSTREAM = {RAW: [], BRONZE: [RAW], LAKE: [BRONZE], CATALOG: list(PORTFOLIO_TABLES)}


def chain_specs(indices: Sequence[str]) -> list[dg.AssetSpec]:
    specs = []
    for index in indices:
        common = {
            "group_name": index,
            "partitions_def": trading_date_partitions,
            "tags": {"b3/index": index},
            "skippable": True,
        }
        for name in (RAW, BRONZE, LAKE):
            specs.append(
                dg.AssetSpec(
                    asset_key(index, name),
                    deps=[asset_key(index, up) for up in UPSTREAM[name]],
                    description=DESCRIPTIONS[name],
                    kinds=KINDS[name],
                    **common,
                )
            )
        for name, table in PORTFOLIO_TABLES.items():
            also = (
                f" and IBOV alone as ibov_{name[9:]}" if name in TABLES and index == "IBOV" else ""
            )
            specs.append(
                dg.AssetSpec(
                    asset_key(index, name),
                    deps=[asset_key(index, "carteira_ativos" if name in ANALYTIC_TABLES else LAKE)],
                    description=f"{table.description} Rows of {index}; query every index as "
                    f"{name}{also}.",
                    kinds={"parquet", "sql"},
                    metadata={"dagster/column_schema": contract_schema(table)},
                    **common,
                )
            )
        specs.append(
            dg.AssetSpec(
                asset_key(index, CATALOG),
                deps=[asset_key(index, up) for up in UPSTREAM[CATALOG]],
                description=DESCRIPTIONS[CATALOG],
                kinds=KINDS[CATALOG],
                **common,
            )
        )
        upstream = None
        for name in PREVIEW_CAPTURE_STAGES:
            specs.append(
                dg.AssetSpec(
                    asset_key(index, name),
                    deps=[asset_key(index, upstream)] if upstream else [],
                    description=PREVIEW_DESCRIPTIONS[name],
                    kinds=KINDS[{PREVIEW_RAW: RAW, PREVIEW_BRONZE: BRONZE}.get(name, LAKE)],
                    **common,
                )
            )
            upstream = name
        for name, table in PREVIEW_TABLES.items():
            deps = {
                "carteira_previa": [PREVIEW_LAKE],
                "carteira_previa_mudancas": ["carteira_previa", "carteira_ativos"],
            }[name]
            specs.append(
                dg.AssetSpec(
                    asset_key(index, name),
                    deps=[asset_key(index, up) for up in deps],
                    description=f"{table.description} Rows of {index}; query every index as "
                    f"{name}.",
                    kinds={"parquet", "sql"},
                    metadata={"dagster/column_schema": contract_schema(table)},
                    **common,
                )
            )
    return specs


def build_assets(indices: Sequence[str]) -> list[dg.AssetsDefinition]:
    """The chain of every index as one multi-asset (the definitions hold every index configured
    or held): a run of any indices and dates is one step, so the refine is one engine run."""

    @dg.multi_asset(
        name="index_portfolios",
        specs=chain_specs(indices),
        check_specs=chain_check_specs(indices),
        partitions_def=trading_date_partitions,
        backfill_policy=SINGLE_RUN,
        can_subset=True,
    )
    def index_portfolios(
        context: dg.AssetExecutionContext,
        b3_api: B3ApiResource,
        capture_store: CaptureStoreResource,
        lake: LakeResource,
        refiner: RefinerResource,
        catalog: CatalogResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """Each selected stage in order, for the selected indices and dates; an index that fails
        a stage (B3 error, nothing captured, a blocking rule) stops there and is named when the
        step ends, after every other index has gone through."""
        run, previews = ChainRun(context), ChainRun(context, "preview")
        served_now = yield from _raw(run, b3_api, capture_store)
        yield from _preview_capture(previews, b3_api, capture_store, lake, served_now)
        bronze_findings = yield from _bronze(run, capture_store)
        yield from _lake(run, capture_store, lake, bronze_findings)
        yield from _refine(run, lake, refiner)
        refined = yield from _refined_checks(run, lake)
        yield from _catalog(run, lake, catalog, refined)
        yield from _preview_refine(previews, lake, refiner, catalog)  # after today's portfolio
        finish(run, previews)

    return [index_portfolios]


def _raw(
    run: ChainRun, b3_api: B3ApiResource, capture_store: CaptureStoreResource
) -> Generator[dg.MaterializeResult, None, dict[str, set[date]]]:
    """In a range, dates that cannot be fetched (another date served, or B3 unreachable) are
    skipped and named, so a backfill over captured history works without B3. Returns each
    index's dates fetched now: the session B3 is serving.

    A real capture replaces a held offline sample; an offline run keeps B3's data it finds (both
    named in the metadata and the log)."""
    fetch = b3_api.fetcher()
    served_now: dict[str, set[date]] = {}
    for index in run.indices(RAW):
        captured, fetched, refused, unreachable, b3_error = [], [], [], [], ""
        sample_replaced, real_kept = [], []
        for day in run.dates:
            unit = Unit(index, day)
            held = capture_store.held_capture(unit)
            try:
                capture, was_fetched = capture_store.capture(unit, fetch, b3_api.origin)
            except (DateNotServedError, B3ApiError) as exc:
                (refused if isinstance(exc, DateNotServedError) else unreachable).append(day)
                b3_error = str(exc)
                continue
            captured.append(capture)
            if was_fetched:
                fetched.append(day)
                served_now.setdefault(index, set()).add(day)
            if was_fetched and held is not None and held.is_sample and not capture.is_sample:
                sample_replaced.append(day)
                run.context.log.info(f"replaced the offline sample of {unit} with B3's")
            elif b3_api.offline and not capture.is_sample:
                real_kept.append(day)
                run.context.log.info(
                    f"kept {unit}: B3's data ({capture.origin}); the offline sample never "
                    "replaces it"
                )
        if not captured:
            run.fail(index, b3_error or "B3 serves only the current portfolio")
            continue
        if unreachable:
            run.context.log.warning(
                f"{index}: skipping {len(unreachable)} uncaptured date(s) B3 could not be "
                f"asked for ({b3_error}): {', '.join(map(str, unreachable))}"
            )
        newest = captured[-1]
        yield dg.MaterializeResult(
            asset_key=asset_key(index, RAW),
            metadata={
                "index": index,
                "path": dg.MetadataValue.path(
                    str(capture_store.raw_path(Unit(index, newest.trading_date)))
                ),
                "sha256": newest.sha256,
                "source_url": dg.MetadataValue.url(newest.source_url)
                if newest.source_url.startswith("http")
                else newest.source_url,
                "origin": newest.origin,
                "origin_means": ORIGINS[newest.origin],
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
                "dates_offline_sample": [str(c.trading_date) for c in captured if c.is_sample],
                "dates_sample_replaced": [str(d) for d in sample_replaced],
                "dates_real_data_kept": [str(d) for d in real_kept],
                "b3_error": b3_error,
            },
        )
    return served_now


def _bronze(
    run: ChainRun, capture_store: CaptureStoreResource
) -> Generator[dg.MaterializeResult | dg.AssetCheckResult, None, dict[Unit, list]]:
    """Builds the bronze files, then B3's invariants and the drift on them (the lake stage
    refuses a unit that breaks an invariant). Returns the invariants' findings per unit."""
    built: dict[Unit, pa.Table] = {}  # the bronze tables this run built, read back from none

    @cache
    def response_of(unit: Unit) -> dict:
        table = built.get(unit)
        if table is None:
            return capture_store.bronze_response(unit)
        return response_from_bronze(table)

    findings: dict[Unit, list[quality.Finding]] = {}
    for index in run.indices(BRONZE):
        found = run.available(
            index, lambda day, i=index: capture_store.has_capture(Unit(i, day)), "raw capture"
        )
        if found is None:
            continue
        present, missing = found
        rows, written, path, table = 0, [], None, None
        for day in present:
            path, table, changed = capture_store.bronze(Unit(index, day))
            built[Unit(index, day)] = table
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
    for index in sorted(set(run.indices(LAKE)) | set(run.checked(BRONZE, BRONZE_RULES))):
        for day in run.dates:
            unit = Unit(index, day)
            if unit in built or capture_store.has_bronze(unit):
                findings[unit] = quality.bronze_findings(response_of(unit), day)
    for index in run.checked(BRONZE, BRONZE_RULES):
        mine = {u.day: f for u, f in findings.items() if u.index == index}
        yield from report(run, asset_key(index, BRONZE), BRONZE_RULES, mine)
    for index in run.checked(BRONZE, [DRIFT]):
        yield from report(
            run,
            asset_key(index, BRONZE),
            {DRIFT: ""},
            drift_findings(set(capture_store.bronze_dates(index)), response_of, index, run.dates),
            dg.AssetCheckSeverity.WARN,
        )
    return findings


def _lake(
    run: ChainRun,
    capture_store: CaptureStoreResource,
    lake: LakeResource,
    findings: dict[Unit, list[quality.Finding]],
) -> Iterator[dg.MaterializeResult]:
    for index in run.indices(LAKE):
        found = run.available(
            index, lambda day, i=index: capture_store.has_bronze(Unit(i, day)), "bronze file"
        )
        if found is None:
            continue
        present, missing = found
        bad = {}
        for day in present:
            broken = quality.failed(findings.get(Unit(index, day), []))
            if broken:
                bad[day] = "; ".join(f"{f.rule}: {f.message}" for f in broken)
        if bad:
            run.fail(
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


def _refine(
    run: ChainRun, lake: LakeResource, refiner: RefinerResource
) -> Iterator[dg.MaterializeResult]:
    """carteira_ativos, carteira_header and carteira_setores from the refine SQL of glue/sql,
    then the analytic tables from carteira_ativos: every selected index and date in one engine
    run, only the partitions those units change replaced (an index is refined with all six
    tables; the analytics also rewrite the months and next sessions the units touch)."""
    indices = sorted({i for name in PORTFOLIO_TABLES for i in run.indices(name)})
    units, skipped = [], {}
    for index in indices:
        found = run.available(
            index,
            lambda day, i=index: lake.exists(raw_object_key(Unit(i, day))),
            "raw object in the lake",
        )
        if found is None:
            continue
        present, missing = found
        units += [Unit(index, day) for day in present]
        skipped[index] = [str(d) for d in missing]
    outputs = refiner.refine(run.context, lake, units) if units else {}
    for index in sorted(skipped):
        newest = max((u for u in units if u.index == index), default=None)
        started = time.perf_counter()
        charts = analytics_metadata(lake, newest) if newest and outputs else {}
        for figures in charts.values():
            figures["charts_seconds"] = round(time.perf_counter() - started, 3)
        for name, output in outputs.items():
            if asset_key(index, name) not in run.keys:
                continue
            metadata = {
                **output_metadata(index, PORTFOLIO_TABLES[name], output, "rows_by_date"),
                "units_in_engine_run": len(units),
                "dates_skipped": skipped[index],
            }
            if name == "carteira_ativos" and output.preview is not None:
                mine = output.preview.filter(pc.equal(output.preview["indice"], index))
                metadata["top_10_weights"] = dg.MetadataValue.md(top_weights_from_ativos(mine))
            metadata |= charts.get(name, {})
            yield dg.MaterializeResult(asset_key=asset_key(index, name), metadata=metadata)


def output_metadata(index: str, table: RefinedTable, output: TableOutput, by: str) -> dict:
    """What a refine wrote of one table for one index: rows per date (`by` names them)."""
    rows = {str(u.day): n for u, n in sorted(output.rows_by_unit.items()) if u.index == index}
    return {
        **output.details,
        "index": index,
        "dagster/row_count": sum(rows.values()),
        "dagster/column_schema": contract_schema(table),
        "location": output.location,
        "files_written_in_run": output.files,
        by: rows,
    }


def _refined_checks(
    run: ChainRun, lake: LakeResource
) -> Generator[dg.AssetCheckResult, None, dict[Unit, dict]]:
    """The refined rules of each unit, read back from the lake (also in a run without the
    refine, like the one that records a Lambda-started refine). Returns them per unit, for the
    catalog stage."""
    wanted = {
        index for name, rules in REFINED_RULES.items() for index in run.checked(name, rules)
    } | set(run.indices(CATALOG))
    found: dict[Unit, dict] = {}
    for index in sorted(wanted):
        for day in run.dates:
            by_table = refined_findings(lake, Unit(index, day))
            if by_table is not None:
                found[Unit(index, day)] = by_table
    for name, rules in REFINED_RULES.items():
        for index in run.checked(name, rules):
            mine = {u.day: f[name] for u, f in found.items() if u.index == index}
            chosen = {
                rule: text
                for rule, text in rules.items()
                if dg.AssetCheckKey(asset_key(index, name), rule) in run.checks
            }
            yield from report(run, asset_key(index, name), chosen, mine)
    return found


def _catalog(
    run: ChainRun, lake: LakeResource, catalog: CatalogResource, found: dict[Unit, dict]
) -> Iterator[dg.MaterializeResult]:
    good: list[Unit] = []
    for index in run.indices(CATALOG):
        bad, seen = {}, []
        for day in run.dates:
            by_table = found.get(Unit(index, day))
            if by_table is None:
                continue
            seen.append(day)
            failed = [
                f"{name}.{f.rule}: {f.message}"
                for name, fs in by_table.items()
                for f in quality.failed(fs)
            ]
            if failed:
                bad[day] = failed
        if bad:
            lines = "; ".join(f"{day}: {' | '.join(why)}" for day, why in bad.items())
            run.fail(index, f"refined data fails its checks, not registered: {lines}")
            continue
        if not seen:
            run.fail(index, f"nothing refined for {run.dates[0]}..{run.dates[-1]}")
            continue
        good += [Unit(index, day) for day in seen]
    counts = catalog.register(lake, good) if good else {}
    unit_name = catalog.count_unit
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
            f"{unit_name}_by_table_and_date": dg.MetadataValue.md(
                markdown_table(["table", "date", unit_name], rows)
            ),
        }
        if unit_name == "rows":
            metadata["dagster/row_count"] = sum(
                row[2] for row in rows if row[0].startswith("carteira_")
            )
        yield dg.MaterializeResult(asset_key=asset_key(index, CATALOG), metadata=metadata)


def _preview_capture(
    run: ChainRun,
    b3_api: B3ApiResource,
    capture_store: CaptureStoreResource,
    lake: LakeResource,
    served_now: dict[str, set[date]],
) -> Iterator[dg.MaterializeResult]:
    """The preview's raw, bronze and lake stages. B3 serves the preview of now only, so it is
    asked for the session B3 is serving (the daily portfolio this run fetched, else today's;
    offline, any session has its sample), a captured one is kept (a held sample is asked again
    of B3, which replaces it; a sample never replaces B3's answers), and a past session never
    captured is named and skipped (no index fails for it)."""
    now = current_session()
    for index in run.indices(PREVIEW_RAW):
        held, fetched, none_served, not_captured, sample_replaced = [], [], [], [], []
        for day in run.dates:
            unit = Unit(index, day)
            fetch = None
            if b3_api.offline or day == now or day in served_now.get(index, set()):
                fetch = partial(b3_api.fetch_theoretical, index, day=day)
            before = capture_store.preview_capture(unit)
            try:
                capture, was_fetched = capture_store.capture_previews(unit, fetch, b3_api.origin)
            except B3ApiError as exc:
                run.fail(index, f"B3's preview or theoretical portfolio: {exc}")
                break
            if capture is None:
                not_captured.append(day)
                continue
            held.append(capture)
            if was_fetched:
                fetched.append(day)
            if was_fetched and before is not None and before.origin == SAMPLE != capture.origin:
                sample_replaced.append(day)
                run.context.log.info(f"replaced the offline sample of {unit}'s preview with B3's")
            if not capture.served("previa"):
                none_served.append(day)
        if index in run.failed:
            continue
        if not_captured:
            run.context.log.warning(
                f"{index}: no preview captured for {len(not_captured)} past session(s), and B3 "
                f"serves only today's ({now}): {', '.join(map(str, not_captured))}"
            )
        if not held:
            continue
        newest = held[-1]
        previa = newest.answers.get("previa")
        yield dg.MaterializeResult(
            asset_key=asset_key(index, PREVIEW_RAW),
            metadata={
                "index": index,
                "session": str(newest.unit.day),
                "path": dg.MetadataValue.path(str(capture_store.preview_raw_dir(newest.unit))),
                "preview_served": newest.served("previa"),
                "theoretical_served": newest.served("teorica"),
                "target_quadrimester": newest.quadrimester,
                "origin": previa.origin if previa else "none",
                "source_url": previa.source_url if previa else "",
                "sessions_fetched_now": [str(d) for d in fetched],
                "sessions_sample_replaced": [str(d) for d in sample_replaced],
                "sessions_none_served": [str(d) for d in none_served],
                "sessions_not_captured": [str(d) for d in not_captured],
            },
        )
    for index in run.indices(PREVIEW_BRONZE):
        captured = [d for d in run.dates if capture_store.preview_capture(Unit(index, d))]
        rows, written, served, path = 0, [], [], None
        for day in captured:
            path_now, table, changed = capture_store.preview_bronze(Unit(index, day))
            if table is None:
                continue
            path, rows = path_now, rows + table.num_rows
            served.append(day)
            if changed:
                written.append(str(day))
        if not captured:
            continue
        yield dg.MaterializeResult(
            asset_key=asset_key(index, PREVIEW_BRONZE),
            metadata={
                "index": index,
                "dagster/row_count": rows,
                "path": dg.MetadataValue.path(str(path)) if path else "none: nothing served",
                "sessions_written": written,
                "sessions_with_answers": [str(d) for d in served],
                "sessions_nothing_served": [str(d) for d in captured if d not in served],
            },
        )
    for index in run.indices(PREVIEW_LAKE):
        units = [Unit(index, d) for d in run.dates]
        present = [u for u in units if capture_store.preview_bronze_path(u).exists()]
        if not present:
            continue
        objects = [
            lake.put_file(preview_object_key(u), capture_store.preview_bronze_path(u))
            for u in present
        ]
        yield dg.MaterializeResult(
            asset_key=asset_key(index, PREVIEW_LAKE),
            metadata={
                "index": index,
                "uri": objects[-1].uri,
                "objects_uploaded": sum(o.changed for o in objects),
                "objects_unchanged": sum(not o.changed for o in objects),
                "sessions": [str(u.day) for u in present],
            },
        )


def preview_units(lake: LakeResource, index: str, dates: Sequence[date]) -> list[Unit]:
    """The sessions a preview refine covers: those with a preview object, and the first sessions
    of a quadrimester (the rebalance the last preview forecast) once the index has any preview."""
    units = [Unit(index, day) for day in dates]
    with_object = [u for u in units if lake.exists(preview_object_key(u))]
    has_any = bool(with_object) or bool(
        lake.list_objects(f"{PREVIEW_TABLES['carteira_previa'].index_prefix(index)}/")
    )
    rebalances = [u for u in units if has_any and is_rebalance_session(u.day)]
    return sorted(set(with_object) | set(rebalances))


def _preview_refine(
    run: ChainRun, lake: LakeResource, refiner: RefinerResource, catalog: CatalogResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """carteira_previa and carteira_previa_mudancas of the selected indices' sessions in one
    engine run, then the preview rules on what the lake holds."""
    indices = sorted({i for name in PREVIEW_TABLES for i in run.indices(name)})
    units = [unit for index in indices for unit in preview_units(lake, index, run.dates)]
    outputs = refiner.refine_previews(run.context, lake, units) if units else {}
    if outputs:
        catalog.register_previews(lake)
    for index in indices:
        mine = [u for u in units if u.index == index]
        if not mine:
            run.context.log.info(f"{index}: no preview in the lake for these sessions")
            continue
        for name, output in outputs.items():
            if asset_key(index, name) not in run.keys:
                continue
            metadata = output_metadata(index, PREVIEW_TABLES[name], output, "rows_by_session")
            metadata |= preview_metadata(lake, name, mine)
            yield dg.MaterializeResult(asset_key=asset_key(index, name), metadata=metadata)
    for index in run.checked("carteira_previa", PREVIEW_RULES):
        found = {}
        for day in run.dates:
            findings = lake_preview_findings(lake, Unit(index, day))
            if findings is not None:
                found[day] = findings
        if not found:  # no preview in these sessions: nothing to judge, no verdict
            continue
        chosen = {
            rule: text
            for rule, text in PREVIEW_RULES.items()
            if dg.AssetCheckKey(asset_key(index, "carteira_previa"), rule) in run.checks
        }
        yield from report(run, asset_key(index, "carteira_previa"), chosen, found)


def stage_keys(indices: Sequence[str], *names: str) -> list[dg.AssetKey]:
    """The keys of these stages (by asset name) for these indices."""
    return [asset_key(index, name) for index in indices for name in names]


CAPTURE_STAGES = (RAW, BRONZE, LAKE)
REFINE_STAGES = (*PORTFOLIO_TABLES, CATALOG)
PREVIEW_CAPTURE_STAGES = (PREVIEW_RAW, PREVIEW_BRONZE, PREVIEW_LAKE)
PREVIEW_REFINE_STAGES = tuple(PREVIEW_TABLES)
