"""Every index, each its own chain: a run of N dates x K indices is one run and one engine run,
one index failing never stops another, two indices on one date never touch each other's data
(in either order, or at once), the drift check never compares across a gap or an index, and a
UI backfill through the webserver's GraphQL is one run for all its indices and dates."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from conftest import FIXTURES, SEG1_0714, SEG2_0714

from b3_assets import cli
from b3_assets.capture.bronze import build_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.definitions import build_definitions
from b3_assets.defs.assets import CAPTURE_STAGES, REFINE_STAGES, asset_key, stage_keys
from b3_assets.defs.partitions import range_tags
from b3_assets.defs.resources import DuckDBRefinerResource
from b3_assets.defs.results import materialized_metadata, step_failures
from b3_assets.refine.catalog import run_query
from b3_assets.settings import Settings
from b3_assets.source.b3_client import canonical_json
from b3_assets.source.csv_download import parse_portfolio_csv
from b3_assets.testing.fake_b3 import FakeB3, RunningFakeB3
from b3_assets.testing.sample import sample_csv, sample_portfolio
from b3_contract.lake_keys import Unit
from b3_contract.tables import PORTFOLIO_TABLES

warnings.filterwarnings("ignore", category=dg.BetaWarning)

DATES = [date(2025, 7, 10), date(2025, 7, 11), date(2025, 7, 14)]  # three consecutive sessions
CHAIN = (*CAPTURE_STAGES, *REFINE_STAGES)


def run_chain(
    settings: Settings,
    indices: Sequence[str],
    first: date,
    last: date | None = None,
    offline: bool = True,
    resources: dict | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """The whole chain of `indices` over first..last in one run, as `b3 run`/`b3 backfill` do."""
    defs = build_definitions(settings, offline=offline, extra_indices=indices)
    keys = stage_keys(indices, *CHAIN)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(keys))
    one = last is None or last == first
    return job.execute_in_process(
        resources={**defs.resources, **(resources or {})},
        partition_key=first.isoformat() if one else None,
        tags=None if one else range_tags(first, last),
        instance=instance,
        raise_on_error=False,
    )


def query(data_dir: Path, sql: str) -> list[tuple]:
    return run_query(data_dir / "catalog.duckdb", sql).rows


def evaluations(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    return [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


def store_sample(data_dir: Path, day: date, index: str, response: dict | None = None) -> None:
    """A captured unit (raw and bronze), as an earlier run would have left it."""
    response = response or sample_portfolio(day, 2, index)
    write_raw(data_dir, canonical_json(response), "test", datetime.now(UTC), index)
    build_bronze(data_dir, day, index)


# ---- (1) N dates x K indices: one run, one engine run ------------------------------------------


def test_three_dates_of_two_indices_are_one_run_and_one_engine_run(data_dir) -> None:
    calls: list[list[Unit]] = []

    class CountingRefiner(DuckDBRefinerResource):
        """The local refiner, counting its engine runs."""

        def refine(self, context, lake, units):
            calls.append(sorted(units))
            return super().refine(context, lake, units)

    settings = Settings(data_dir=data_dir, indices="IBOV,IBXX")
    with dg.instance_for_test() as instance:
        result = run_chain(
            settings,
            ["IBOV", "IBXX"],
            DATES[0],
            DATES[-1],
            resources={"refiner": CountingRefiner()},
            instance=instance,
        )
        assert result.success, step_failures(result)
        units = [Unit(index, day) for index in ("IBOV", "IBXX") for day in DATES]
        assert calls == [sorted(units)]  # every unit in one engine run
        meta = materialized_metadata(result)
        for index in ("IBOV", "IBXX"):
            ativos = meta[f"{index}/carteira_ativos"]
            assert ativos["units_in_engine_run"] == 6
            assert sorted(ativos["rows_by_date"]) == [str(d) for d in DATES]
            assert ativos["dates_skipped"] == []
            for key in stage_keys([index], *CHAIN):  # each index's partitions, in the UI's terms
                assert instance.get_materialized_partitions(key) == {str(d) for d in DATES}, key
        carteira = sorted(PORTFOLIO_TABLES)  # three dates: each has mudancas but the first
        assert meta["IBXX/catalog"]["tables"] == carteira  # ibov_* hold IBOV alone
        assert meta["IBOV/catalog"]["tables"] == [
            *carteira,
            "ibov_ativos",
            "ibov_header",
            "ibov_setores",
        ]
        runs = instance.get_runs()
        assert len(runs) == 1
    # both indices' rows, each under its own index, and the IBOV-only tables hold IBOV alone
    counted = query(
        data_dir, "SELECT indice, data, count(*) FROM carteira_ativos GROUP BY 1, 2 ORDER BY 1, 2"
    )
    assert [(index, day) for index, day, _ in counted] == [
        (index, day) for index in ("IBOV", "IBXX") for day in DATES
    ]
    ibov = query(data_dir, "SELECT DISTINCT indice FROM ibov_ativos")
    assert ibov == [("IBOV",)]
    headers = query(data_dir, "SELECT indice, count(*) FROM carteira_header GROUP BY 1 ORDER BY 1")
    assert headers == [("IBOV", 3), ("IBXX", 3)]


# ---- (2) one index failing does not stop the other ---------------------------------------------


def test_b3_failing_for_one_index_does_not_stop_the_other(data_dir) -> None:
    """B3 serves IBOV but answers SMLL with its empty portfolio: IBOV is refined and
    registered, and the run fails naming SMLL."""
    fake = FakeB3(max_page_size=40)
    fake.serve_file(SEG2_0714, segment=2)
    fake.serve_file(SEG1_0714, segment=1)
    with RunningFakeB3(fake) as server:
        settings = Settings(
            data_dir=data_dir, api_url=server.api_url, http_retries=0, indices="IBOV,SMLL"
        )
        result = run_chain(settings, ["IBOV", "SMLL"], date(2025, 7, 14), offline=False)
    assert not result.success
    [failure] = step_failures(result)
    assert "1 of 2 indices failed: SMLL: B3 answered with an empty portfolio" in failure
    assert "IBOV:" not in failure
    materialized = {e.asset_key.path[0] for e in result.get_asset_materialization_events()}
    assert materialized == {"IBOV"}
    # ativos, header, setores, then historico and concentracao
    assert materialized_metadata(result)["IBOV/catalog"]["dagster/row_count"] == 2 * 84 + 1 + 29 + 1
    ativos = data_dir / "lake/refined/ativos/indice=IBOV/data=2025-07-14"
    assert len(list(ativos.iterdir())) == 84
    assert query(data_dir, "SELECT indice, count(*) FROM carteira_ativos GROUP BY 1") == [
        ("IBOV", 84)
    ]
    assert not (data_dir / "raw/SMLL").exists() and not (data_dir / "lake/raw/SMLL").exists()


def test_a_blocking_rule_broken_by_one_index_stops_only_that_index(data_dir) -> None:
    """IBXX's bronze of one date breaks a blocking rule: the lake stage refuses IBXX (none of
    its range is uploaded), IBOV goes on to the catalog, and the run fails naming IBXX."""
    bad = sample_portfolio(DATES[1], 2, "IBXX")
    bad["results"][0]["part"] = "0,001"  # the weights no longer sum to 100
    store_sample(data_dir, DATES[1], "IBXX", bad)
    settings = Settings(data_dir=data_dir, indices="IBOV,IBXX")
    result = run_chain(settings, ["IBOV", "IBXX"], DATES[0], DATES[-1])
    assert not result.success
    [failure] = step_failures(result)
    assert "1 of 2 indices failed: IBXX: bronze fails its blocking checks, not uploaded" in failure
    assert f"{DATES[1]}: weights_sum_to_100" in failure
    verdicts = {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.passed
        for e in evaluations(result)
    }
    assert verdicts[("IBXX/portfolio_bronze", "weights_sum_to_100", str(DATES[1]))] is False
    assert verdicts[("IBXX/portfolio_bronze", "weights_sum_to_100", str(DATES[0]))] is True
    assert all(verdicts[("IBOV/portfolio_bronze", "weights_sum_to_100", str(d))] for d in DATES)
    meta = materialized_metadata(result)
    assert sorted(meta["IBOV/carteira_ativos"]["rows_by_date"]) == [str(d) for d in DATES]
    assert "IBOV/catalog" in meta and "IBXX/lake_raw_object" not in meta
    assert "IBXX/portfolio_bronze" in meta  # captured and checked, just not passed on
    assert not (data_dir / "lake/raw/IBXX").exists()
    assert query(data_dir, "SELECT DISTINCT indice FROM carteira_header") == [("IBOV",)]


# ---- (3) two indices on one date, in both orders and at once -----------------------------------


@pytest.fixture
def same_date_files(tmp_path: Path) -> dict[str, list[Path]]:
    """IBOV and IBXX on the same two dates: B3's real IBOV file of 2025-03-05 and real IBXX
    file of 2025-06-20, each with the other index's file of that date generated."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    generated = {}
    for index, day in (("IBXX", date(2025, 3, 5)), ("IBOV", date(2025, 6, 20))):
        path = folder / f"{index}Dia_{day:%d-%m-%y}.csv"
        path.write_bytes(sample_csv(day, index))
        generated[index] = path
    return {
        "IBOV": [FIXTURES / "IBOVDia_05-03-25.csv", generated["IBOV"]],
        "IBXX": [generated["IBXX"], FIXTURES / "IBXXDia_20-06-25.csv"],
    }


