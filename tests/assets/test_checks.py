"""Asset checks through dagster.materialize: a verdict per partition, and bad data stopped."""

import copy
import json
import shutil
import warnings
from datetime import UTC, date, datetime

import dagster as dg
import pytest
from conftest import tree_state

from b3_assets.capture.bronze import build_bronze
from b3_assets.capture.raw import write_raw
from b3_assets.defs.assets import asset_key, build_assets
from b3_assets.defs.checks import build_checks
from b3_assets.defs.lake_quality import REFINED_RULES
from b3_assets.defs.partitions import range_tags
from b3_assets.defs.resources import resources_for
from b3_assets.defs.results import step_failures
from b3_assets.settings import Settings
from b3_assets.source.b3_client import canonical_json
from b3_assets.source.csv_download import parse_portfolio_csv

warnings.filterwarnings("ignore", category=dg.BetaWarning)
ASSETS, CHECKS = build_assets(["IBOV"]), build_checks(["IBOV"])
DEFINITIONS = [*ASSETS, *CHECKS]
[FRESHNESS_CHECKS] = CHECKS
REFINED_CHECKS = [
    dg.AssetCheckKey(asset_key("IBOV", table), rule)
    for table, rules in REFINED_RULES.items()
    for rule in rules
]
CATALOG = asset_key("IBOV", "catalog")


def evaluations(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    return [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


def verdicts(result) -> dict[tuple[str, str, str | None], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name, e.partition): e.passed
        for e in evaluations(result)
    }


@pytest.fixture
def resources(data_dir, b3_server):
    settings = Settings(data_dir=data_dir, api_url=b3_server.api_url, http_retries=1)
    return resources_for(settings)


def store(data_dir, response: dict) -> None:
    write_raw(data_dir, canonical_json(response), "test", datetime.now(UTC), "IBOV")


def test_a_good_day_passes_every_check_per_partition(data_dir, resources) -> None:
    result = dg.materialize(DEFINITIONS, resources=resources, partition_key="2025-07-14")
    assert result.success
    found = verdicts(result)
    partitioned = {key: ok for key, ok in found.items() if key[2] == "2025-07-14"}
    assert len(partitioned) == 6 + 4 + 2 + 1  # bronze, ativos, header, drift
    assert all(partitioned.values()), partitioned
    [catalog] = [
        m
        for m in result.asset_materializations_for_node("index_portfolios")
        if m.asset_key == CATALOG
    ]
    assert catalog.metadata["index"].value == "IBOV"
    assert catalog.metadata["tables"].value == [
        "carteira_ativos",
        "carteira_concentracao",
        "carteira_header",
        "carteira_historico",
        "carteira_mudancas",
        "carteira_setores",
        "ibov_ativos",
        "ibov_header",
        "ibov_setores",
    ]
    # The lake's newest date is months old today: the freshness check warns, the run goes on.
    assert found[("IBOV/lake_raw_object", "fresh", None)] is False
    [fresh] = [e for e in evaluations(result) if e.check_name == "fresh"]
    assert fresh.severity == dg.AssetCheckSeverity.WARN
    [weights] = [e for e in evaluations(result) if e.check_name == "weights_sum_to_100"]
    assert weights.metadata["sum_part"].value == pytest.approx(100.0)


def test_a_bad_bronze_day_never_reaches_the_lake(data_dir, resources, seg2) -> None:
    assert dg.materialize(DEFINITIONS, resources=resources, partition_key="2025-07-14").success
    before = tree_state(data_dir / "lake")
    bad = copy.deepcopy(seg2)
    bad["header"]["date"] = "11/07/25"
    bad["results"][0]["part"] = "1,000"  # was 2,802: Σ part becomes 98,198
    store(data_dir, bad)
    result = dg.materialize(
        DEFINITIONS, resources=resources, partition_key="2025-07-11", raise_on_error=False
    )
    assert not result.success
    failed = {k for k, ok in verdicts(result).items() if not ok}
    assert ("IBOV/portfolio_bronze", "weights_sum_to_100", "2025-07-11") in failed
    assert ("IBOV/portfolio_bronze", "sector_weights_match_part_acum", "2025-07-11") in failed
    # the lake stage refuses the unit itself (the checks only report): it names the index
    [message] = step_failures(result)
    assert message.startswith("index_portfolios: ")
    assert "1 of 1 indices failed: IBOV: bronze fails its blocking checks, not uploaded" in message
    assert "weights_sum_to_100" in message
    [weights] = [e for e in evaluations(result) if e.check_name == "weights_sum_to_100"]
    assert "98.198" in weights.description
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"IBOV/portfolio_raw", "IBOV/portfolio_bronze"}
    assert tree_state(data_dir / "lake") == before  # 2025-07-14 untouched, 07-11 never uploaded


