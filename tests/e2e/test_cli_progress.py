"""The real `b3` command's progress on stderr, its --version and its --help examples.

`b3 import` of 30 generated B3 downloads (two ranges of dates, so two runs) and `b3 backfill`
of them: on a pseudo-terminal the progress is one line rewritten with \\r and erased at the end;
into a pipe it is a few plain lines and the final one. stdout keeps only the result lines."""

from __future__ import annotations

import fcntl
import math
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

B3 = Path(sys.executable).parent / "b3"
COMMANDS = (
    "run", "import", "backfill", "indices", "query", "report", "upgrade", "deploy",
    "package-lambda", "verify",
)  # fmt: skip
FILES_LINE = re.compile(
    r"b3 import: (\d+) of 30 files read( \((IBOVDia_[\d-]+\.csv)\))?, (\d+ s) elapsed"
)
REFINED_LINE = re.compile(
    r"b3 (import|backfill): (\d+) of 30 portfolios refined"
    r"( \(run ([12]) of 2: IBOV (\S+)\))?, (\d+ s|\d+ min \d\d s) elapsed"
)  # fmt: skip


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def env_for(data_dir: Path) -> dict[str, str]:
    env = os.environ | {"B3_DATA_DIR": str(data_dir), "B3_API_URL": "http://127.0.0.1:9/"}
    env.pop("DAGSTER_HOME", None)
    return env