IBOV_QUERIES = [
    "SELECT * FROM ibov_ativos ORDER BY data, acao",
    "SELECT * FROM ibov_header ORDER BY data",
    "SELECT * FROM ibov_setores ORDER BY data, setor",
    "SELECT * FROM carteira_ativos WHERE indice = 'IBOV' ORDER BY data, acao",
    "SELECT * FROM carteira_header WHERE indice = 'IBOV' ORDER BY data",
    "SELECT data, count(*), sum(participacao_pct), sum(qtd_teorica) FROM ibov_ativos "
    "GROUP BY data ORDER BY data",
]


def answers(data_dir: Path, index: str) -> bytes:
    """The query answers on one index's rows, as bytes."""
    queries = (
        IBOV_QUERIES
        if index == "IBOV"
        else [
            q.replace("ibov_", "carteira_").replace("'IBOV'", f"'{index}'")
            for q in IBOV_QUERIES
            if "indice" in q
        ]
    )
    found = []
    for sql in queries:
        result = run_query(data_dir / "catalog.duckdb", sql)
        found.append({"columns": result.columns, "types": result.types, "rows": result.rows})
    return json.dumps(found, default=str, ensure_ascii=False).encode()


def assert_rows_as_the_files_say(data_dir: Path, files: dict[str, list[Path]]) -> None:
    """Each (index, date) holds exactly its file's constituents, quantities and weights."""
    for index, paths in files.items():
        for path in paths:
            parsed = parse_portfolio_csv(path.read_bytes(), path.name)
            assert parsed.index == index
            expected = sorted(
                (r["cod"], int(r["theoricalQty"].replace(".", "")), r["part"].replace(",", "."))
                for r in parsed.response["results"]
            )
            rows = query(
                data_dir,
                "SELECT acao, qtd_teorica, participacao_pct FROM carteira_ativos "
                f"WHERE indice = '{index}' AND data = DATE '{parsed.trading_date}' ORDER BY acao",
            )
            assert [(a, q, f"{Decimal(p):.3f}") for a, q, p in rows] == expected, path.name


