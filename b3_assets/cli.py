"""The `b3` command: run the pipeline, import B3's CSV downloads, query the refined tables.

It materializes the same Dagster assets the UI does (with the DAGSTER_HOME instance when that is
set, so the runs show in `dagster dev`), and prints where everything went.
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from b3_assets.progress import Progress, say
from b3_assets.settings import Settings

if TYPE_CHECKING:
    from b3_contract.lake_keys import Unit


class CliError(Exception):
    """A failure to report in one clear line, without a traceback."""


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date in YYYY-MM-DD form: {text!r}") from None


def _instance():
    import os

    import dagster as dg

    return (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )


def _materialize(
    settings: Settings,
    indices: Sequence[str],
    day: date,
    offline: bool,
    last: date | None = None,
    stages: Sequence[str] | None = None,
):
    """Runs the chain (or its `stages`) for `indices` on a date, or a range up to `last`, in one
    run. Returns ({asset: metadata of its last materialization}, the problem or None)."""
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from b3_assets.definitions import build_definitions
    from b3_assets.defs.assets import CAPTURE_STAGES, REFINE_STAGES, stage_keys
    from b3_assets.defs.partitions import range_tags
    from b3_assets.defs.results import check_line, failed_checks, materialized_metadata, problem

    defs = build_definitions(settings, offline=offline, extra_indices=indices)
    tags = {"b3/source": "cli"}
    one_date = last is None or last == day
    if not one_date:
        tags |= range_tags(day, last)
    keys = stage_keys(indices, *(stages or (*CAPTURE_STAGES, *REFINE_STAGES)))
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(keys))
    result = job.execute_in_process(
        resources=defs.resources,
        partition_key=day.isoformat() if one_date else None,
        instance=_instance(),
        raise_on_error=False,
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    checks = failed_checks(result)
    for evaluation in checks.warnings:
        say(f"warning: {check_line(evaluation)}")
    return materialized_metadata(result), problem(
        result, str(day) if one_date else f"{day}..{last}"
    )


def _check_trading_day(day: date) -> None:
    from b3_assets.source.trading_calendar import non_trading_kind

    try:
        kind = non_trading_kind(day)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if kind:
        raise CliError(f"{day} is not a B3 trading day ({kind}); B3 publishes no portfolio for it")


def _check_layout(settings: Settings) -> None:
    """An earlier IBOV-only data dir is never written over in the new layout: upgrade first."""
    from b3_assets.lake.upgrade import needs_upgrade

    if needs_upgrade(settings.data_path):
        raise CliError(
            f"{settings.data_path} holds data in the earlier IBOV-only layout (no index in its "
            "paths); run `b3 upgrade` to move it to the multi-index layout (`b3 upgrade "
            "--dry-run` lists the moves), then run this again"
        )


def _queries(settings: Settings):
    """The query function of `b3 query` and `b3 report`. Locally it is the DuckDB catalog's
    own (what DuckDBQueryResource runs), without loading Dagster: a second and a half of a
    report's four seconds."""
    if settings.env == "local":
        from b3_assets.refine.catalog import catalog_lock, register_tables, run_query

        _check_layout(settings)
        catalog = settings.data_path / "catalog.duckdb"
        if catalog.exists():  # a catalog made before a table existed gets its view
            with catalog_lock(catalog):
                register_tables(catalog, settings.data_path / "lake")
        return lambda sql: run_query(catalog, sql)
    from b3_assets.defs.resources import resources_for

    return resources_for(settings)["queries"].query


