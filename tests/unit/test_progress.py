"""The progress lines of `b3 import` and `b3 backfill` (b3_assets/progress.py): what is printed for
n of N at t seconds, on a terminal (one line rewritten with \\r, erased at the end) and elsewhere
(plain lines, at most one per interval, and the final one), driven by a fake clock."""

from __future__ import annotations

import io
import re
import shlex
import time

import pytest

from b3_assets import progress
from b3_assets.progress import (
    Progress,
    due,
    elapsed_text,
    erase,
    fit,
    frame,
    say,
    status_line,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.99, "0 s"),
        (59.9, "59 s"),
        (60, "1 min 00 s"),
        (125, "2 min 05 s"),
        (3599, "59 min 59 s"),
        (3600 + 3 * 60 + 59, "1 h 03 min"),
        (-1, "0 s"),
    ],
)
def test_elapsed_is_whole_units(seconds: float, text: str) -> None:
    assert elapsed_text(seconds) == text


def test_the_line_says_n_of_total_what_is_under_way_and_the_elapsed_time() -> None:
    line = status_line("b3 import", 12, 30, "files read", 3.2, "IBOVDia_02-01-24.csv")
    assert line == "b3 import: 12 of 30 files read (IBOVDia_02-01-24.csv), 3 s elapsed"
    # once everything is done nothing is under way
    done = status_line("b3 backfill", 30, 30, "portfolios refined", 75, "run 1 of 1: IBOV")
    assert done == "b3 backfill: 30 of 30 portfolios refined, 1 min 15 s elapsed"


def test_a_line_wider_than_the_terminal_is_cut_to_fit() -> None:
    line = "x" * 50
    assert fit(line, 80) == line
    assert fit(line, 0) == line  # width unknown (a pseudo-terminal never sized)
    cut = fit(line, 20)
    assert len(cut) == 19 and cut.endswith("…")  # the last column stays free: no wrap


def test_a_terminal_line_is_always_due_elsewhere_once_per_interval() -> None:
    assert due(True, 0.1, 0.0)
    assert not due(False, 9.9, 0.0, interval=10)
    assert due(False, 10.0, 0.0, interval=10)
    assert not due(False, 15.0, 10.0, interval=10)


def test_frames_rewrite_in_place_on_a_terminal_and_are_lines_elsewhere() -> None:
    assert frame("abc", tty=False) == "abc\n"
    assert frame("abc", tty=True) == "\rabc"
    assert frame("abc", tty=True, previous_width=5) == "\rabc  "  # the longer line's tail goes
    assert erase(4) == "\r    \r"
    assert erase(0) == ""


def run_items(tty: bool, items: int, step: float, interval: float = 10.0) -> str:
    """What a Progress of `items` items, one every `step` fake seconds, writes."""
    clock, out = Clock(), io.StringIO()
    with Progress(
        "b3 import", items, "files read", stream=out, tty=tty, clock=clock, interval=interval,
        tick=None,
    ) as bar:  # fmt: skip
        for number in range(items):
            clock.now += step
            bar.advance(current=f"file {number + 2}")
    return out.getvalue()


def test_elsewhere_a_long_phase_writes_a_bounded_number_of_plain_lines_and_the_final_one() -> None:
    written = run_items(tty=False, items=200, step=0.5)  # 100 s in all
    assert "\r" not in written
    lines = written.splitlines()
    assert len(lines) <= 100 / 10 + 1
    assert len(lines) >= 10  # one every 10 s: the log shows the work moving
    assert len(set(lines)) == len(lines)  # the end repeats no line already written
    assert lines[-1] == "b3 import: 200 of 200 files read, 1 min 40 s elapsed"
    assert lines[0] == "b3 import: 20 of 200 files read (file 21), 10 s elapsed"
    counts = [int(re.match(r"b3 import: (\d+) of", line)[1]) for line in lines]
    assert counts == sorted(counts)


def test_elsewhere_a_quick_phase_writes_only_the_final_line() -> None:
    written = run_items(tty=False, items=30, step=0.01)
    assert written == "b3 import: 30 of 30 files read, 0 s elapsed\n"