def b3_import(data_dir: Path, monkeypatch, paths: list[Path]) -> None:
    monkeypatch.setenv("B3_DATA_DIR", str(data_dir))
    assert cli.main(["import", *map(str, paths)]) == 0


@pytest.fixture
def cli_env(monkeypatch):
    for name in ("DAGSTER_HOME", "B3_INDICES", "B3_ENV", "B3_TRIGGER", "B3_BUCKET", "B3_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_two_indices_on_one_date_in_either_order_never_touch_each_other(
    tmp_path, same_date_files, cli_env
) -> None:
    ibov, ibxx = same_date_files["IBOV"], same_date_files["IBXX"]

    first = tmp_path / "ibov_first"  # IBOV, then IBXX on the same dates
    b3_import(first, cli_env, ibov)
    ibov_alone = answers(first, "IBOV")
    b3_import(first, cli_env, ibxx)
    assert answers(first, "IBOV") == ibov_alone  # byte for byte
    ibxx_answers = answers(first, "IBXX")
    assert_rows_as_the_files_say(first, same_date_files)

    second = tmp_path / "ibxx_first"  # IBXX, then IBOV
    b3_import(second, cli_env, ibxx)
    assert answers(second, "IBXX") == ibxx_answers
    b3_import(second, cli_env, ibov)
    assert answers(second, "IBXX") == ibxx_answers
    assert answers(second, "IBOV") == ibov_alone
    assert_rows_as_the_files_say(second, same_date_files)
    for index in ("IBOV", "IBXX"):  # each index's own files, side by side
        for day in ("2025-03-05", "2025-06-20"):
            assert (second / f"lake/raw/{index}/{day}/dados_originais.parquet").exists()
            assert (second / f"lake/refined/header/indice={index}/data={day}").is_dir()


