"""The preview stages through dagster.materialize: their checks judge each captured preview, a
broken preview is reported without refusing anything, and the preview fails apart from the
daily portfolio."""

import base64
import io
import json
import warnings
from datetime import UTC, date, datetime

import dagster as dg
import pytest
from PIL import Image

from b3_assets.capture.previews import capture_previews
from b3_assets.defs.assets import (
    PREVIEW_BRONZE,
    PREVIEW_CAPTURE_STAGES,
    PREVIEW_LAKE,
    PREVIEW_REFINE_STAGES,
    asset_key,
    build_assets,
    stage_keys,
)
from b3_assets.defs.lake_quality import PREVIEW_RULES
from b3_assets.defs.resources import resources_for
from b3_assets.settings import Settings
from b3_assets.source.b3_client import FetchedTheoretical
from b3_assets.source.trading_calendar import current_session
from b3_contract.lake_keys import Unit

warnings.filterwarnings("ignore", category=dg.BetaWarning)
[ASSETS] = build_assets(["IBOV"])
PREVIA = asset_key("IBOV", "carteira_previa")


def verdicts(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    found = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if data.asset_key == PREVIA:
                found[data.check_name] = data.passed
    return found


def metadata(result: dg.ExecuteInProcessResult, name: str) -> dict:
    [found] = [
        m
        for m in result.asset_materializations_for_node("index_portfolios")
        if m.asset_key == asset_key("IBOV", name)
    ]
    return {key: value.value for key, value in found.metadata.items()}


def test_an_offline_session_before_a_rebalance_gets_its_preview_checked(data_dir) -> None:
    resources = resources_for(Settings(data_dir=data_dir), offline=True)
    result = dg.materialize([ASSETS], resources=resources, partition_key="2025-08-27")
    assert result.success
    assert verdicts(result) == dict.fromkeys(PREVIEW_RULES, True)
    raw = metadata(result, "preview_raw")
    assert raw["preview_served"] is True and raw["target_quadrimester"] == "2025-09"
    changes = metadata(result, "carteira_previa_mudancas")
    assert changes["compared_with_portfolio_of"] == "2025-08-27"
    assert changes["entering"] >= 1 and changes["leaving"] >= 1
    picture = changes["entering_and_leaving_chart"]
    encoded = picture.split("data:image/png;base64,", 1)[1].rstrip(")")
    image = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert image.size[0] >= 400 and image.size[1] >= 200
    previa = metadata(result, "carteira_previa")
    assert previa["constituents"] == raw_count(data_dir)
    assert abs(previa["weights_sum_pct"] - 100) <= 0.001


def raw_count(data_dir) -> int:
    body = (data_dir / "previa/raw/IBOV/2025-08-27/previa_IBOV.json").read_bytes()
    return len(json.loads(body)["results"])


def test_outside_the_window_none_is_served_and_no_check_is_judged(data_dir) -> None:
    resources = resources_for(Settings(data_dir=data_dir), offline=True)
    result = dg.materialize([ASSETS], resources=resources, partition_key="2025-07-01")
    assert result.success
    assert verdicts(result) == {}
    assert metadata(result, "preview_raw")["preview_served"] is False
    # the theoretical portfolio (always served) goes to the lake; carteira_previa has no rows
    assert (data_dir / "lake/previa/raw/IBOV/2025-07-01/dados_originais.parquet").exists()
    assert not (data_dir / "lake/refined/previa/indice=IBOV/data=2025-07-01").exists()


def broken_preview() -> bytes:
    rows = [
        {
            "cod": "PETR4",
            "asset": "PETROBRAS",
            "type": "PN N2",
            "theoricalQty": "0",
            "part": "60,000",
        },
        {
            "cod": "PETR4",
            "asset": "PETROBRAS",
            "type": "PN N2",
            "theoricalQty": "5",
            "part": "30,000",
        },
    ]
    for row in rows:
        row["cont"] = 1
    page = {"pageNumber": 1, "pageSize": 120, "totalRecords": 2, "totalPages": 1}
    header = {"part": "90,000", "theoricalQty": "5", "reductor": "1,00000000"}
    return json.dumps({"page": page, "header": header, "results": rows}).encode()


def test_a_broken_preview_fails_its_checks_and_nothing_is_refused(data_dir) -> None:
    """A preview is a forecast: its rules report, the run stays green, the rows stay queryable."""
    unit = Unit("IBOV", date(2025, 8, 27))
    body = broken_preview()

    def fetch(kind: str) -> FetchedTheoretical:
        response = json.loads(body)
        served = kind == "preview"
        return FetchedTheoretical(
            kind, "IBOV", "pt-br", served, body, response, "test", datetime.now(UTC), 1
        )

    capture_previews(data_dir, unit, fetch)
    resources = resources_for(Settings(data_dir=data_dir))
    selection = stage_keys(["IBOV"], PREVIEW_BRONZE, PREVIEW_LAKE, *PREVIEW_REFINE_STAGES)
    result = dg.materialize(
        [ASSETS], resources=resources, partition_key="2025-08-27", selection=selection
    )
    assert result.success
    assert verdicts(result) == {
        "weights_sum_to_100": False,
        "quantities_positive": False,
        "no_repeated_ticker": False,
    }
    assert (data_dir / "lake/refined/previa/indice=IBOV/data=2025-08-27").is_dir()


def test_the_preview_is_captured_when_the_daily_portfolio_fails(data_dir, b3_server) -> None:
    """B3 serves the daily portfolio of 2025-07-14 only, so today's daily capture fails; the
    preview of today's session (B3's empty answer) is still asked and recorded."""
    today = current_session()
    if today == date(2025, 7, 14):
        pytest.skip("the fake B3 serves today's daily portfolio")
    resources = resources_for(Settings(data_dir=data_dir, api_url=b3_server.api_url))
    selection = stage_keys(["IBOV"], "portfolio_raw", *PREVIEW_CAPTURE_STAGES)
    result = dg.materialize(
        [ASSETS],
        resources=resources,
        partition_key=today.isoformat(),
        selection=selection,
        raise_on_error=False,
    )
    assert not result.success
    record = json.loads(
        (data_dir / f"previa/raw/IBOV/{today.isoformat()}/capture.json").read_bytes()
    )
    assert record["answers"]["previa"]["served"] is False
    assert metadata(result, "preview_raw")["session"] == today.isoformat()