def _print_summary(settings: Settings, index: str, day: date, out: dict[str, dict]) -> None:
    from b3_contract.tables import PORTFOLIO_TABLES

    def meta(name: str) -> dict | None:
        return out.get(f"{index}/{name}")

    raw, bronze, lake = meta("portfolio_raw"), meta("portfolio_bronze"), meta("lake_raw_object")
    if raw is None or bronze is None or lake is None:
        print(f"{index} {day}: not captured (see the error below)")
        return
    state = "fetched now" if raw["dates_fetched_now"] else "already captured, kept as is"
    print(f"{index} {day}  ({raw['source_url']}, {raw['pages']} page(s))")
    _print_origin(index, day, raw)
    print(f"  raw      {raw['path']}  [{state}]")
    print(f"  bronze   {bronze['path']}  [{bronze['dagster/row_count']} rows]")
    print(f"  lake     {lake['uri']}  [{'uploaded' if lake['objects_uploaded'] else 'unchanged'}]")
    if meta("carteira_ativos") is None:
        if settings.lambda_refines:  # the S3 event starts the refine
            print(
                f"  refine   started by the Lambda on the S3 event (Glue job {settings.glue_job}); "
                "glue_job_runs_sensor records it in Dagster"
            )
            if not lake["objects_uploaded"]:
                print(
                    "           (the object was unchanged, so S3 sent no event: nothing to refine)"
                )
        return
    for table in PORTFOLIO_TABLES:
        info = meta(table) or {}
        rows = info.get("rows_by_date", {}).get(day.isoformat(), 0)
        part = f"mes={day:%Y-%m}" if table == "carteira_historico" else f"data={day}"
        where = f"{info.get('location')}/indice={index}/{part}"
        print(f"  {table:<21} {where}  [{rows} row{'s' * (rows != 1)}]")
    changes = meta("carteira_mudancas") or {}
    if changes.get("sessions_since_previous"):
        print(
            f"  changes  since {changes['previous_captured_session']} "
            f"({changes['sessions_since_previous']} session(s) before): "
            f"{changes['entries']} entered, {changes['exits']} left, "
            f"{changes['quantity_changes']} quantity change(s)"
        )
    elif changes:
        print("  changes  none: no earlier session of the index is captured, or nothing moved")
    catalog = meta("catalog")
    if catalog:
        print(f"  catalog  {catalog['catalog']}  [{', '.join(catalog['tables'])}]")
    _print_preview(meta)
    top = (meta("carteira_ativos") or {}).get("top_10_weights")
    if top:
        print(f"\n{index} top weights:")
        for line in top.splitlines()[2:9]:
            print("  " + line)


def _print_origin(index: str, day: date, raw: dict) -> None:
    """One line when the data is not simply what B3 served now: the offline sample (invented,
    not B3's), a sample that B3's capture replaced, or B3's data an offline run kept."""
    from b3_contract.origins import SAMPLE

    if str(day) in raw.get("dates_sample_replaced", []):
        print(f"  replaced the offline sample of {index} {day} with B3's capture")
    elif str(day) in raw.get("dates_real_data_kept", []):
        print(
            f"  kept B3's data of {index} {day} (origem {raw['origin']}): the offline sample "
            "never overwrites it"
        )
    elif raw.get("origin") == SAMPLE:
        print(
            f"  the offline sample, not B3's data: invented, stored with origem '{SAMPLE}'; a "
            f"real capture or `b3 import` of {index} {day} replaces it"
        )


def _print_preview(meta: Any) -> None:
    """One or two lines on the session's preview: served or not, and what it forecasts."""
    raw, changes = meta("preview_raw"), meta("carteira_previa_mudancas")
    if raw is None:
        return
    if raw["session"] in raw.get("sessions_sample_replaced", []):
        print(f"  replaced the offline sample of the preview of {raw['session']} with B3's answers")
    if not raw["preview_served"]:
        teorica = "theoretical portfolio captured" if raw["theoretical_served"] else "nor any"
        who = "the offline sample" if raw["source_url"].startswith("offline") else "B3"
        print(f"  preview  none served by {who} on {raw['session']} (recorded; {teorica})")
        return
    line = f"  preview  {raw['target_quadrimester']} captured on {raw['session']}"
    if changes and changes.get("session") == raw["session"]:
        line += (
            f": {changes['entering']} entering, {changes['leaving']} leaving against the "
            f"portfolio of {changes['compared_with_portfolio_of']}"
        )
    print(line)


def _daily_stages(settings: Settings, previews: bool = True) -> tuple[str, ...]:
    """What a new date runs: the capture (with B3_TRIGGER=lambda the upload makes the Lambda
    refine), then the refine. `previews=False` (imports of past dates) asks B3 for no preview;
    the preview refine still runs, for a rebalance session the last preview forecast."""
    from b3_assets.defs.assets import CAPTURE_STAGES
    from b3_assets.defs.jobs import CAPTURING, REFINING

    capture = CAPTURING if previews else CAPTURE_STAGES
    return capture if settings.lambda_refines else (*capture, *REFINING)