@pytest.mark.e2e  # two `b3 import` processes
def test_two_indices_on_one_date_imported_at_once_keep_their_rows(
    tmp_path, same_date_files, cli_env
) -> None:
    """Two `b3 import` processes on the same data dir and dates at the same time."""
    reference = tmp_path / "reference"
    b3_import(reference, cli_env, same_date_files["IBOV"])
    ibov_alone = answers(reference, "IBOV")
    b3_import(reference, cli_env, same_date_files["IBXX"])
    ibxx_answers = answers(reference, "IBXX")

    data_dir = tmp_path / "parallel"
    b3 = Path(sys.executable).parent / "b3"
    env = {**os.environ, "B3_DATA_DIR": str(data_dir)}
    processes = [
        subprocess.Popen(
            [str(b3), "import", *map(str, same_date_files[index])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in ("IBOV", "IBXX")
    ]
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err[-3000:]
        assert "imported" in out
    assert answers(data_dir, "IBOV") == ibov_alone
    assert answers(data_dir, "IBXX") == ibxx_answers
    assert_rows_as_the_files_say(data_dir, same_date_files)


# ---- (4) drift never compares across a gap or across indices -----------------------------------


def test_drift_across_a_gap_says_so_and_never_compares_with_another_index(data_dir) -> None:
    """IBOV has 07-10 but not 07-11; IBXX has 07-11. On 07-14 IBOV's drift says the session
    before is not captured (not a comparison with 07-10, nor with IBXX's 07-11), and IBXX's
    compares with its own 07-11."""
    store_sample(data_dir, DATES[0], "IBOV")
    store_sample(data_dir, DATES[1], "IBXX")
    settings = Settings(data_dir=data_dir, indices="IBOV,IBXX")
    result = run_chain(settings, ["IBOV", "IBXX"], DATES[2])
    assert result.success, step_failures(result)
    drift = {
        e.asset_key.path[0]: e for e in evaluations(result) if e.check_name == "day_over_day_drift"
    }
    assert set(drift) == {"IBOV", "IBXX"}
    assert drift["IBOV"].passed
    assert drift["IBOV"].description == (
        "the session before 2025-07-14 is not captured: no day-over-day comparison"
    )
    assert drift["IBOV"].metadata["compared_with"].value is None
    assert drift["IBXX"].metadata["compared_with"].value == "2025-07-11"
    assert drift["IBXX"].severity == dg.AssetCheckSeverity.WARN


# ---- (5) a UI backfill through the webserver's GraphQL -----------------------------------------

LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
  }
}
"""
PARTITION_STATS = """
query PartitionStats($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode { partitionStats { numMaterialized numPartitions numFailed } }
  }
}
"""


@pytest.mark.e2e  # a code server, the daemons' ticks and a run in their own processes
@pytest.mark.timeout(900)
def test_a_ui_backfill_of_three_dates_and_two_indices_is_one_run(
    tmp_path, data_dir, monkeypatch
) -> None:
    """What the UI's "Materialize" > partitions > "Launch backfill" sends
    (launchPartitionBackfill with the selected keys and partition names), processed by the
    backfill daemon and the run queue as `dagster dev` runs them, against the definitions
    loaded in a code server as the webserver loads them."""
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.test_utils import wait_for_runs_to_finish
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    code = tmp_path / "b3_offline_definitions.py"
    code.write_text(
        "from b3_assets.definitions import build_definitions\n\n"
        "defs = build_definitions(offline=True)\n"
    )
    for name in ("DAGSTER_HOME", "B3_ENV", "B3_TRIGGER", "B3_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("B3_DATA_DIR", str(data_dir))  # the code server inherits these
    monkeypatch.setenv("B3_INDICES", "IBOV,IBXX")
    keys = stage_keys(["IBOV", "IBXX"], *CHAIN)
    partitions = [str(d) for d in DATES]
    logger = logging.getLogger("test_backfill_daemon")

    with (
        dg.instance_for_test() as instance,
        define_out_of_process_context(str(code), "defs", instance) as context,
    ):
        launched = execute_dagster_graphql(
            context,
            LAUNCH_BACKFILL,
            {
                "backfillParams": {
                    "assetSelection": [{"path": key.path} for key in keys],
                    "partitionNames": partitions,
                    "fromFailure": False,
                    "tags": [],
                }
            },
        ).data["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]

        # the backfill daemon's tick: it requests the runs, then the run queue launches them
        list(execute_backfill_iteration(context.process_context, logger))
        with QueuedRunCoordinatorDaemon(interval_seconds=1) as queue:
            list(queue.run_iteration(context.process_context))
        wait_for_runs_to_finish(instance, timeout=600)
        for _ in range(3):  # the next ticks see the run's materializations and finish it
            backfill = instance.get_backfill(backfill_id)
            if backfill.status != BulkActionStatus.REQUESTED:
                break
            list(execute_backfill_iteration(context.process_context, logger))
        assert instance.get_backfill(backfill_id).status == BulkActionStatus.COMPLETED_SUCCESS

        [run] = instance.get_runs()  # one run for 3 dates x 2 indices
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/backfill"] == backfill_id
        assert set(run.asset_selection or ()) == set(keys)
        assert (
            run.tags["dagster/asset_partition_range_start"],
            run.tags["dagster/asset_partition_range_end"],
        ) == (
            partitions[0],
            partitions[-1],
        )
        for key in keys:
            assert instance.get_materialized_partitions(key) == set(partitions), key
            stats = execute_dagster_graphql(
                context, PARTITION_STATS, {"assetKey": {"path": key.path}}
            ).data["assetNodeOrError"]["partitionStats"]
            assert stats["numMaterialized"] == 3 and stats["numFailed"] == 0, (key, stats)
        # and one engine run refined all six units
        [refined] = [
            event.asset_materialization
            for event in instance.fetch_materializations(
                asset_key("IBXX", "carteira_ativos"), limit=10
            ).records
            if event.partition_key == partitions[-1]
        ]
        assert refined.metadata["units_in_engine_run"].value == 6
    assert query(
        data_dir, "SELECT indice, count(DISTINCT data) FROM carteira_header GROUP BY 1 ORDER BY 1"
    ) == [
        ("IBOV", 3),
        ("IBXX", 3),
    ]