def test_on_a_terminal_every_update_rewrites_the_line_and_the_end_erases_it() -> None:
    written = run_items(tty=True, items=3, step=1.0)
    assert "\n" not in written
    frames = written.split("\r")
    assert frames[0] == ""  # it starts by going to the start of the line
    shown = [f.rstrip() for f in frames[1:-2]]
    assert shown == [
        "b3 import: 0 of 3 files read, 0 s elapsed",
        "b3 import: 1 of 3 files read (file 2), 1 s elapsed",
        "b3 import: 2 of 3 files read (file 3), 2 s elapsed",
        "b3 import: 3 of 3 files read, 3 s elapsed",
    ]
    assert frames[-2] == " " * len(shown[-1]) and frames[-1] == ""  # erased, cursor at start


def test_nothing_to_do_writes_nothing() -> None:
    for tty in (True, False):
        out = io.StringIO()
        with Progress("b3 backfill", 0, "portfolios refined", stream=out, tty=tty, tick=None):
            pass
        assert out.getvalue() == ""


def test_each_counts_every_item_even_the_skipped_ones() -> None:
    out = io.StringIO()
    seen = []
    with Progress("b3 import", 4, "files read", stream=out, tty=True, tick=None) as bar:
        for name in bar.each(["a.csv", "b.csv", "c.csv", "d.csv"]):
            if name == "b.csv":
                continue  # a refused file is read too
            seen.append((name, bar.done, bar.current))
    assert seen == [("a.csv", 0, "a.csv"), ("c.csv", 2, "c.csv"), ("d.csv", 3, "d.csv")]
    assert bar.done == 4
    assert "4 of 4 files read" in out.getvalue()


def test_a_message_printed_during_the_work_does_not_mix_into_the_line(capsys) -> None:
    out = io.StringIO()
    with Progress("b3 import", 2, "files read", stream=out, tty=True, tick=None) as bar:
        bar.advance()
        before = out.getvalue()
        say("refused x.csv: not B3's format", file=out)
        after = out.getvalue()[len(before) :]
    width = len("b3 import: 1 of 2 files read, 0 s elapsed")
    # erased, the message on its own line, then the line again
    assert after.startswith(erase(width) + "refused x.csv: not B3's format\n\rb3 import: 1 of 2")
    assert progress._live is None  # gone once the phase ends
    say("plain")  # no live progress: a plain line on stderr
    assert capsys.readouterr().err == "plain\n"


def test_the_ticker_moves_the_elapsed_time_on_a_terminal_while_nothing_advances() -> None:
    """A year's backfill is one Dagster run: the line must still show time passing."""
    out = io.StringIO()
    with Progress("b3 backfill", 1, "portfolios refined", stream=out, tty=True, tick=0.01):
        time.sleep(0.2)
    assert out.getvalue().count("\rb3 backfill: 0 of 1 portfolios refined") >= 3


def test_the_ticker_writes_a_heartbeat_line_elsewhere_once_per_interval() -> None:
    clock, out = Clock(), io.StringIO()
    with Progress(
        "b3 backfill", 1, "portfolios refined", stream=out, tty=False, clock=clock,
        interval=10, tick=None,
    ) as bar:  # fmt: skip
        bar.working_on("run 1 of 1: IBOV 2024-01-02..2024-12-30")
        for _ in range(25):  # what the ticker does each second of a 25 s run
            clock.now += 1
            bar.refresh()
        clock.now += 1
        bar.advance()
    assert out.getvalue().splitlines() == [
        "b3 backfill: 0 of 1 portfolios refined (run 1 of 1: IBOV 2024-01-02..2024-12-30), "
        "10 s elapsed",
        "b3 backfill: 0 of 1 portfolios refined (run 1 of 1: IBOV 2024-01-02..2024-12-30), "
        "20 s elapsed",
        "b3 backfill: 1 of 1 portfolios refined, 26 s elapsed",
    ]


def test_every_subcommand_example_is_a_command_line_the_parser_takes() -> None:
    from b3_assets.cli import EXAMPLES, build_parser

    parser = build_parser()
    assert set(EXAMPLES) == set(parser._subparsers._group_actions[0].choices)
    for name, example in EXAMPLES.items():
        words = shlex.split(example)
        while re.fullmatch(r"[A-Z0-9_]+=\S*", words[0]):  # the environment it needs
            words.pop(0)
        assert words[:2] == ["b3", name]
        args = parser.parse_args(words[1:])
        assert args.command == name