def _real_capture(settings: Settings, day: date, index: str) -> bool:
    """Whether B3's own data of (index, day) is held: the offline sample does not count."""
    from b3_assets.capture.raw import read_capture

    capture = read_capture(settings.data_path, day, index)
    return capture is not None and not capture.is_sample


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.defs.resources import b3_api_resource
    from b3_assets.source.b3_client import B3ApiError
    from b3_assets.source.served_date import not_served_message
    from b3_assets.source.trading_calendar import current_session

    _check_layout(settings)
    indices = list(dict.fromkeys(args.index or settings.index_codes))
    if args.sample_past_session and not args.offline:
        raise CliError("--sample-past-session goes with --offline (the sample is what it writes)")
    if args.date is not None:
        _check_trading_day(args.date)
    captured = args.date is not None and all(
        _real_capture(settings, args.date, index) for index in indices
    )
    if args.offline:
        day = args.date or current_session()
        if day < current_session() and not args.sample_past_session:
            raise CliError(
                f"{day} is a past B3 session, and the offline sample is invented data: "
                f"`b3 run --offline` writes it for a session B3 really traded only with "
                f"--sample-past-session (marked origem 'amostra'; a real import replaces it). "
                f"Nothing was written to {settings.data_path}."
            )
    elif captured:
        day = args.date
    else:
        try:
            served = b3_api_resource(settings).served_date(indices[0])
        except B3ApiError as exc:
            raise CliError(str(exc)) from None
        if args.date is not None and args.date != served:
            raise CliError(not_served_message(args.date, served, indices[0]))
        day = served
    out, problem = _materialize(
        settings, indices, day, args.offline, stages=_daily_stages(settings)
    )
    for index in indices:
        _print_summary(settings, index, day, out)
    if problem:
        raise CliError(problem)
    return 0


def _already_refined(settings: Settings, units: set[Unit]) -> dict[Unit, int]:
    """{unit: constituents} of the units with nothing left to do in the local lake: the bronze
    file is the one the unit's capture makes, the lake's raw object is that very file, and every
    refined partition the unit has (carteira_setores only when the capture has sectors) was
    written after that object. A re-import of years of unchanged files then starts no run (a
    run re-reads and re-checks every partition: minutes for a year of indices). A unit that a
    stopped run left half-done (no raw object, a missing refined partition, or one older than
    its raw object) is not in the answer, so it is run again. The catalog's views are
    (re)created if they are missing; views that are right are left untouched."""
    from b3_assets.capture.bronze import current_bronze
    from b3_assets.lake.local import LocalLake
    from b3_assets.refine.catalog import catalog_lock, register_tables
    from b3_contract.lake_keys import Month, month_prefix, partition_prefix, raw_object_key
    from b3_contract.tables import ANALYTIC_TABLES, TABLES

    lake = LocalLake(settings.data_path / "lake")
    concentracao = ANALYTIC_TABLES["carteira_concentracao"]
    historico = ANALYTIC_TABLES["carteira_historico"]
    done = {}
    for unit in sorted(units):
        bronze = current_bronze(settings.data_path, unit.day, unit.index)
        if bronze is None:
            continue
        raw = lake.path(raw_object_key(unit))
        if not raw.is_file() or not filecmp.cmp(raw, bronze.path, shallow=False):
            continue
        uploaded = raw.stat().st_mtime_ns
        partitions = [
            lake.path(partition_prefix(table.prefix, unit))
            for name, table in TABLES.items()
            if bronze.has_sectors or name != "carteira_setores"
        ]  # and the analytics: every unit has its carteira_concentracao row and historico month
        partitions.append(lake.path(partition_prefix(concentracao.prefix, unit)))
        partitions.append(lake.path(month_prefix(historico.prefix, Month.of(unit))))
        if all(p.is_dir() and p.stat().st_mtime_ns >= uploaded for p in partitions):
            done[unit] = bronze.rows
    if done:
        catalog = settings.data_path / "catalog.duckdb"
        with catalog_lock(catalog):
            register_tables(catalog, lake.root)
    return done


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.capture.previews import (
        import_session,
        read_preview_capture,
        write_preview_import,
    )
    from b3_assets.capture.raw import read_capture, write_import
    from b3_assets.defs.partitions import unit_runs
    from b3_assets.lake.local import LocalLake
    from b3_assets.source.b3_client import canonical_json
    from b3_assets.source.csv_download import NotAPortfolioCsv, QuadrimesterCsv, parse_b3_csv
    from b3_contract.lake_keys import Unit
    from b3_contract.origins import SAMPLE
    from b3_contract.previews import quadrimester_label
    from b3_contract.tables import TABLES

    _check_layout(settings)
    started = time.monotonic()
    failures = 0
    quadrimesters: dict[Unit, QuadrimesterCsv] = {}  # preview units the quadrimester files fill
    imported: set[Unit] = set()
    written: set[Unit] = set()  # units whose capture this import wrote or replaced
    with Progress("b3 import", len(args.files), "files read", start=started) as reading:
        for name in reading.each(args.files, lambda name: Path(name).name):
            path = Path(name)
            try:
                data = path.read_bytes()
                parsed = parse_b3_csv(data, path.name)
            except (OSError, NotAPortfolioCsv) as exc:
                say(f"refused {name}: {exc}")
                failures += 1
                continue
            if isinstance(parsed, QuadrimesterCsv):
                session = Unit(parsed.index, import_session(quadrimester_label(parsed.first_day)))
                held = read_preview_capture(settings.data_path, session)
                capture, _ = write_preview_import(
                    settings.data_path,
                    parsed,
                    canonical_json(parsed.response),
                    path,
                    data,
                    datetime.now(UTC),
                )
                quadrimesters[capture.unit] = parsed
                if held is not None and held.origin == SAMPLE:
                    say(
                        f"replaced the offline sample of {session.index}'s preview of "
                        f"{session.day} with {name}"
                    )
                continue
            unit = Unit(parsed.index, parsed.trading_date)
            try:
                _check_trading_day(unit.day)
            except CliError as exc:
                say(f"refused {name}: {exc}")
                failures += 1
                continue
            raw = canonical_json(parsed.response)
            existing = read_capture(settings.data_path, unit.day, unit.index)
            sample = existing is not None and existing.is_sample  # B3's file replaces it unasked
            same = (
                existing is not None
                and not sample
                and existing.sha256 == hashlib.sha256(raw).hexdigest()
            )
            if existing and not same and not sample and not args.replace:
                say(
                    f"kept {unit}: already captured from {existing.source_url}; "
                    f"use --replace to overwrite it with {name}"
                )
                imported.add(unit)
                continue
            if same:  # write_import would keep it as it is
                imported.add(unit)
                continue
            _, changed = write_import(
                settings.data_path, raw, path, data, unit.index, datetime.now(UTC)
            )
            if sample:
                say(f"replaced the offline sample of {unit.index} {unit.day} with {name}")
            if changed:
                written.add(unit)
            imported.add(unit)
    done = _already_refined(settings, imported - written) if settings.env == "local" else {}
    if done:
        location = LocalLake(settings.data_path / "lake").uri(TABLES["carteira_ativos"].prefix)
        for unit, rows in sorted(done.items()):
            print(
                f"imported {unit.index} {unit.day}: {rows} constituents, unchanged (already "
                f"refined) -> {location}/indice={unit.index}/data={unit.day}"
            )
    units = imported - done.keys()
    runs = unit_runs(units)
    noun = "portfolios uploaded" if settings.lambda_refines else "portfolios refined"
    problems = []
    with Progress("b3 import", len(units), noun, start=started) as refining:
        for number, (indices, first, last) in enumerate(runs, 1):
            refining.working_on(_run_label(number, len(runs), indices, first, last))
            # as `b3 run`: with B3_TRIGGER=lambda the upload makes the Lambda refine, so no
            # refine here
            out, problem = _materialize(
                settings, indices, first, False, last=last, stages=_daily_stages(settings, False)
            )
            if problem:
                problems.append(problem)
            span = str(first) if first == last else f"{first}..{last}"
            with refining.paused():
                for index in indices:
                    _print_imported(settings, index, span, out)
            refining.advance(_units_in(units, indices, first, last))
    problems += _import_previews(settings, quadrimesters)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if failures:
        print(f"{failures} file(s) refused", file=sys.stderr)
    return 1 if failures or problems else 0