def b3_in_pipe(data_dir: Path, *args: str) -> Done:
    started = time.monotonic()
    done = subprocess.run(
        [str(B3), *args], env=env_for(data_dir), capture_output=True, text=True, timeout=240
    )
    return Done(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def b3_on_terminal(data_dir: Path, *args: str) -> Done:
    """The command with stderr on a pseudo-terminal of 160 columns (stdout a pipe)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    chunks: list[bytes] = []

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal is closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            [str(B3), *args],
            env=env_for(data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        )
        os.close(slave)
        stdout, _ = proc.communicate(timeout=240)
        reader.join(timeout=30)
    finally:
        os.close(master)
    return Done(
        proc.returncode, stdout.decode(), b"".join(chunks).decode(), time.monotonic() - started
    )


@pytest.fixture(scope="module")
def days() -> list[date]:
    """30 sessions in two ranges with a gap between them: 18 of March 2024, 12 of June."""
    from b3_assets.source.trading_calendar import trading_days

    return (
        trading_days(date(2024, 3, 1), date(2024, 3, 31))[:18]
        + trading_days(date(2024, 6, 3), date(2024, 6, 30))[:12]
    )


@pytest.fixture(scope="module")
def downloads(tmp_path_factory, days) -> list[Path]:
    """B3-shaped daily CSVs of IBOV, named as B3 names them (IBOVDia_DD-MM-YY.csv)."""
    from b3_assets.testing.sample import sample_csv

    folder = tmp_path_factory.mktemp("downloads")
    paths = []
    for day in days:
        path = folder / f"IBOVDia_{day:%d-%m-%y}.csv"
        path.write_bytes(sample_csv(day, "IBOV"))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def piped_import(tmp_path_factory, downloads) -> tuple[Path, Done]:
    """A data dir after `b3 import` of the 30 files with stderr into a pipe."""
    data_dir = tmp_path_factory.mktemp("piped") / "data"
    return data_dir, b3_in_pipe(data_dir, "import", *map(str, downloads))


def assert_results_only(stdout: str, lines: int, prefix: str) -> None:
    """stdout is the result lines scripts read: no progress, no carriage return."""
    assert "\r" not in stdout and "elapsed" not in stdout
    assert sum(line.startswith(prefix) for line in stdout.splitlines()) == lines, stdout


def terminal_frames(text: str) -> list[str]:
    """What the terminal showed, frame by frame: a \\r starts each rewrite of the line."""
    assert "\n" not in text, text  # never a new line: one line, rewritten in place
    assert text.startswith("\r")
    *shown, blank, end = text.split("\r")
    assert end == "" and blank.strip() == "" and len(blank) > 20, repr(text[-200:])  # erased
    # blank frames are the line erased between two phases or around printed results
    return [frame.rstrip() for frame in shown[1:] if frame.strip()]


def test_import_on_a_terminal_rewrites_one_line_of_progress_and_erases_it(
    tmp_path, downloads, days
) -> None:
    done = b3_on_terminal(tmp_path / "data", "import", *map(str, downloads))
    assert done.returncode == 0, done.stderr
    assert_results_only(done.stdout, 30, "imported IBOV ")
    frames = terminal_frames(done.stderr)
    reading = [m for f in frames if (m := FILES_LINE.fullmatch(f))]
    refining = [m for f in frames if (m := REFINED_LINE.fullmatch(f))]
    assert len(reading) + len(refining) == len(frames), frames  # nothing else was written
    # the files: counted one by one up to 30, each named while it is read
    counts = [int(m[1]) for m in reading]
    assert counts == sorted(counts) and counts[-1] == 30 and len(set(counts)) >= 30
    assert {m[3] for m in reading if m[3]} == {p.name for p in downloads}
    # the runs: 0 of 30, then 18 after the March run, then 30; each run named with its dates
    counts = [int(m[2]) for m in refining]
    assert counts == sorted(counts) and {0, 18, 30} <= set(counts)
    under_way = {(m[4], m[5]) for m in refining if m[3]}
    assert under_way == {("1", f"{days[0]}..{days[17]}"), ("2", f"{days[18]}..{days[29]}")}
    # the ticker: the elapsed time moved while a run was under way
    assert len({m[6] for m in refining if m[3]}) >= 2, frames


def test_import_into_a_pipe_writes_a_few_plain_lines_and_the_final_one(piped_import) -> None:
    _, done = piped_import
    assert done.returncode == 0, done.stderr
    assert_results_only(done.stdout, 30, "imported IBOV ")
    assert "\r" not in done.stderr
    lines = done.stderr.splitlines()
    # at most one line per 10 s of each phase, and the end of each phase
    assert len(lines) <= 2 + 2 * math.ceil(done.seconds / 10), lines
    files = [m for line in lines if (m := FILES_LINE.fullmatch(line))]
    refined = [m for line in lines if (m := REFINED_LINE.fullmatch(line))]
    # only progress lines: those of reading the files, then those of the runs
    assert [m.string for m in files + refined] == lines, lines
    assert files[-1][1] == "30" and files[-1][2] is None  # the end of reading the files
    assert refined[-1].string == lines[-1]  # and the end of the runs, last
    assert refined[-1][2] == "30" and refined[-1][3] is None, lines


def test_backfill_on_a_terminal_shows_its_runs_and_erases_the_line(piped_import, days) -> None:
    data_dir, imported = piped_import
    assert imported.returncode == 0, imported.stderr
    done = b3_on_terminal(data_dir, "backfill", "--from", str(days[0]), "--to", str(days[-1]))
    assert done.returncode == 0, done.stderr
    assert_results_only(done.stdout, 2, "refined IBOV: ")
    frames = terminal_frames(done.stderr)
    refining = [REFINED_LINE.fullmatch(f) for f in frames]
    assert all(m and m[1] == "backfill" for m in refining), frames
    assert {0, 18, 30} <= {int(m[2]) for m in refining}
    assert {m[4] for m in refining if m[3]} == {"1", "2"}


def test_backfill_into_a_pipe_ends_with_one_plain_line(piped_import, days) -> None:
    data_dir, imported = piped_import
    assert imported.returncode == 0, imported.stderr
    done = b3_in_pipe(data_dir, "backfill", "--from", str(days[0]), "--to", str(days[-1]))
    assert done.returncode == 0, done.stderr
    assert_results_only(done.stdout, 2, "refined IBOV: ")
    assert "\r" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) <= 1 + math.ceil(done.seconds / 10), lines
    assert re.fullmatch(r"b3 backfill: 30 of 30 portfolios refined, \d+ s elapsed", lines[-1])


def test_version_prints_the_installed_distribution_version(tmp_path) -> None:
    done = b3_in_pipe(tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"b3-lake {version('b3-lake')}\n"
    assert version("b3-lake") and version("b3-lake")[0].isdigit()


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_help_ends_with_an_example_of_itself(tmp_path, command: str) -> None:
    done = b3_in_pipe(tmp_path, command, "--help")
    assert done.returncode == 0, done.stderr
    last = done.stdout.rstrip("\n").splitlines()[-1]
    assert re.fullmatch(rf"Example: (B3_[A-Z_]+=\S+ )*b3 {command}( .+)?", last), last
