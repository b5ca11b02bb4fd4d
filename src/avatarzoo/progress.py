"""Progress of long work (frames, steps) that a person can read on a terminal and in a log.

On a terminal: a tqdm bar (count, rate, ETA) that redraws in place. Anywhere else (CI,
`| tee`, a remote run, the stage's log.txt): one line at every 10% of the total, or
after 30 s without one, and one at the end — never a line per step.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

EVERY_FRACTION = 0.1  # a line at each 10% of the total
EVERY_SECONDS = 30.0  # or after this long without one
QUIET_SECONDS = 1.0  # work shorter than this reports only its end


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


def progress_lines(iterable: Iterable[T], *, total: int | None, desc: str, unit: str,
                   emit: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> Iterator[T]:
    """Yield from `iterable`, calling `emit` with a progress line (count, %, rate, ETA)
    at every `EVERY_FRACTION` of `total` and at least every `EVERY_SECONDS`, and at the
    end (work done within `QUIET_SECONDS` reports only its end)."""
    start = last = clock()
    step = max(1, int(total * EVERY_FRACTION)) if total else None
    done = reported = 0
    next_mark = step
    for item in iterable:
        yield item
        done += 1
        now = clock()
        due = (next_mark is not None and done >= next_mark) or now - last >= EVERY_SECONDS
        if due and now - start >= QUIET_SECONDS:
            emit(_line(desc, done, total, unit, now - start))
            last, reported = now, done
            while next_mark is not None and next_mark <= done:
                next_mark += step
    if done != reported:  # the end, unless its line was just written
        emit(_line(desc, done, total, unit, clock() - start))


def _line(desc: str, done: int, total: int | None, unit: str, elapsed: float) -> str:
    rate = done / elapsed if elapsed > 0 else float("inf")
    head = f"{desc}: {done}/{total} {unit}" if total else f"{desc}: {done} {unit}"
    if total:
        head += f" ({100 * done / total:.0f}%)"
    tail = f", {rate:.1f} {unit}/s" if elapsed > 0 else ""
    if total and done < total and elapsed > 0:
        tail += f", ETA {_clock((total - done) / rate)}"
    return f"{head}{tail}, {_clock(elapsed)} elapsed"


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it",
             emit: Callable[[str], None] | None = None, stream: TextIO | None = None) -> Iterator[T]:
    """A tqdm bar on `stream` (stderr) when it is a terminal, else `progress_lines`
    through `emit` (default: a line on `stream`)."""
    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm

        yield from tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False,
                        file=stream)
        return
    yield from progress_lines(iterable, total=total, desc=desc, unit=unit,
                              emit=emit or (lambda line: print(line, file=stream, flush=True)))