def _run_label(number: int, runs: int, indices: Sequence[str], first: date, last: date) -> str:
    """What a progress line says is under way: 'run 2 of 3: IBOV, SMLL 2024-01-02..2024-06-28'."""
    span = str(first) if first == last else f"{first}..{last}"
    return f"run {number} of {runs}: {', '.join(indices)} {span}"


def _units_in(units: set[Unit], indices: Sequence[str], first: date, last: date) -> int:
    """How many of `units` one run of unit_runs covers (what its progress counts as done)."""
    return sum(1 for u in units if u.index in indices and first <= u.day <= last)


def _print_imported(settings: Settings, index: str, span: str, out: dict[str, dict]) -> None:
    """The result lines of one index of one import run."""
    lake = out.get(f"{index}/lake_raw_object")
    ativos = out.get(f"{index}/carteira_ativos")
    if lake is None:
        print(f"not imported {index} {span}: see the error below", file=sys.stderr)
    elif ativos is None:
        print(
            f"imported {index} {span}: {lake['objects_uploaded']} raw object(s) uploaded,"
            f" {lake['objects_unchanged']} unchanged (newest {lake['uri']}); the Lambda "
            f"refines each uploaded one (Glue job {settings.glue_job})"
        )
    else:
        for day, rows in sorted(ativos["rows_by_date"].items()):
            print(
                f"imported {index} {day}: {rows} constituents -> "
                f"{ativos['location']}/indice={index}/data={day}"
            )


