"""Progress on a non-terminal: a line every 10% (or 30 s), never one per step."""

import io

from avatarzoo.progress import progress, progress_lines


def test_a_long_loop_writes_about_ten_lines_not_one_per_step():
    lines: list[str] = []
    ticks = iter(range(10_000))
    out = list(progress_lines(range(1500), total=1500, desc="fit renderer", unit="step",
                              emit=lines.append, clock=lambda: next(ticks) * 0.01))
    assert out == list(range(1500))
    assert len(lines) == 10
    assert lines[0].startswith("fit renderer: 150/1500 step (10%)") and "ETA" in lines[0]
    assert lines[-1].startswith("fit renderer: 1500/1500 step (100%)") and "ETA" not in lines[-1]


def test_a_slow_loop_writes_a_line_every_30_seconds():
    lines: list[str] = []
    t = iter([0.0] + [40.0 * (i + 1) for i in range(10)])
    list(progress_lines(range(5), total=1000, desc="track", unit="frame", emit=lines.append,
                        clock=lambda: next(t)))
    assert len(lines) == 5  # 5 steps 40 s apart: each one past 30 s
    assert "5/1000 frame (0%)" in lines[-1]


def test_without_a_total_the_count_and_rate_are_reported():
    lines: list[str] = []
    list(progress_lines(iter(range(3)), total=None, desc="decode", unit="frame", emit=lines.append))
    assert lines == [lines[0]] and lines[0].startswith("decode: 3 frame")


def test_work_done_within_a_second_reports_only_its_end():
    lines: list[str] = []
    list(progress_lines(range(100), total=100, desc="x", unit="it", emit=lines.append))
    assert len(lines) == 1 and lines[0].startswith("x: 100/100 it (100%)")


def test_a_non_terminal_stream_gets_lines_not_a_bar():
    stream = io.StringIO()
    list(progress(range(100), total=100, desc="x", unit="it", stream=stream))
    text = stream.getvalue()
    assert "\r" not in text and text.startswith("x: 100/100 it")
