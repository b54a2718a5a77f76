"""Progress of the CLI's long work (`b3 import` of hundreds of files, `b3 backfill` of a year) on
stderr, so that stdout stays the result lines scripts read.

On a terminal it is one line rewritten in place with `\\r` (refreshed every second, so the
elapsed time moves during a long Dagster run) and erased at the end. Anywhere else (CI, a log
file, a pipe) it never writes `\\r`: a plain line at most every `interval` seconds, and one at
the end. What to print, and when, is decided by the pure functions at the top; `Progress` only
keeps the state, the clock and the lock. Standard library only.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import TextIO, TypeVar

T = TypeVar("T")

INTERVAL = 10.0  # seconds between two lines when the output is not a terminal
TICK = 1.0  # seconds between two redraws of the terminal line (the elapsed time moves)


def elapsed_text(seconds: float) -> str:
    """'7 s', '2 min 05 s', '1 h 03 min': whole units, short enough for one line."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def status_line(
    what: str, done: int, total: int, noun: str, elapsed: float, current: str = ""
) -> str:
    """The one line for `done` of `total` at `elapsed` seconds, e.g. 'b3 import: 12 of 30 files
    read, 3 s elapsed', with what is under way in parentheses while something is."""
    during = f" ({current})" if current and done < total else ""
    return f"{what}: {done} of {total} {noun}{during}, {elapsed_text(elapsed)} elapsed"


def fit(line: str, columns: int) -> str:
    """The line cut to the terminal's width (a wrapped line cannot be rewritten with `\\r`);
    `columns` <= 0 means the width is unknown, and the line is kept whole."""
    if columns <= 0 or len(line) < columns:
        return line
    return line[: max(0, columns - 2)] + "…"


def due(tty: bool, elapsed: float, last_printed: float, interval: float = INTERVAL) -> bool:
    """Whether an update is written now: always on a terminal (it rewrites the same line), and
    elsewhere only once `interval` seconds have passed since the last line written."""
    return tty or elapsed - last_printed >= interval


def frame(line: str, tty: bool, previous_width: int = 0) -> str:
    """The text that shows `line`: on a terminal a carriage return, the line, and spaces over
    what is left of a longer previous line (no newline); elsewhere the line and a newline."""
    if not tty:
        return line + "\n"
    return "\r" + line + " " * max(0, previous_width - len(line))


def erase(width: int) -> str:
    """The text that clears a terminal line of `width` characters and leaves the cursor at its
    start, so the next output starts on a clean line."""
    return "\r" + " " * width + "\r" if width else ""


_live: Progress | None = None  # the progress line being shown, for say()


def say(text: str, file: TextIO | None = None) -> None:
    """Prints a message line (to stderr by default) without mixing it into a progress line on
    the terminal: the line is erased, the message printed, and the line drawn again."""
    live = _live
    if live is None:
        print(text, file=file or sys.stderr, flush=True)
        return
    with live.paused():
        print(text, file=file or sys.stderr, flush=True)


class Progress:
    """The progress of `total` items of one phase of work (files read, portfolios refined).

    Use it as a context manager: on entry the terminal line is drawn and a ticker thread keeps
    it current; `advance()` counts items done and `working_on()` names what is under way; on
    exit the terminal line is erased, or elsewhere the final line is written. A phase with
    nothing to do (`total` 0) writes nothing.
    """

    def __init__(
        self,
        what: str,
        total: int,
        noun: str,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        start: float | None = None,
        interval: float = INTERVAL,
        tick: float | None = TICK,
    ) -> None:
        self.what, self.total, self.noun = what, total, noun
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream) if tty is None else tty
        self.clock = clock
        self.start = clock() if start is None else start
        self.interval = interval
        self.done = 0
        self.current = ""
        self._tick = tick
        self._width = 0  # characters of the terminal line now shown (0: none)
        self._last_printed = 0.0  # elapsed seconds at the last line written (not a terminal)
        self._last_line = ""  # the last line written (not a terminal): the end repeats none
        self._paused = False
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # the state

    def elapsed(self) -> float:
        return self.clock() - self.start

    def line(self) -> str:
        return status_line(
            self.what, self.done, self.total, self.noun, self.elapsed(), self.current
        )

    def advance(self, n: int = 1, current: str = "") -> None:
        """`n` more items done; `current` names what comes next ('' when nothing)."""
        with self._lock:
            self.done = min(self.total, self.done + n)
            self.current = current
            self.refresh()

    def working_on(self, current: str) -> None:
        """Names what is under way (shown on the terminal at once, elsewhere with the next
        line)."""
        with self._lock:
            self.current = current
            self.refresh()

    def each(self, items: Iterable[T], name: Callable[[T], str] = str) -> Iterator[T]:
        """Yields the items, naming each as under way and counting it done when the loop comes
        back for the next one (a `continue` counts too)."""
        for item in items:
            self.working_on(name(item))
            yield item
            self.advance()

    # the output

    def refresh(self) -> None:
        """Writes the line if it is due (what the ticker calls every `tick` seconds)."""
        with self._lock:
            if self.total <= 0 or self._paused or self._stop.is_set():
                return
            elapsed = self.elapsed()
            if not due(self.tty, elapsed, self._last_printed, self.interval):
                return
            self._write_line()
            self._last_printed = elapsed

    def _write_line(self) -> None:
        line = self.line()
        if self.tty:
            line = fit(line, _columns(self.stream))
        self._write(frame(line, self.tty, self._width))
        self._width = len(line) if self.tty else 0
        self._last_line = "" if self.tty else line

    def _erase(self) -> None:
        if self._width:
            self._write(erase(self._width))
            self._width = 0

    def _write(self, text: str) -> None:
        with suppress(OSError, ValueError):  # a closed stream (`2>&-`) loses only the progress
            self.stream.write(text)
            self.stream.flush()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Erases the terminal line while the block prints result or message lines, then draws
        it again (stdout is flushed first, so its lines come before the line)."""
        with self._lock:
            self._paused = True
            self._erase()
        try:
            yield
        finally:
            for out in (sys.stdout, sys.stderr):
                with suppress(OSError, ValueError):
                    out.flush()
            with self._lock:
                self._paused = False
                if self.tty:
                    self.refresh()

    def __enter__(self) -> Progress:
        global _live
        if self.total <= 0:
            return self
        _live = self
        if self.tty:
            self.refresh()
        if self._tick:
            self._ticker = threading.Thread(target=self._run_ticker, daemon=True)
            self._ticker.start()
        return self

    def _run_ticker(self) -> None:
        while not self._stop.wait(self._tick):
            self.refresh()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        global _live
        if self.total <= 0:
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self.tty:
                self._erase()
            elif self.line() != self._last_line:
                self._write_line()
        if _live is self:
            _live = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0