def test_a_range_reports_each_date_and_one_bad_date_blocks_the_range(
    data_dir, resources, csv_files
) -> None:
    responses = [parse_portfolio_csv(p.read_bytes(), p.name).response for p in csv_files]
    for response in responses:
        if response["header"]["date"] == "05/03/25":
            response["results"][3]["theoricalQty"] = "1"
        store(data_dir, response)
    result = dg.materialize(
        DEFINITIONS,
        resources=resources,
        tags=range_tags(*[datetime.fromisoformat(d).date() for d in ("2025-02-20", "2025-03-12")]),
        raise_on_error=False,
    )
    assert not result.success
    quantity = {
        key[2]: ok
        for key, ok in verdicts(result).items()
        if key[1] == "quantities_sum_to_header_total" and key[2]
    }
    assert quantity == {
        "2025-02-20": True,
        "2025-02-24": True,
        "2025-03-05": False,
        "2025-03-06": True,
        "2025-03-11": True,
        "2025-03-12": True,
    }
    assert not (data_dir / "lake").exists()


def test_refined_checks_block_the_catalog(data_dir, resources) -> None:
    """What catalog_check runs after a refine Dagster did not launch (the Lambda's): the checks
    show the verdicts, the catalog refuses the unit."""
    assert dg.materialize(DEFINITIONS, resources=resources, partition_key="2025-07-14").success
    (data_dir / "catalog.duckdb").unlink()
    lost = data_dir / "lake/refined/ativos/indice=IBOV/data=2025-07-14/acao=VALE3"
    for path in lost.iterdir():
        path.unlink()
    lost.rmdir()
    result = dg.materialize(
        DEFINITIONS,
        resources=resources,
        partition_key="2025-07-14",
        selection=dg.AssetSelection.assets(CATALOG) | dg.AssetSelection.checks(*REFINED_CHECKS),
        raise_on_error=False,
    )
    assert not result.success
    failures = [e.step_key for e in result.all_events if e.is_step_failure]
    assert failures == ["index_portfolios"]  # the catalog stage refuses what the checks found
    [message] = step_failures(result)
    assert "IBOV: refined data fails its checks, not registered" in message
    failed = {k[1] for k, ok in verdicts(result).items() if not ok}
    assert failed == {"rows_match_bronze", "ranking_is_1_to_n"}
    [rows] = [e for e in evaluations(result) if e.check_name == "rows_match_bronze"]
    assert rows.description == "carteira_ativos has 83 rows, the bronze file 84"
    assert not result.get_asset_materialization_events()
    assert not (data_dir / "catalog.duckdb").exists()


def test_drift_warns_without_blocking(data_dir, resources, seg2) -> None:
    earlier = copy.deepcopy(seg2)
    earlier["header"]["date"] = "11/07/25"
    earlier["results"] = [r for r in earlier["results"] if r["cod"] != "VALE3"]
    store(data_dir, earlier)
    build_bronze(data_dir, date(2025, 7, 11), "IBOV")  # what drift reads: a day with no VALE3
    result = dg.materialize(DEFINITIONS, resources=resources, partition_key="2025-07-14")
    assert result.success
    [drift] = [e for e in evaluations(result) if e.check_name == "day_over_day_drift"]
    assert not drift.passed and drift.severity == dg.AssetCheckSeverity.WARN
    assert json.loads(json.dumps(drift.metadata["entered"].value)) == ["VALE3"]
    assert drift.metadata["compared_with"].value == "2025-07-11"


def test_the_freshness_job_checks_alone_and_warns_only_when_stale(data_dir, resources) -> None:
    from b3_assets.source.trading_calendar import previous_session

    def fresh() -> dg.AssetCheckEvaluation:
        result = dg.materialize(
            DEFINITIONS,
            resources=resources,
            selection=dg.AssetSelection.checks(FRESHNESS_CHECKS),
        )
        assert result.success and not result.get_asset_materialization_events()
        [evaluation] = evaluations(result)
        return evaluation

    assert not fresh().passed  # an empty lake
    day = previous_session()
    key = data_dir / f"lake/raw/IBOV/{day.isoformat()}/dados_originais.parquet"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"PAR1")
    evaluation = fresh()
    assert evaluation.passed, evaluation.description
    assert evaluation.metadata["newest_captured"].value == day.isoformat()


def test_the_catalog_alone_refuses_refined_data_that_fails_the_rules(data_dir, resources) -> None:
    """Materialized without its checks (one asset picked in the UI), the catalog checks itself."""
    assert dg.materialize(DEFINITIONS, resources=resources, partition_key="2025-07-14").success
    header = data_dir / "lake/refined/header/indice=IBOV/data=2025-07-14"
    shutil.copy(next(header.iterdir()), header / "part-copy.parquet")  # two header rows
    result = dg.materialize(
        DEFINITIONS,
        resources=resources,
        partition_key="2025-07-14",
        selection=[CATALOG],
        raise_on_error=False,
    )
    [message] = step_failures(result)
    assert "IBOV: refined data fails its checks, not registered" in message
    assert "carteira_header.header_has_one_row: carteira_header has 2 row(s)" in message
    assert not evaluations(result)