def _import_previews(settings: Settings, imported: dict[Unit, Any]) -> list[str]:
    """The preview stages for imported quadrimester files (their capture is written): bronze,
    lake and, unless the Lambda refines, carteira_previa and its changes. After the daily
    files of the same import, so the comparison sees them."""
    from b3_assets.defs.assets import PREVIEW_BRONZE, PREVIEW_LAKE, PREVIEW_REFINE_STAGES
    from b3_assets.defs.partitions import unit_runs
    from b3_contract.previews import quadrimester_label

    stages = (PREVIEW_BRONZE, PREVIEW_LAKE)
    if not settings.lambda_refines:
        stages += PREVIEW_REFINE_STAGES
    problems = []
    for indices, first, last in unit_runs(set(imported)):
        out, problem = _materialize(settings, indices, first, False, last=last, stages=stages)
        if problem:
            problems.append(problem)
        for unit, parsed in sorted(imported.items()):
            if unit.index not in indices or not first <= unit.day <= last:
                continue
            quadrimester = quadrimester_label(parsed.first_day)
            year = parsed.first_day.year
            what = f"{unit.index} quadrimester {quadrimester} ({parsed.months} {year})"
            previa = out.get(f"{unit.index}/carteira_previa")
            lake = out.get(f"{unit.index}/{PREVIEW_LAKE}")
            if lake is None:
                print(f"not imported {what}: see the error below", file=sys.stderr)
            elif previa is None:
                print(
                    f"imported {what} as the preview of {unit.day}: uploaded {lake['uri']}; the "
                    f"Lambda refines it (Glue job {settings.glue_job})"
                )
            else:
                rows = previa["rows_by_session"].get(str(unit.day), 0)
                print(
                    f"imported {what} as the preview of {unit.day} (the last session before it):"
                    f" {rows} tickers -> {previa['location']}/indice={unit.index}/data={unit.day}"
                )
    return problems


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.defs.assets import REFINE_STAGES
    from b3_assets.defs.partitions import unit_runs
    from b3_assets.defs.resources import resources_for
    from b3_assets.source.trading_calendar import is_trading_day, trading_days
    from b3_contract.lake_keys import RAW_PREFIX, raw_key_unit

    _check_layout(settings)
    started = time.monotonic()
    first, last = args.first, args.last
    if first > last:
        raise CliError(f"--from {first} is after --to {last}")
    for day in (first, last):
        try:
            is_trading_day(day)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    days = set(trading_days(first, last))
    if not days:
        raise CliError(f"no B3 trading day from {first} to {last}")
    lake = resources_for(settings)["lake"]
    held = [
        unit
        for item in lake.list_objects(RAW_PREFIX)
        if (unit := raw_key_unit(item.key)) and unit.day in days
    ]
    wanted = set(args.index or {unit.index for unit in held})
    present = sorted(unit for unit in held if unit.index in wanted)
    if not present:
        which = ", ".join(sorted(wanted)) or "any index"
        raise CliError(
            f"no raw data in the lake for {which} on any of the {len(days)} trading dates from "
            f"{first} to {last}: capture them first (`b3 run`, or `b3 import` of B3's CSV "
            "downloads)"
        )
    problems = []
    runs = unit_runs(present)
    with Progress("b3 backfill", len(present), "portfolios refined", start=started) as refining:
        for number, (indices, start, end) in enumerate(runs, 1):
            refining.working_on(_run_label(number, len(runs), indices, start, end))
            out, problem = _materialize(
                settings, indices, start, False, last=end, stages=REFINE_STAGES
            )
            if problem:
                problems.append(problem)
            with refining.paused():
                for index in indices:
                    _print_refined(index, start, end, present, out)
            refining.advance(_units_in(set(present), indices, start, end))
    for index in sorted(wanted):
        missing = sorted(days - {u.day for u in present if u.index == index})
        if missing:
            listed = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
            print(f"{index}: no raw data in the lake for {len(missing)} trading date(s): {listed}")
    if problems:
        raise CliError("\n".join(problems))
    return 0


def _print_refined(
    index: str, start: date, end: date, present: Sequence[Unit], out: dict[str, dict]
) -> None:
    """The result lines of one index of one backfill run: its dates and rows per table."""
    from b3_contract.tables import TABLES

    rows = {name: (out.get(f"{index}/{name}") or {}).get("rows_by_date", {}) for name in TABLES}
    mine = [u.day for u in present if u.index == index and start <= u.day <= end]
    print(f"refined {index}: {len(mine)} captured date(s) from {start} to {end} in one run")
    for day in mine:
        counts = ", ".join(f"{name} {rows[name].get(str(day), 0)}" for name in rows)
        print(f"  {day}  {counts}")


