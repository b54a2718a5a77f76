"""The install is locked (docs/architecture.md, "Dependencies"): uv.lock holds exactly the
requirements pyproject.toml declares, the README's commands and .ci/run install from it with
`uv sync --locked`, and the Glue job's pins are the lock's versions. Pure file reading: no
network, and no verdict that depends on what the package index serves on the day."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from b3_contract.glue_job import JOB_MODULES

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "b3-lake"


def load(name: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / name).read_text(encoding="utf-8"))


def _line(name: str, extras: tuple[str, ...], specifier: str, marker: str) -> str:
    extra = f"[{','.join(extras)}]" if extras else ""
    return f"{name}{extra}{specifier}" + (f"; {marker}" if marker else "")


def declared(pyproject: dict[str, Any]) -> set[str]:
    """pyproject's requirements in one normal form: the extras' own get `extra == '...'`."""
    project = pyproject["project"]
    groups = [(None, project.get("dependencies", []))]
    groups += list(project.get("optional-dependencies", {}).items())
    found = set()
    for extra, requirements in groups:
        for text in requirements:
            requirement = Requirement(text)
            marker = str(requirement.marker) if requirement.marker else ""
            if extra is not None:
                marker = f"({marker}) and extra == '{extra}'" if marker else f"extra == '{extra}'"
            found.add(
                _line(
                    canonicalize_name(requirement.name),
                    tuple(sorted(requirement.extras)),
                    str(requirement.specifier),
                    str(Marker(marker)) if marker else "",
                )
            )
    return found


def locked(lock: dict[str, Any]) -> set[str]:
    """What the lock was resolved for: its root package's `requires-dist`."""
    (root,) = [p for p in lock["package"] if p["name"] == PROJECT]
    return {
        _line(
            canonicalize_name(entry["name"]),
            tuple(sorted(entry.get("extras", []))),
            str(SpecifierSet(entry.get("specifier", ""))),
            str(Marker(entry["marker"])) if entry.get("marker") else "",
        )
        for entry in root["metadata"]["requires-dist"]
    }


def disagreements(pyproject: dict[str, Any], lock: dict[str, Any]) -> list[str]:
    """One line per requirement that only one of the two holds, and per differing constraint
    or override set."""
    ours, theirs = declared(pyproject), locked(lock)
    lines = [f"pyproject.toml only: {r}" for r in sorted(ours - theirs)]
    lines += [f"uv.lock only: {r}" for r in sorted(theirs - ours)]
    uv = pyproject.get("tool", {}).get("uv", {})
    for setting, manifest in (
        ("constraint-dependencies", "constraints"),
        ("override-dependencies", "overrides"),
    ):
        wanted = {str(Requirement(text)) for text in uv.get(setting, [])}
        held = {
            f"{entry['name']}{SpecifierSet(entry.get('specifier', ''))}"
            for entry in lock.get("manifest", {}).get(manifest, [])
        }
        if wanted != held:
            lines.append(f"{manifest}: pyproject.toml {sorted(wanted)}, uv.lock {sorted(held)}")
    return lines


def locked_versions(lock: dict[str, Any], name: str) -> set[str]:
    return {p["version"] for p in lock["package"] if p["name"] == canonicalize_name(name)}


def test_the_lock_holds_exactly_what_pyproject_declares() -> None:
    assert disagreements(load("pyproject.toml"), load("uv.lock")) == []


def test_a_dependency_added_to_one_side_only_is_named() -> None:
    pyproject, lock = load("pyproject.toml"), load("uv.lock")
    pyproject["project"]["dependencies"].append("rich>=13")
    pyproject["project"]["optional-dependencies"]["dev"].append("mypy>=1.10")
    assert disagreements(pyproject, lock) == [
        'pyproject.toml only: mypy>=1.10; extra == "dev"',
        "pyproject.toml only: rich>=13",
    ]
    pyproject = load("pyproject.toml")
    (root,) = [p for p in lock["package"] if p["name"] == PROJECT]
    root["metadata"]["requires-dist"].append({"name": "tqdm", "specifier": ">=4"})
    assert disagreements(pyproject, lock) == ["uv.lock only: tqdm>=4"]


def test_a_changed_range_or_constraint_is_named() -> None:
    pyproject, lock = load("pyproject.toml"), load("uv.lock")
    deps = pyproject["project"]["dependencies"]
    deps[:] = ["duckdb>=1.1,<2" if d.startswith("duckdb") else d for d in deps]
    assert disagreements(pyproject, lock) == [
        "pyproject.toml only: duckdb<2,>=1.1",
        "uv.lock only: duckdb<3,>=1.1",
    ]
    pyproject = load("pyproject.toml")
    pyproject["tool"]["uv"]["constraint-dependencies"] = ["numpy<2"]
    (problem,) = disagreements(pyproject, lock)
    assert problem.startswith("constraints: pyproject.toml ['numpy<2'], uv.lock [")
    pyproject = load("pyproject.toml")
    pyproject["tool"]["uv"]["override-dependencies"] = []
    (problem,) = disagreements(pyproject, lock)
    assert problem.startswith("overrides: pyproject.toml [], uv.lock [")


def test_every_direct_dependency_is_locked_inside_its_range() -> None:
    """The lock's pins lie in pyproject's ranges (what a user installing the package into their
    own environment is promised is what the suite was proven with)."""
    lock = load("uv.lock")
    for text in declared(load("pyproject.toml")):
        requirement = Requirement(text)
        if requirement.name == PROJECT:  # b3-lake[spark] inside the dev extra
            continue
        versions = locked_versions(lock, requirement.name)
        assert versions, f"{requirement.name} is not in uv.lock"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (text, version)


def _code_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)


def test_the_readme_commands_and_ci_install_from_the_lock_with_the_pinned_uv() -> None:
    required = load("pyproject.toml")["tool"]["uv"]["required-version"]
    assert required.startswith("==")
    uv = f"pip install uv{required}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    run_command, test_command = (block.strip() for block in _code_blocks(quick_start)[:2])
    for command in (run_command, test_command):
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
        assert f" {uv} && uv sync --locked" in command, command
    assert run_command.endswith("&& b3 run --offline")
    assert test_command.endswith("--extra dev && pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == test_command  # CI runs exactly the README's test command


@pytest.mark.parametrize("module", sorted(JOB_MODULES))
def test_the_glue_job_installs_the_locked_version(module: str) -> None:
    """b3 deploy and the template install the contract's pins (tests/infra/test_template.py);
    those are the lock's versions, so Glue runs what the suite was proven with."""
    assert locked_versions(load("uv.lock"), module) == {JOB_MODULES[module]}
