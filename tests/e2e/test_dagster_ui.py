"""What `dagster dev` shows of the analytics: a real webserver over the instance `b3 run` wrote
to, asked through its GraphQL as the asset pages ask it."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import free_port
from PIL import Image

pytestmark = pytest.mark.e2e

MATERIALIZATIONS = """
query Materializations($assetKey: AssetKeyInput!) {
  assetOrError(assetKey: $assetKey) {
    __typename
    ... on Asset {
      assetMaterializations(limit: 10) {
        partition
        metadataEntries {
          __typename
          label
          ... on FloatMetadataEntry { floatValue }
          ... on IntMetadataEntry { intValue }
          ... on MarkdownMetadataEntry { mdStr }
        }
      }
    }
  }
}
"""
IMAGE = re.compile(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")
DATES = ("2025-07-10", "2025-07-11", "2025-07-14")


@pytest.fixture(scope="module")
def webserver(tmp_path_factory) -> str:
    """Three offline `b3 run`s recorded in a DAGSTER_HOME, then the webserver over it."""
    root = tmp_path_factory.mktemp("ui")
    home = root / "home"
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("B3_", "DAGSTER_"))},
        "B3_DATA_DIR": str(root / "data"),
        "DAGSTER_HOME": str(home),
    }
    b3 = Path(sys.executable).with_name("b3")
    for day in DATES:
        done = subprocess.run(
            [str(b3), "run", "--offline", "--date", day], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
    code = root / "offline_definitions.py"
    code.write_text(
        "from b3_assets.definitions import build_definitions\n\n"
        "defs = build_definitions(offline=True)\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster-webserver")),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-f",
            str(code),
            "-a",
            "defs",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        else:
            pytest.fail("the webserver did not answer within 120 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def materializations(url: str, name: str) -> list[dict]:
    answer = requests.post(
        f"{url}/graphql",
        json={"query": MATERIALIZATIONS, "variables": {"assetKey": {"path": ["IBOV", name]}}},
        timeout=60,
    ).json()
    asset = answer["data"]["assetOrError"]
    assert asset["__typename"] == "Asset", answer
    return asset["assetMaterializations"]


def entries(materialization: dict) -> dict[str, dict]:
    return {entry["label"]: entry for entry in materialization["metadataEntries"]}


@pytest.mark.parametrize(
    ("name", "figures", "pictures"),
    [
        (
            "carteira_concentracao",
            ("constituents", "top10_weight_pct", "hhi", "effective_constituents"),
            ("weights_chart", "sectors_chart"),
        ),
        ("carteira_mudancas", ("entries", "exits", "quantity_changes"), ()),
        ("carteira_historico", ("constituents",), ("largest_weights_chart",)),
    ],
)
def test_each_materialization_has_numbers_to_plot_and_pictures_that_decode(
    webserver, name, figures, pictures
) -> None:
    found = materializations(webserver, name)
    assert sorted(m["partition"] for m in found) == sorted(DATES)  # one point per run to plot
    for materialization in found:
        meta = entries(materialization)
        for label in figures:  # numeric entries: what the asset's Plots tab draws over time
            assert meta[label]["__typename"] in ("IntMetadataEntry", "FloatMetadataEntry"), label
        for label in pictures:
            assert meta[label]["__typename"] == "MarkdownMetadataEntry"
            match = IMAGE.fullmatch(meta[label]["mdStr"])
            assert match, label
            image = Image.open(io.BytesIO(base64.b64decode(match.group(1))))
            image.load()
            assert image.format == "PNG" and image.width >= 400 and image.height >= 200


def test_the_numbers_follow_the_data(webserver) -> None:
    """The offline sample moves weights every day: the plotted HHI is the table's, per date."""
    found = {m["partition"]: entries(m) for m in materializations(webserver, "carteira_mudancas")}
    # the first date has no captured session before it; the next ones compare with the previous
    assert found[DATES[0]]["sessions_since_previous"]["intValue"] == 0
    assert found[DATES[1]]["sessions_since_previous"]["intValue"] == 1
    assert found[DATES[2]]["sessions_since_previous"]["intValue"] == 1
    conc = {
        m["partition"]: entries(m) for m in materializations(webserver, "carteira_concentracao")
    }
    hhis = {day: conc[day]["hhi"]["floatValue"] for day in DATES}
    assert all(200 < value < 1500 for value in hhis.values()), hhis