def cmd_indices(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.defs.indices import held_indices
    from b3_assets.source.b3_client import B3ApiError
    from b3_assets.source.index_list import fetch_index_codes, sample_index_list

    try:
        listing = sample_index_list() if args.offline else fetch_index_codes(settings)
    except B3ApiError as exc:
        raise CliError(f"{exc} (`b3 indices --offline` lists the bundled copy)") from None
    configured, held = set(settings.index_codes), held_indices(settings.data_path)
    source = "bundled sample of GetStockIndex" if args.offline else f"{settings.api_url}"
    print(f"{len(listing)} index codes B3 publishes ({source}); * = B3_INDICES, + = held here")
    for code, companies in listing.items():
        marks = ("*" if code in configured else " ") + ("+" if code in held else " ")
        print(f"{marks} {code:<6} {companies:>4} companies")
    for code in sorted((configured | held) - set(listing)):
        marks = ("*" if code in configured else " ") + ("+" if code in held else " ")
        print(f"{marks} {code:<6}  not in B3's list")
    return 0


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.lake import upgrade

    if settings.env == "aws":
        from b3_assets.aws import clients as aws
        from b3_assets.defs.resources import require_bucket

        bucket = require_bucket(settings)
        s3 = aws.client("s3")
        plan = upgrade.plan_bucket(s3, bucket)
        where = f"s3://{bucket}/"
    else:
        s3 = bucket = None
        plan = upgrade.plan_data_dir(settings.data_path)
        where = str(settings.data_path)
    local_plan = upgrade.plan_data_dir(settings.data_path) if settings.env == "aws" else None
    plans = [plan, *([local_plan] if local_plan else [])]
    if all(p.empty and not p.conflicts and not p.strays for p in plans):
        print(f"{where}: already in the multi-index layout, nothing to move")
        return 0
    for line in (line for p in plans for line in p.describe()):
        moving = line.startswith(("move ", "drop "))
        print(("would " if args.dry_run and moving else "") + line)
    if args.dry_run:
        return 0
    if settings.env == "aws":
        done = upgrade.apply_bucket(s3, bucket, plan)
        upgrade.apply_data_dir(settings.data_path, local_plan)
    else:
        done = upgrade.apply_data_dir(settings.data_path, plan)
    units = sorted(done.units)
    if units and settings.env == "local":
        from b3_assets.defs.assets import CATALOG
        from b3_assets.defs.partitions import unit_runs

        for indices, first, last in unit_runs(units):
            _, problem = _materialize(settings, indices, first, False, last=last, stages=(CATALOG,))
            if problem:
                raise CliError(f"moved, but registering the catalog failed: {problem}")
    elif units:
        print(
            "the moved raw objects are new objects under raw/INDEX/DATE/: the Lambda (or "
            "raw_objects_sensor with B3_TRIGGER=dagster) refines them, which registers their "
            "Glue partitions under the new keys"
        )
    conflicts = done.conflicts + (local_plan.conflicts if local_plan else [])
    print(f"upgraded {where}: {len(done.moves)} object(s) moved, {len(units)} unit(s)")
    for conflict in conflicts:
        print(f"conflict, both kept: {conflict}", file=sys.stderr)
    return 1 if conflicts else 0


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.refine.catalog import QueryError, format_table

    try:
        result = _queries(settings)(args.sql)
    except QueryError as exc:
        raise CliError(str(exc)) from None
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    elif args.format == "json":
        rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=1))
    else:
        print(format_table(result))
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.analytics.report import (
        ReportError,
        held_range,
        load_report_data,
        render_report,
        summary,
    )
    from b3_assets.capture.files import atomic_write_bytes
    from b3_assets.refine.catalog import QueryError

    query = _queries(settings)
    try:
        first, last = args.first, args.last
        if first is None or last is None:
            held = held_range(query, args.index)
            if held is None:
                raise CliError(
                    f"no {args.index} portfolio is held (carteira_historico has no row of it): "
                    f"capture or import it first (`b3 run --index {args.index}`, `b3 import`)"
                )
            first, last = first or held[0], last or held[1]
        if first > last:
            raise CliError(f"--from {first} is after --to {last}")
        data = load_report_data(query, args.index, first, last)
        document = render_report(data)
    except (QueryError, ReportError) as exc:
        raise CliError(str(exc)) from None
    try:
        atomic_write_bytes(args.out, document.encode("utf-8"))
    except OSError as exc:
        raise CliError(f"cannot write the report to {args.out}: {exc}") from None
    print(f"wrote {args.out}")
    print(summary(data))
    return 0


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.aws import clients as aws
    from b3_assets.aws.deploy import Target, deploy, deploy_code
    from b3_assets.defs.resources import require_bucket

    target = Target(
        bucket=require_bucket(settings),
        database=settings.glue_database,
        job_name=settings.glue_job,
        role=settings.glue_role,
        region=aws.region() or "us-east-1",
    )
    clients = {name: aws.client(name) for name in ("s3", "glue", "iam", "sts")}
    for step in (deploy_code if args.code_only else deploy)(clients, target):
        print(f"{step.state:<10} {step.what}")
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """The first-deploy self-test (b3_assets/aws/verify.py); the CLI only wires it up."""
    if settings.env != "aws":
        raise CliError(
            "b3 verify tests an AWS deployment: set B3_ENV=aws and B3_BUCKET (docs/aws.md)"
        )
    from b3_assets.aws import clients as aws
    from b3_assets.aws.verify import RESERVED_INDEX, SAMPLE_DAY, SelfTest, VerifyTarget
    from b3_assets.defs.resources import require_bucket, resources_for
    from b3_assets.testing.sample import sample_portfolio

    resources: dict[str, Any] = resources_for(settings)
    target = VerifyTarget(
        bucket=require_bucket(settings),
        database=settings.glue_database,
        job_name=settings.glue_job,
        trigger=settings.trigger,
    )
    print(
        f"self-test of s3://{target.bucket}, Glue job {target.job_name}, database "
        f"{target.database} and Athena workgroup {settings.athena_workgroup}, with the offline "
        f"sample of {RESERVED_INDEX} {SAMPLE_DAY} (a code reserved for it; B3 never uses it)",
        flush=True,
    )
    report = SelfTest(
        aws.client("s3"),
        aws.client("glue"),
        resources["refiner"].launcher(),
        resources["queries"].queries(),
        target,
        sample_portfolio(SAMPLE_DAY, 2, RESERVED_INDEX),
        out=lambda line: print(line, flush=True),
        remove_leftovers=args.remove_leftovers,
    ).run()
    if report.ok:
        print("verified: the deployment refines, catalogs and answers as the local engine does")
        return 0
    if report.failure:
        print(f"error: self-test failed at {report.failure}", file=sys.stderr)
    for problem in report.cleanup_problems:
        print(f"error: cleanup: {problem}", file=sys.stderr)
    return 1


