"""The asset graph through dagster.materialize, against the local B3 server."""

import warnings
from collections import deque
from datetime import date

import dagster as dg
from conftest import free_port, import_csvs

from b3_assets.definitions import build_definitions
from b3_assets.defs.assets import asset_key, build_assets
from b3_assets.defs.resources import resources_for
from b3_assets.defs.results import materialized_metadata, step_failures
from b3_assets.settings import Settings

warnings.filterwarnings("ignore", category=dg.BetaWarning)
ALL_ASSETS = build_assets(["IBOV"])
PORTFOLIO_RAW = [asset_key("IBOV", "portfolio_raw")]


def settings_for(data_dir, server) -> Settings:
    return Settings(data_dir=data_dir, api_url=server.api_url, http_retries=1, http_timeout=5)


metadata = materialized_metadata


def range_run(settings: Settings, first: str, last: str) -> dg.ExecuteInProcessResult:
    """The whole chain over first..last as one single-run backfill."""
    return dg.materialize(
        ALL_ASSETS,
        resources=resources_for(settings),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )


STAGE_NAMES = [
    "portfolio_raw",
    "portfolio_bronze",
    "lake_raw_object",
    "carteira_ativos",
    "carteira_header",
    "carteira_setores",
    "carteira_historico",
    "carteira_mudancas",
    "carteira_concentracao",
    "catalog",
    "preview_raw",
    "preview_bronze",
    "preview_lake_object",
    "carteira_previa",
    "carteira_previa_mudancas",
]


def test_definitions_load_with_the_expected_assets_and_job(data_dir) -> None:
    defs = build_definitions(Settings(data_dir=data_dir))
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {f"IBOV/{name}" for name in STAGE_NAMES}
    assert defs.resolve_job_def("pipeline").partitions_def is not None


def test_definitions_hold_the_configured_held_and_extra_indices(data_dir, all_daily_csvs) -> None:
    """B3_INDICES, every index already in the data dir, and those asked for: each its own
    chain of assets, grouped by index."""
    import_csvs(data_dir, [p for p in all_daily_csvs if p.name.startswith("SMLL")])
    settings = Settings(data_dir=data_dir, indices="IBOV,IBXX")
    defs = build_definitions(settings, extra_indices=["IDIV"])
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    indices = ["IBOV", "IBXX", "IDIV", "SMLL"]
    assert keys == {f"{index}/{name}" for index in indices for name in STAGE_NAMES}
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert all(group == key.split("/")[0] for key, group in groups.items())
    # the chain of every index is one multi-asset (one step, so one engine run, per run)
    nodes = {graph.get(key).assets_def.node_def.name for key in graph.get_all_asset_keys()}
    assert nodes == {"index_portfolios"}


def test_whole_chain_for_the_served_date(data_dir, b3_server) -> None:
    resources = resources_for(settings_for(data_dir, b3_server))
    result = dg.materialize(ALL_ASSETS, resources=resources, partition_key="2025-07-14")
    assert result.success
    meta = metadata(result)
    assert meta["IBOV/portfolio_raw"]["pages"] == 3
    assert meta["IBOV/portfolio_raw"]["dates_fetched_now"] == ["2025-07-14"]
    assert meta["IBOV/portfolio_bronze"]["dagster/row_count"] == 84
    assert "| 1 | VALE3 | VALE | 11.375 |" in meta["IBOV/portfolio_bronze"]["top_10_weights"]
    assert meta["IBOV/lake_raw_object"]["uri"].endswith(
        "lake/raw/IBOV/2025-07-14/dados_originais.parquet"
    )
    assert meta["IBOV/carteira_ativos"]["dagster/row_count"] == 84
    assert meta["IBOV/carteira_ativos"]["files_written_in_run"] == 84
    assert meta["IBOV/carteira_header"]["rows_by_date"] == {"2025-07-14": 1}
    assert "VALE3" in meta["IBOV/carteira_ativos"]["top_10_weights"]
    schema = meta["IBOV/carteira_ativos"]["dagster/column_schema"]
    assert [c.name for c in schema.columns][-2:] == ["data", "acao"]
    # ativos, header, setores, historico, concentracao (no mudancas: no session before)
    assert meta["IBOV/catalog"]["dagster/row_count"] == 84 + 1 + 29 + 84 + 1
    assert (
        data_dir / "lake/refined/ativos/indice=IBOV/data=2025-07-14/acao=PETR4/part-00000.parquet"
    ).exists()


