"""The source video's own frame timing, read from its packets (nothing is decoded).

Ingest resamples every recording onto a constant `recording.fps` grid, so a dropped
frame there is a held (repeated) one; here the container's timestamps say where the
camera or encoder lost frames: a gap of k frame intervals is k - 1 dropped frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.media import open_media

GAP = 1.5  # an interval this many times the usual one lost at least one frame


@dataclass(frozen=True)
class SourceTiming:
    """times: float64 [M] presentation times (s) of the source frames, sorted;
    interval: their median spacing (s); dropped: frames lost in each gap; gaps_s: the
    time each gap starts."""

    times: np.ndarray
    interval: float
    dropped: np.ndarray
    gaps_s: np.ndarray

    @property
    def fps(self) -> float:
        return 1.0 / self.interval if self.interval > 0 else 0.0

    @property
    def n_dropped(self) -> int:
        return int(self.dropped.sum())


def source_timing(path: Path) -> SourceTiming:
    """The timing of the first video stream of `path` (InputError when unreadable)."""
    import av

    with open_media(path, "a video file") as container:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream; expected a video recording")
        vs = container.streams.video[0]
        tb = float(vs.time_base) if vs.time_base else 0.0
        try:
            pts = [p.pts for p in container.demux(vs) if p.pts is not None and p.size > 0]
        except av.error.FFmpegError as e:
            raise InputError(f"{path}: the video's packets cannot be read ({e}); the file is corrupt") from None
    times = np.unique(np.asarray(pts, np.float64)) * tb
    if len(times) < 2:
        return SourceTiming(times, 0.0, np.zeros(0, int), np.zeros(0))
    steps = np.diff(times)
    interval = float(np.median(steps))
    big = steps > GAP * interval
    dropped = np.round(steps[big] / interval).astype(int) - 1
    return SourceTiming(times, interval, np.maximum(dropped, 1), times[:-1][big])
