"""The layers of docs/architecture.md, enforced: data moves one way, nothing pure imports Dagster
or boto3, the code location never imports the Lambda, and b3_contract is standard library only
(it ships unchanged to the Lambda and to Glue)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("dagster", "dagster_aws", "boto3", "botocore")


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def files(*parts: str) -> list[Path]:
    base = ROOT.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


def reaching(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in paths
        for name in imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in forbidden)
    )


LAYERS = {
    "source": ("b3_assets.capture", "b3_assets.lake", "b3_assets.refine", "b3_assets.aws"),
    "capture": ("b3_assets.lake", "b3_assets.refine", "b3_assets.aws"),
    "lake": ("b3_assets.refine",),
    "refine": ("b3_assets.lake", "b3_assets.aws"),
    "aws": (),
    "testing": (),
    "analytics": ("b3_assets.capture", "b3_assets.lake", "b3_assets.aws"),  # reads SQL answers
}
DAGSTER_SIDE = ("b3_assets.defs", "b3_assets.cli", "b3_assets.definitions", "b3_assets.testing")


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_nothing_downstream_and_no_dagster(layer: str) -> None:
    forbidden = LAYERS[layer] + ("dagster", "dagster_aws", "lambda_fn")
    forbidden += tuple(d for d in DAGSTER_SIDE if not d.endswith(layer))
    if layer in ("source", "capture", "refine", "analytics"):
        forbidden += ("boto3", "botocore")
    assert reaching(files("b3_assets", layer), forbidden) == []


def test_the_code_location_never_imports_the_lambda() -> None:
    assert reaching(files("b3_assets"), ("lambda_fn",)) == []


def test_the_glue_job_and_the_lambda_import_no_code_location() -> None:
    assert reaching(files("glue") + files("lambda_fn"), ("b3_assets",)) == []


def test_b3_contract_is_standard_library_only() -> None:
    outside = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files("b3_contract")
        for name in imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names | {"b3_contract", "__future__"}
    )
    assert outside == []
    # and the Lambda needs nothing else but the runtime's boto3, imported on first use
    lambda_imports = {name.split(".")[0] for name in imports(ROOT / "lambda_fn" / "handler.py")}
    assert lambda_imports - sys.stdlib_module_names == {"b3_contract", "boto3"}


def test_the_checker_sees_imports_inside_functions_too() -> None:
    """A guard against a checker that cannot fail: the CLI imports Dagster lazily."""
    cli = imports(ROOT / "b3_assets" / "cli.py")
    assert {"dagster", "b3_assets.definitions", "b3_assets.lake.upgrade"} <= cli
    assert reaching(files("b3_assets", "defs"), ("dagster",))
    # index_list imports the client inside a function (the client imports it at the top)
    assert "b3_assets.source.b3_client" in imports(ROOT / "b3_assets/source/index_list.py")


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("b3_contract/glue_tables.py", "b3_contract"),
        ("b3_assets/defs/indices.py", "defs"),
        ("b3_assets/lake/upgrade.py", "lake"),
        ("b3_assets/source/index_list.py", "source"),
    ],
)
def test_the_multi_index_modules_sit_in_a_layer_of_the_table(module: str, layer: str) -> None:
    """Each module of the multi-index work is in a folder the layer table of
    docs/architecture.md names (so the layer tests above cover it) and is listed there."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert f"| `{layer}` |" in doc or f"| `{layer}`," in doc
    assert Path(module).name in doc
    assert (ROOT / module).is_file()
    if layer in LAYERS:
        assert ROOT / module in files("b3_assets", layer)