def test_a_date_b3_is_not_serving_fails_and_writes_nothing(data_dir, b3_server) -> None:
    resources = resources_for(settings_for(data_dir, b3_server))
    result = dg.materialize(
        ALL_ASSETS,
        selection=PORTFOLIO_RAW,
        resources=resources,
        partition_key="2025-07-11",
        raise_on_error=False,
    )
    assert not result.success
    [message] = step_failures(result)
    assert "B3 is serving the portfolio of 2025-07-14, not 2025-07-11" in message
    assert "b3 import IBOVDia_11-07-25.csv" in message
    assert not list(data_dir.rglob("*.json"))


def test_single_run_backfill_over_a_range_refines_captured_dates(
    data_dir, b3_server, csv_files
) -> None:
    import_csvs(data_dir, csv_files)
    result = range_run(settings_for(data_dir, b3_server), "2025-02-20", "2025-03-12")
    assert result.success
    meta = metadata(result)
    assert meta["IBOV/carteira_ativos"]["rows_by_date"] == {
        d: 87
        for d in [
            "2025-02-20",
            "2025-02-24",
            "2025-03-05",
            "2025-03-06",
            "2025-03-11",
            "2025-03-12",
        ]
    }
    skipped = meta["IBOV/carteira_ativos"]["dates_skipped"]
    assert "2025-02-21" in skipped and "2025-03-03" not in skipped  # Carnival is no partition
    assert len(meta["IBOV/portfolio_raw"]["dates_not_served"]) == len(skipped)
    assert len(list((data_dir / "lake/refined/header/indice=IBOV").iterdir())) == 6
    # B3 serves one portfolio whatever the date: one fetch (3 pages) for the whole range.
    assert len(b3_server.fake.requests) == 3


def test_offline_sample_runs_the_chain(data_dir) -> None:
    resources = resources_for(Settings(data_dir=data_dir), offline=True)
    result = dg.materialize(ALL_ASSETS, resources=resources, partition_key="2025-07-14")
    assert result.success
    rows = metadata(result)["IBOV/carteira_ativos"]["rows_by_date"]["2025-07-14"]
    assert 80 <= rows <= 90
    capture = (data_dir / "raw/IBOV" / date(2025, 7, 14).isoformat() / "capture.json").read_text()
    assert "offline-sample" in capture


def test_range_backfill_of_the_whole_chain_refines_captured_dates_when_b3_is_down(
    data_dir, csv_files
) -> None:
    """Captured dates refine; uncaptured ones are skipped and named."""

    import_csvs(data_dir, csv_files)
    down = f"http://127.0.0.1:{free_port()}/indexProxy/indexCall"  # nothing listens there
    settings = Settings(data_dir=data_dir, api_url=down, http_retries=0, http_timeout=2)
    result = range_run(settings, "2025-02-20", "2025-03-12")
    assert result.success
    meta = metadata(result)
    assert sorted(meta["IBOV/carteira_ativos"]["rows_by_date"]) == [
        "2025-02-20", "2025-02-24", "2025-03-05", "2025-03-06", "2025-03-11", "2025-03-12"
    ]  # fmt: skip
    raw = meta["IBOV/portfolio_raw"]
    assert raw["dates_b3_unreachable"] == meta["IBOV/carteira_ativos"]["dates_skipped"]
    assert "2025-02-21" in raw["dates_b3_unreachable"] and raw["dates_not_served"] == []
    assert "could not connect to B3" in raw["b3_error"]


def test_one_date_b3_cannot_be_asked_for_fails_with_b3s_error(data_dir) -> None:

    down = f"http://127.0.0.1:{free_port()}/indexProxy/indexCall"
    settings = Settings(data_dir=data_dir, api_url=down, http_retries=0, http_timeout=2)
    result = dg.materialize(
        ALL_ASSETS,
        selection=PORTFOLIO_RAW,
        resources=resources_for(settings),
        partition_key="2025-07-14",
        raise_on_error=False,
    )
    assert not result.success
    [message] = step_failures(result)
    assert "could not connect to B3" in message


def test_a_failing_b3_is_asked_once_per_range_run(data_dir, csv_files) -> None:
    from b3_assets.testing.fake_b3 import FakeB3, Fault, RunningFakeB3

    import_csvs(data_dir, csv_files[:2])
    fake = FakeB3(faults=deque(Fault(status=503) for _ in range(20)))
    with RunningFakeB3(fake) as server:
        settings = Settings(data_dir=data_dir, api_url=server.api_url, http_retries=0)
        result = range_run(settings, "2025-03-05", "2025-03-11")
    assert result.success
    assert metadata(result)["IBOV/portfolio_raw"]["dates_b3_unreachable"] == [
        "2025-03-07",
        "2025-03-10",
        "2025-03-11",
    ]
    assert len(fake.requests) == 1  # not once per uncaptured date
