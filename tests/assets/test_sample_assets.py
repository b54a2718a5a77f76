"""The offline sample in the Dagster path (B3ApiResource(offline=True)): its materializations name
it (`origin` amostra), B3's capture of the same date replaces it (daily portfolio and preview)
and says so, and an offline run keeps B3's data."""

import warnings

import dagster as dg
import pyarrow.parquet as pq

from b3_assets.defs.assets import build_assets
from b3_assets.defs.resources import resources_for
from b3_assets.defs.results import materialized_metadata
from b3_assets.settings import Settings

warnings.filterwarnings("ignore", category=dg.BetaWarning)
ALL_ASSETS = build_assets(["IBOV"])
DAY = "2025-07-14"  # the date the local B3 server serves


def run(data_dir, server=None) -> dict[str, dict]:
    settings = Settings(data_dir=data_dir)
    if server is not None:
        settings = Settings(data_dir=data_dir, api_url=server.api_url, http_retries=1)
    resources = resources_for(settings, offline=server is None)
    result = dg.materialize(ALL_ASSETS, resources=resources, partition_key=DAY)
    assert result.success
    return materialized_metadata(result)


def origens(data_dir, table: str) -> set[str]:
    folder = data_dir / "lake/refined" / table / f"indice=IBOV/data={DAY}"
    return set(pq.read_table(folder, columns=["origem"])["origem"].to_pylist())


def test_b3s_capture_replaces_the_offline_sample_and_the_sample_never_b3s(
    data_dir, b3_server
) -> None:
    offline = run(data_dir)
    raw = offline["IBOV/portfolio_raw"]
    assert raw["origin"] == "amostra" and "not B3's" in raw["origin_means"]
    assert raw["dates_offline_sample"] == [DAY] and raw["dates_fetched_now"] == [DAY]
    assert offline["IBOV/preview_raw"]["origin"] == "amostra"
    assert origens(data_dir, "ativos") == origens(data_dir, "header") == {"amostra"}

    real = run(data_dir, b3_server)
    raw = real["IBOV/portfolio_raw"]
    assert raw["origin"] == "api" and raw["source_url"].startswith("http")
    assert raw["dates_sample_replaced"] == [DAY] and raw["dates_offline_sample"] == []
    assert real["IBOV/preview_raw"]["sessions_sample_replaced"] == [DAY]
    assert real["IBOV/preview_raw"]["origin"] == "api"
    assert real["IBOV/carteira_ativos"]["rows_by_date"] == {DAY: 84}
    assert origens(data_dir, "ativos") == origens(data_dir, "header") == {"api"}

    again = run(data_dir)
    raw = again["IBOV/portfolio_raw"]
    assert raw["origin"] == "api" and raw["dates_real_data_kept"] == [DAY]
    assert raw["dates_fetched_now"] == [] and raw["dates_offline_sample"] == []
    assert again["IBOV/preview_raw"]["origin"] == "api"
    assert origens(data_dir, "ativos") == {"api"}
