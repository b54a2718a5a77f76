"""The suite's own prerequisite check (tests/conftest.py): Java 17+ found where pyspark looks for
it ($JAVA_HOME/bin/java, else `java` on PATH) for the `spark` tests, Debian's chromium and
Playwright for the `browser` tests. A missing one stops the whole run once, before any test
starts, naming what is missing and how to install it; no Spark start and no Py4J errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import conftest
import pytest
from conftest import JAVA_MAJOR, browser_problem, java_problem, missing_prerequisites

ROOT = Path(__file__).resolve().parents[2]
SPARK_FILE = "tests/aws/test_parity.py"  # every test in it is marked `spark`
STOPPED = "missing prerequisites, no test was run: "


def fake_java(folder: Path, says: str, exit_code: int = 0) -> Path:
    """An executable `java` in folder/bin that answers `-version` as a real JVM does (on
    stderr), so the check's reading of versions is tested without installing JVMs."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    java = bin_dir / "java"
    java.write_text(f"#!/bin/sh\necho '{says}' >&2\nexit {exit_code}\n")
    java.chmod(0o755)
    return java


def python_only(folder: Path) -> Path:
    """A PATH entry holding only this venv's python: no java, nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "python").symlink_to(sys.executable)
    return folder


@pytest.mark.parametrize(
    ("version_line", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('openjdk version "17-ea" 2021-03-16', 17),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ('java version "1.8.0_292"', 8),
    ],
)
@pytest.mark.parametrize("found_by", ["JAVA_HOME", "PATH"])
def test_the_java_version_is_read_as_a_jvm_prints_it(
    tmp_path: Path, version_line: str, major: int, found_by: str
) -> None:
    java = fake_java(tmp_path / "jdk", version_line)
    empty = python_only(tmp_path / "empty")
    if found_by == "JAVA_HOME":
        environ = {"JAVA_HOME": str(tmp_path / "jdk"), "PATH": str(empty)}
    else:
        environ = {"PATH": f"{empty}{os.pathsep}{java.parent}"}
    problem = java_problem(environ)
    if major >= JAVA_MAJOR:
        assert problem is None
    else:
        assert problem == f"{java} is Java {major}, older than {JAVA_MAJOR}"


def test_java_home_wins_over_path_as_in_pyspark(tmp_path: Path) -> None:
    good = fake_java(tmp_path / "jdk17", 'openjdk version "17.0.15" 2025-04-15')
    environ = {"JAVA_HOME": "/nonexistent", "PATH": str(good.parent)}
    assert java_problem(environ) == (
        "JAVA_HOME is /nonexistent but /nonexistent/bin/java is not an executable"
    )
    # an empty JAVA_HOME is unset for spark-class (`[ -n "${JAVA_HOME}" ]`): PATH is used
    assert java_problem({"JAVA_HOME": "", "PATH": str(good.parent)}) is None


def test_no_java_anywhere_and_an_unreadable_java_are_named(tmp_path: Path) -> None:
    empty = python_only(tmp_path / "empty")
    assert java_problem({"PATH": str(empty)}) == (
        "JAVA_HOME is not set and there is no `java` on PATH"
    )
    broken = fake_java(tmp_path / "broken", "Error: could not find libjava.so", exit_code=1)
    assert java_problem({"JAVA_HOME": str(tmp_path / "broken")}) == (
        f"`{broken} -version` did not tell its version (exit 1: 'Error: could not find libjava.so')"
    )
    not_executable = fake_java(tmp_path / "plain", 'openjdk version "17.0.1"')
    not_executable.chmod(0o644)
    assert "is not an executable" in java_problem({"JAVA_HOME": str(tmp_path / "plain")})


def test_only_a_selected_marker_is_checked(tmp_path: Path, monkeypatch) -> None:
    nowhere = {"JAVA_HOME": "/nonexistent", "PATH": str(python_only(tmp_path / "empty"))}
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    assert missing_prerequisites({"spark": 0, "browser": 0}, nowhere) == []
    (spark,) = missing_prerequisites({"spark": 3}, nowhere)
    assert spark.startswith("3 selected test(s) marked `spark` start Spark and need Java 17")
    assert "/nonexistent/bin/java is not an executable" in spark
    assert "`sudo apt-get install openjdk-17-jre-headless`" in spark
    assert spark.endswith("or leave them out with -m 'not spark'")
    (browser,) = missing_prerequisites({"browser": 2}, nowhere)
    assert browser.startswith("2 selected test(s) marked `browser` need Debian's chromium")
    assert f"there is no chromium at {tmp_path / 'no-chromium'}" in browser
    assert "`sudo apt-get install chromium`" in browser
    assert len(missing_prerequisites({"spark": 1, "browser": 1}, nowhere)) == 2


def test_a_chromium_that_is_not_executable_is_missing(tmp_path: Path, monkeypatch) -> None:
    chromium = tmp_path / "chromium"
    chromium.write_text("not a browser")
    monkeypatch.setattr(conftest, "CHROMIUM", chromium)
    assert browser_problem() == (
        f"there is no chromium at {chromium}: `sudo apt-get install chromium` (.ci/run installs it)"
    )


@pytest.mark.spark
def test_this_machines_java_passes_the_check() -> None:
    """Where the `spark` tests run, the check finds Java as pyspark will and stops nothing."""
    assert java_problem() is None
    assert missing_prerequisites({"spark": 1}) == []


@pytest.mark.browser
def test_this_machines_browser_passes_the_check() -> None:
    assert browser_problem() is None
    assert missing_prerequisites({"browser": 1}) == []


def run_pytest(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done, time.monotonic() - started


def clean_env(**changes: str) -> dict[str, str]:
    """This environment without the outer pytest's own variables, with `changes`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "JAVA_HOME"))}
    return env | changes


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("java_home", "workers", "missing"),
    [
        ("/nonexistent", "0", "JAVA_HOME is /nonexistent but /nonexistent/bin/java is not an"),
        (None, "2", "JAVA_HOME is not set and there is no `java` on PATH"),
    ],
    ids=["java-home-nowhere", "no-java-on-path-xdist"],
)
def test_a_spark_selection_without_java_stops_once_before_spark(
    tmp_path: Path, java_home: str | None, workers: str, missing: str
) -> None:
    env = clean_env(PATH=str(python_only(tmp_path / "bin")))
    if java_home:
        env["JAVA_HOME"] = java_home
    done, _ = run_pytest(SPARK_FILE, "-n", workers, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.INTERRUPTED, output
    assert output.count(STOPPED) == 1, output
    assert output.count("start Spark and need Java 17 or newer") == 1
    assert missing in output
    assert "apt-get install openjdk-17-jre-headless" in output
    for noise in ("Py4J", "py4j", "JAVA_GATEWAY", "Traceback", "PASSED", "FAILED"):
        assert noise not in output, output


@pytest.mark.e2e
def test_the_same_selection_with_java_17_is_not_stopped(tmp_path: Path) -> None:
    """`--setup-plan` runs the session (and so the check) without starting Spark: with a Java 17
    on PATH, and nothing else, the run goes on; listing tests never needs Java."""
    fake_java(tmp_path / "jdk", 'openjdk version "17.0.15" 2025-04-15')
    path = f"{python_only(tmp_path / 'bin')}{os.pathsep}{tmp_path / 'jdk' / 'bin'}"
    done, _ = run_pytest(SPARK_FILE, "-n", "0", "--setup-plan", env=clean_env(PATH=path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert STOPPED not in done.stdout + done.stderr
    assert "SETUP    M spark" in done.stdout
    no_java = clean_env(PATH=str(python_only(tmp_path / "nojava")))
    done, _ = run_pytest(SPARK_FILE, "-n", "0", "--collect-only", "-q", env=no_java)
    assert done.returncode == 0, done.stdout + done.stderr
    assert STOPPED not in done.stdout + done.stderr
    assert done.stdout.count(f"{SPARK_FILE}::") >= 1
