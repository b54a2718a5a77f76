"""The `b3` command: run the pipeline, import B3's CSV downloads, query the refined tables.

It materializes the same Dagster assets the UI does (with the DAGSTER_HOME instance when that is
set, so the runs show in `dagster dev`), and prints where everything went.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from b3_assets.settings import Settings


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
    day: date,
    offline: bool,
    last: date | None = None,
    selection: Sequence[object] | None = None,
):
    """Runs the chain (or the `selection` of its assets) for a date, or a range up to `last`
    in one run.

    Returns {asset: metadata of its last materialization} or raises CliError.
    """
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    from b3_assets.defs.assets import ALL_ASSETS
    from b3_assets.defs.checks import ALL_CHECKS
    from b3_assets.defs.partitions import range_tags
    from b3_assets.defs.resources import resources_for
    from b3_assets.defs.results import check_line, failed_checks, materialized_metadata, problem

    tags = {"b3/source": "cli"}
    one_date = last is None or last == day
    if not one_date:
        tags |= range_tags(day, last)
    result = dg.materialize(
        [*ALL_ASSETS, *ALL_CHECKS],
        selection=list(selection) if selection is not None else None,
        resources=resources_for(settings, offline=offline),
        partition_key=day.isoformat() if one_date else None,
        instance=_instance(),
        raise_on_error=False,
        tags=tags,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    checks = failed_checks(result)
    for evaluation in checks.warnings:
        print(f"warning: {check_line(evaluation)}", file=sys.stderr)
    message = problem(result, str(day) if one_date else f"{day}..{last}")
    if message:
        raise CliError(message)
    return materialized_metadata(result)


def _check_trading_day(day: date) -> None:
    from b3_assets.source.trading_calendar import non_trading_kind

    try:
        kind = non_trading_kind(day)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if kind:
        raise CliError(f"{day} is not a B3 trading day ({kind}); B3 publishes no portfolio for it")


def _print_summary(settings: Settings, day: date, out: dict[str, dict]) -> None:
    from b3_contract.tables import TABLES

    raw, bronze, lake = (
        out["ibov_portfolio_raw"],
        out["ibov_portfolio_bronze"],
        out["ibov_lake_raw_object"],
    )
    state = "fetched now" if raw["dates_fetched_now"] else "already captured, kept as is"
    print(f"trading date {day}  ({raw['source_url']}, {raw['pages']} page(s))")
    print(f"  raw      {raw['path']}  [{state}]")
    print(f"  bronze   {bronze['path']}  [{bronze['dagster/row_count']} rows]")
    print(f"  lake     {lake['uri']}  [{'uploaded' if lake['objects_uploaded'] else 'unchanged'}]")
    if "ibov_ativos" not in out:  # B3_TRIGGER=lambda: the S3 event starts the refine
        print(
            f"  refine   started by the Lambda on the S3 event (Glue job {settings.glue_job}); "
            "ibov_glue_job_runs_sensor records it in Dagster"
        )
        if not lake["objects_uploaded"]:
            print("           (the object was unchanged, so S3 sent no event: nothing to refine)")
        return
    for table in TABLES:
        meta = out[table]
        rows = meta["rows_by_date"].get(day.isoformat(), 0)
        print(f"  {table:<12} {meta['location']}/data={day}  [{rows} row{'s' * (rows != 1)}]")
    catalog = out["ibov_catalog"]
    print(f"  catalog  {catalog['catalog']}  [{', '.join(catalog['tables'])}]")
    top = out["ibov_ativos"].get("top_10_weights")
    if top:
        print("\ntop weights:")
        for line in top.splitlines()[2:9]:
            print("  " + line)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.capture.raw import read_capture
    from b3_assets.defs.resources import b3_api_resource
    from b3_assets.source.served_date import not_served_message
    from b3_assets.source.trading_calendar import current_session

    if args.date is not None:
        _check_trading_day(args.date)
    if args.offline:
        day = args.date or current_session()
    elif args.date is not None and read_capture(settings.data_path, args.date, settings.index):
        day = args.date
    else:
        api = b3_api_resource(settings)
        from b3_assets.source.b3_client import B3ApiError

        try:
            served = api.served_date()
        except B3ApiError as exc:
            raise CliError(str(exc)) from None
        if args.date is not None and args.date != served:
            raise CliError(not_served_message(args.date, served))
        day = served
    from b3_assets.defs.jobs import daily_assets

    out = _materialize(settings, day, args.offline, selection=daily_assets(settings))
    _print_summary(settings, day, out)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.capture.raw import read_capture, write_import
    from b3_assets.source.b3_client import canonical_json
    from b3_assets.source.csv_download import NotAPortfolioCsv, parse_portfolio_csv
    from b3_assets.source.models import parse_b3_date

    failures = 0
    imported: list[date] = []
    for name in args.files:
        path = Path(name)
        try:
            data = path.read_bytes()
            response = parse_portfolio_csv(data, path.name, index=settings.index)
        except (OSError, NotAPortfolioCsv) as exc:
            print(f"refused {name}: {exc}", file=sys.stderr)
            failures += 1
            continue
        day = parse_b3_date(response["header"]["date"])
        try:
            _check_trading_day(day)
        except CliError as exc:
            print(f"refused {name}: {exc}", file=sys.stderr)
            failures += 1
            continue
        raw = canonical_json(response)
        existing = read_capture(settings.data_path, day, settings.index)
        if existing and existing.sha256 != hashlib.sha256(raw).hexdigest() and not args.replace:
            print(
                f"kept {day}: already captured from {existing.source_url}; "
                f"use --replace to overwrite it with {name}",
                file=sys.stderr,
            )
            imported.append(day)
            continue
        write_import(settings.data_path, raw, path, data, settings.index, datetime.now(UTC))
        imported.append(day)
    from b3_assets.defs.jobs import daily_assets
    from b3_assets.defs.partitions import contiguous_ranges

    for first, last in contiguous_ranges(imported):
        # as `b3 run`: with B3_TRIGGER=lambda the upload makes the Lambda refine, so no refine here
        out = _materialize(settings, first, False, last=last, selection=daily_assets(settings))
        if "ibov_ativos" not in out:
            lake = out["ibov_lake_raw_object"]
            span = str(first) if first == last else f"{first}..{last}"
            print(
                f"imported {span}: {lake['objects_uploaded']} raw object(s) uploaded, "
                f"{lake['objects_unchanged']} unchanged (newest {lake['uri']}); the Lambda "
                f"refines each uploaded one (Glue job {settings.glue_job})"
            )
            continue
        location = out["ibov_ativos"]["location"]
        for day, rows in sorted(out["ibov_ativos"]["rows_by_date"].items()):
            print(f"imported {day}: {rows} constituents -> {location}/data={day}")
    if failures:
        print(f"{failures} file(s) refused", file=sys.stderr)
        return 1
    return 0


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.defs.jobs import REFINE_ASSETS
    from b3_assets.defs.resources import resources_for
    from b3_assets.source.trading_calendar import is_trading_day, trading_days
    from b3_contract.lake_keys import RAW_PREFIX, raw_object_key
    from b3_contract.tables import TABLES

    first, last = args.first, args.last
    if first > last:
        raise CliError(f"--from {first} is after --to {last}")
    for day in (first, last):
        try:
            is_trading_day(day)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    days = trading_days(first, last)
    if not days:
        raise CliError(f"no B3 trading day from {first} to {last}")
    lake = resources_for(settings)["lake"]
    in_lake = {item.key for item in lake.list_objects(RAW_PREFIX)}
    present = [day for day in days if raw_object_key(day) in in_lake]
    missing = [day for day in days if day not in present]
    if not present:
        raise CliError(
            f"no raw data in the lake for any of the {len(days)} trading dates from {first} to "
            f"{last}: capture them first (`b3 run`, or `b3 import` of B3's CSV downloads)"
        )
    out = _materialize(
        settings, present[0], offline=False, last=present[-1], selection=REFINE_ASSETS
    )
    rows = {name: out[name]["rows_by_date"] for name in TABLES}
    print(
        f"refined {len(present)} captured date(s) from {present[0]} to {present[-1]} "
        f"in one run -> {out['ibov_ativos']['location']}"
    )
    for day in present:
        counts = ", ".join(f"{name} {rows[name].get(str(day), 0)}" for name in rows)
        print(f"  {day}  {counts}")
    print(
        f"  catalog  {out['ibov_catalog']['catalog']}  [{', '.join(out['ibov_catalog']['tables'])}]"
    )
    if missing:
        listed = ", ".join(map(str, missing))
        print(f"no raw data in the lake for {len(missing)} trading date(s): {listed}")
    return 0


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.defs.resources import resources_for
    from b3_assets.refine.catalog import QueryError, format_table

    try:
        result = resources_for(settings)["queries"].query(args.sql)
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


def cmd_package_lambda(args: argparse.Namespace, settings: Settings) -> int:
    from b3_assets.aws.deploy import LAMBDA_PACKAGE_DIR, write_lambda_package

    out = args.out or LAMBDA_PACKAGE_DIR
    for path in write_lambda_package(out):
        print(f"wrote      {path}")
    where = "infra/template.yaml's CodeUri" if out == LAMBDA_PACKAGE_DIR else "not the template's"
    print(f"the Lambda's deployment package is {out}/ ({where})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b3", description="Capture, refine and query B3's IBOVESPA portfolio."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="materialize the whole chain for the portfolio B3 is serving now"
    )
    run.add_argument(
        "--date",
        type=parse_date,
        help="trading date (YYYY-MM-DD); must be the date B3 serves, or one already captured",
    )
    run.add_argument(
        "--offline", action="store_true", help="use the bundled generator of sample responses"
    )
    run.set_defaults(handler=cmd_run)
    imp = commands.add_parser("import", help="load B3 CSV downloads (IBOVDia_DD-MM-YY.csv)")
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument(
        "--replace", action="store_true", help="overwrite a date already captured otherwise"
    )
    imp.set_defaults(handler=cmd_import)
    backfill = commands.add_parser(
        "backfill",
        help="refine every captured date of a range in one run and name the dates with no raw data",
    )
    backfill.add_argument("--from", dest="first", type=parse_date, required=True, metavar="DATE")
    backfill.add_argument("--to", dest="last", type=parse_date, required=True, metavar="DATE")
    backfill.set_defaults(handler=cmd_backfill)
    query = commands.add_parser("query", help="run read-only Athena SQL on the refined tables")
    query.add_argument("sql")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.set_defaults(handler=cmd_query)
    deploy = commands.add_parser(
        "deploy",
        help="create or update the bucket, Glue job, database and job role on AWS (B3_BUCKET)",
    )
    deploy.add_argument(
        "--code-only",
        action="store_true",
        help="only upload the job code under glue/ (after deploying infra/template.yaml)",
    )
    deploy.set_defaults(handler=cmd_deploy)
    package = commands.add_parser(
        "package-lambda",
        help="lay out the Lambda's deployment package (handler.py and b3_contract/) in a folder",
    )
    package.add_argument(
        "--out", type=Path, metavar="DIR", help="default: build/lambda in the repository"
    )
    package.set_defaults(handler=cmd_package_lambda)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError names the bad variable
        print(f"error: invalid B3_* environment: {exc}", file=sys.stderr)
        return 2
    from b3_assets.aws.clients import AwsError
    from b3_assets.defs.resources import SettingsError

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
