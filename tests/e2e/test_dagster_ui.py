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

from b3_contract.tables import CATALOG_TABLES, INDEX_TABLES, TABLES

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
SCHEMA = """
fragment Columns on MetadataEntry {
  label
  ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
}
query Columns($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode { metadataEntries { ...Columns } }
  }
  assetOrError(assetKey: $assetKey) {
    __typename
    ... on Asset { assetMaterializations(limit: 1) { metadataEntries { ...Columns } } }
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
            [str(b3), "run", "--offline", "--date", day, "--sample-past-session"],
            env=env,
            capture_output=True,
            text=True,
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


def column_schema(url: str, name: str) -> tuple[list[dict], list[dict]]:
    """The `dagster/column_schema` columns of IBOV's asset `name` as its page gets them: the
    definition's, and the latest materialization's."""
    answer = requests.post(
        f"{url}/graphql",
        json={"query": SCHEMA, "variables": {"assetKey": {"path": ["IBOV", name]}}},
        timeout=60,
    ).json()
    node, asset = answer["data"]["assetNodeOrError"], answer["data"]["assetOrError"]
    assert node["__typename"] == "AssetNode" and asset["__typename"] == "Asset", answer
    [latest] = asset["assetMaterializations"]

    def columns(metadata: list[dict]) -> list[dict]:
        [schema] = [e["schema"] for e in metadata if e["label"] == "dagster/column_schema"]
        return schema["columns"]

    return columns(node["metadataEntries"]), columns(latest["metadataEntries"])


def test_ibov_ativos_columns_show_the_contracts_descriptions(webserver) -> None:
    """ibov_ativos is IBOV's folder of carteira_ativos, the asset IBOV/carteira_ativos: its page
    lists every column with its type and the contract's description, before and after a run."""
    carteira, ibov = TABLES["carteira_ativos"], INDEX_TABLES["ibov_ativos"]
    for columns in column_schema(webserver, "carteira_ativos"):
        shown = [(c["name"], c["type"], c["description"]) for c in columns]
        assert shown == carteira.described_columns
        # every column of ibov_ativos but its IBOV-only `indice` reads the same words
        said = {name: description for name, _, description in shown}
        for name, _, description in ibov.described_columns:
            if name != "indice":
                assert said[name] == description, name
        assert said["ranking"].startswith("1 = the largest weight")


@pytest.mark.parametrize("name", ["carteira_mudancas", "carteira_previa_mudancas"])
def test_the_analytics_and_preview_pages_show_descriptions_too(webserver, name) -> None:
    definition, materialized = column_schema(webserver, name)
    wanted = [(n, k, d) for n, k, d in CATALOG_TABLES[name].described_columns]
    assert [(c["name"], c["type"], c["description"]) for c in definition] == wanted
    assert [(c["name"], c["description"]) for c in materialized] == [(n, d) for n, _, d in wanted]