def cmd_package_lambda(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.aws.deploy import LAMBDA_PACKAGE_DIR, write_lambda_package

    out = args.out or LAMBDA_PACKAGE_DIR
    for path in write_lambda_package(out):
        print(f"wrote      {path}")
    where = "infra/template.yaml's CodeUri" if out == LAMBDA_PACKAGE_DIR else "not the template's"
    print(f"the Lambda's deployment package is {out}/ ({where})")
    return 0


def index_code(text: str) -> str:
    from b3_contract.lake_keys import IndexCodeError, check_index

    try:
        return check_index(text.strip().upper())
    except IndexCodeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# The last line of each subcommand's --help: one command line that works as written.
EXAMPLES = {
    "run": "b3 run --index IBOV --index SMLL",
    "import": "b3 import ~/Downloads/IBOVDia_*.csv",
    "backfill": "b3 backfill --from 2025-02-01 --to 2025-03-31 --index IBOV",
    "indices": "b3 indices --offline",
    "query": (
        'b3 query "SELECT indice, count(*) AS n FROM carteira_ativos GROUP BY 1" --format csv'
    ),
    "report": "b3 report --index IBOV --from 2025-01-02 --to 2025-06-30 -o report.html",
    "upgrade": "b3 upgrade --dry-run",
    "deploy": "B3_ENV=aws B3_BUCKET=my-b3-lake b3 deploy",
    "verify": "B3_ENV=aws B3_BUCKET=my-b3-lake b3 verify",
    "package-lambda": "b3 package-lambda --out build/lambda",
}


def installed_version() -> str:
    """The version of the installed b3-lake distribution (pyproject.toml's), for `b3 --version`."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("b3-lake")
    except PackageNotFoundError:  # run from a checkout that was never `pip install`ed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b3",
        description="Capture, refine and query the daily portfolios of B3's indices.",
    )
    parser.add_argument("--version", action="version", version=f"b3-lake {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="materialize the whole chain for the portfolios B3 is serving now"
    )
    run.add_argument(
        "--date",
        type=parse_date,
        help="trading date (YYYY-MM-DD); must be the date B3 serves, or one already captured",
    )
    run.add_argument(
        "--index",
        action="append",
        type=index_code,
        metavar="CODE",
        help="an index to fetch (repeatable); default: B3_INDICES (IBOV)",
    )
    run.add_argument(
        "--offline",
        action="store_true",
        help="use the bundled generator of sample responses (invented data, stored with origem "
        "'amostra'; any real capture or import of the same date replaces it); default date: "
        "today's B3 session",
    )
    run.add_argument(
        "--sample-past-session",
        action="store_true",
        help="with --offline and a --date before today's session: write the sample for a past "
        "session B3 really traded; it is marked amostra and a real import replaces it",
    )
    run.set_defaults(handler=cmd_run)
    imp = commands.add_parser(
        "import",
        help="load B3 'Carteira do Dia' CSV downloads of any index and year (index and date "
        "from each file's title line)",
    )
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument(
        "--replace", action="store_true", help="overwrite a unit already captured otherwise"
    )
    imp.set_defaults(handler=cmd_import)
    backfill = commands.add_parser(
        "backfill",
        help="refine every captured (index, date) of a range in one run per index set and name "
        "the dates with no raw data",
    )
    backfill.add_argument("--from", dest="first", type=parse_date, required=True, metavar="DATE")
    backfill.add_argument("--to", dest="last", type=parse_date, required=True, metavar="DATE")
    backfill.add_argument(
        "--index",
        action="append",
        type=index_code,
        metavar="CODE",
        help="an index to refine (repeatable); default: every index with raw data in the range",
    )
    backfill.set_defaults(handler=cmd_backfill)
    indices = commands.add_parser(
        "indices", help="list the index codes B3 publishes (GetStockIndex), marking yours"
    )
    indices.add_argument(
        "--offline", action="store_true", help="list the bundled copy of B3's index list"
    )
    indices.set_defaults(handler=cmd_indices)
    query = commands.add_parser(
        "query",
        help="run read-only Athena SQL on the refined tables (carteira_* and ibov_*)",
    )
    query.add_argument("sql")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.set_defaults(handler=cmd_query)
    report = commands.add_parser(
        "report",
        help="write one self-contained HTML report of an index over a period (charts, "
        "rebalances, concentration, provenance)",
    )
    report.add_argument(
        "--index", type=index_code, default="IBOV", metavar="CODE", help="default: IBOV"
    )
    report.add_argument(
        "--from",
        dest="first",
        type=parse_date,
        metavar="DATE",
        help="first date (default: the index's first held date)",
    )
    report.add_argument(
        "--to",
        dest="last",
        type=parse_date,
        metavar="DATE",
        help="last date (default: the index's last held date)",
    )
    report.add_argument(
        "-o", "--out", type=Path, default=Path("report.html"), help="default: report.html"
    )
    report.set_defaults(handler=cmd_report)
    upgrade = commands.add_parser(
        "upgrade",
        help="move a data dir (and on AWS the bucket) from the earlier IBOV-only layout to the "
        "multi-index one; idempotent, nothing lost",
    )
    upgrade.add_argument("--dry-run", action="store_true", help="list the moves, change nothing")
    upgrade.set_defaults(handler=cmd_upgrade)
    deploy = commands.add_parser(
        "deploy",
        help="create or update the bucket, Glue job, database, tables and job role on AWS "
        "(B3_BUCKET)",
    )
    deploy.add_argument(
        "--code-only",
        action="store_true",
        help="only upload the job code under glue/ (after deploying infra/template.yaml)",
    )
    deploy.set_defaults(handler=cmd_deploy)
    verify = commands.add_parser(
        "verify",
        help="after `b3 deploy`: refine one sample unit of a reserved index with the deployed "
        "Glue job, read it back through Athena, compare with the local engine, remove it all",
    )
    verify.add_argument(
        "--remove-leftovers",
        action="store_true",
        help="first remove what an earlier, interrupted self-test left under the reserved index",
    )
    verify.set_defaults(handler=cmd_verify)
    package = commands.add_parser(
        "package-lambda",
        help="lay out the Lambda's deployment package (handler.py and b3_contract/) in a folder",
    )
    package.add_argument(
        "--out", type=Path, metavar="DIR", help="default: build/lambda in the repository"
    )
    package.set_defaults(handler=cmd_package_lambda)
    for name, command in commands.choices.items():
        command.epilog = f"Example: {EXAMPLES[name]}"
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        print(f"error: invalid B3_* environment: {exc}", file=sys.stderr)
        return 2
    from b3_assets.aws.clients import AwsError
    from b3_assets.settings import SettingsError

    try:
        return args.handler(args, settings)
    except (CliError, AwsError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `b3 query ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
