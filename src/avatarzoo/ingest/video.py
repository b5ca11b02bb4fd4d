"""Lazy video decoding with PyAV, upright and resampled to a constant frame rate.

Frames are decoded one at a time (never the whole video in memory), turned upright by
the stream's display-matrix rotation, and resampled onto the grid
`t_k = t_0 + k / fps` by timestamps: tick k shows the source frame nearest in time
(ties to the earlier one), so variable-frame-rate sources come out at a constant rate
and a source already at `fps` maps frame k to tick k exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.media import error_reason, open_media

_EPS = 1e-6  # seconds; timestamp rounding of containers
_NOT_VIDEO = {"tty", "image2", "ansi"}  # FFmpeg demuxers that open text and still images


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream (before resampling).

    `width`/`height` are upright (rotation applied); `rotation` is the counter-clockwise
    angle in degrees applied to decoded frames; `duration` may be None when unknown.
    """

    path: Path
    width: int
    height: int
    rotation: int
    fps: float
    duration: float | None
    codec: str
    start_time: float
    has_audio: bool

    def to_json(self) -> dict:
        return {
            "file": self.path.name,
            "width": self.width,
            "height": self.height,
            "rotation": self.rotation,
            "fps": self.fps,
            "duration": self.duration,
            "codec": self.codec,
        }


def _open(path: Path):
    container = open_media(path, "a video file")
    kind = container.format.name
    if kind in _NOT_VIDEO or kind.endswith("_pipe"):
        container.close()
        what = "a text file" if kind == "tty" else f"an image ({kind.removesuffix('_pipe')})"
        raise InputError(f"{path}: not a video file: FFmpeg reads it as {what}; expected a video recording")
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream (is it an audio file?); expected a video recording")
    return container


def probe(path: Path) -> VideoInfo:
    """Read the stream's header and first frame; InputError if it is not a usable video."""
    import av

    path = Path(path)
    container = _open(path)
    try:
        vs = container.streams.video[0]
        try:
            first = next(container.decode(vs))
        except StopIteration:
            raise InputError(f"{path}: the video stream has no frames (empty or truncated video)") from None
        except av.error.FFmpegError as e:
            raise InputError(f"{path}: the first frame cannot be decoded ({error_reason(e)}); the file is corrupt or truncated") from None
        rotation = _upright_turns(first) * 90
        width, height = first.width, first.height
        if rotation % 180:
            width, height = height, width
        tb = float(vs.time_base) if vs.time_base else 0.0
        duration = float(vs.duration * tb) if vs.duration else (
            container.duration / 1e6 if container.duration else None
        )
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        start = float(vs.start_time * tb) if vs.start_time is not None else 0.0
        return VideoInfo(
            path=path,
            width=int(width),
            height=int(height),
            rotation=rotation,
            fps=float(rate) if rate else 0.0,
            duration=duration,
            codec=vs.codec_context.name,
            start_time=start,
            has_audio=bool(container.streams.audio),
        )
    finally:
        container.close()


def _upright_turns(frame) -> int:
    """Quarter turns counter-clockwise that make `frame` upright (its display matrix)."""
    angle = getattr(frame, "rotation", 0) or 0
    return int(round(angle / 90.0)) % 4


def _to_rgb(frame) -> np.ndarray:
    """Upright HxWx3 uint8 RGB array of a decoded frame."""
    img = frame.to_ndarray(format="rgb24")
    turns = _upright_turns(frame)
    if turns:
        img = np.ascontiguousarray(np.rot90(img, k=turns))
    return img


def _decoded(path: Path, start: float) -> Iterator[tuple[float, float, object]]:
    """(pts seconds, duration seconds, av.VideoFrame) for every decodable frame at or
    after about `start`; decode errors become InputError naming the time."""
    import av

    container = _open(path)
    try:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        tb = float(vs.time_base)
        rate = vs.average_rate or vs.guessed_rate
        default_dur = 1.0 / float(rate) if rate else 1.0 / 25.0
        if start > 1.0:
            container.seek(int(max(start - 1.0, 0.0) / tb), stream=vs, backward=True)
        last_t = None
        try:
            for frame in container.decode(vs):
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None:
                    t = (last_t + default_dur) if last_t is not None else 0.0
                else:
                    t = pts * tb
                if last_t is not None and t <= last_t + _EPS:  # duplicate / out of order
                    continue
                dur = frame.duration * tb if getattr(frame, "duration", None) else default_dur
                last_t = t
                yield t, dur, frame
        except av.error.FFmpegError as e:
            where = f"after {last_t:.2f} s" if last_t is not None else "at the start"
            raise InputError(f"{path}: the video cannot be decoded {where} ({error_reason(e)}); the file is corrupt or truncated") from None
    finally:
        container.close()


def iter_frames(
    path: Path,
    *,
    fps: float,
    start: float = 0.0,
    duration: float | None = None,
    decode: bool | frozenset[int] = True,
) -> Iterator[tuple[float, np.ndarray | None]]:
    """Yield `(t_k, frame)` on the constant-rate grid `t_k = t_0 + k / fps`.

    `t_0` is the time of the first source frame at or after `start`; the grid ends with
    the source's last frame (or after `duration` seconds). `frame` is upright HxWx3
    uint8 RGB, or None when `decode=False` (counting ticks costs no conversion) or when
    `decode` is a set of tick indices that does not hold k.
    Raises InputError for unreadable, empty or truncated videos.
    """
    path = Path(path)
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    period = 1.0 / fps
    t0: float | None = None
    k = 0
    held = None  # (t, frame, converted array or None)
    held_dur = period
    end = None

    def tick() -> float:
        return t0 + k * period

    def emit(entry):
        if decode is False or (decode is not True and k not in decode):
            return entry, None
        if entry[2] is None:
            entry = (entry[0], entry[1], _to_rgb(entry[1]))
        return entry, entry[2]

    n_source = 0
    for t, dur, frame in _decoded(path, start):
        n_source += 1
        if t < start - _EPS:
            continue
        if t0 is None:
            t0 = t
            end = t0 + duration - _EPS if duration is not None else None
            held, held_dur = (t, frame, None), dur
            continue
        boundary = 0.5 * (held[0] + t) + _EPS  # ticks up to here are nearer the held frame
        while tick() <= boundary and (end is None or tick() < end):
            held, img = emit(held)
            yield tick(), img
            k += 1
        if end is not None and tick() >= end:
            return
        held, held_dur = (t, frame, None), dur
    if held is None:
        if n_source == 0:
            raise InputError(f"{path}: the video stream has no decodable frames (empty or truncated video)")
        raise InputError(f"{path}: no frames at or after start = {start:.2f} s")
    stop = held[0] + (held_dur or period) - _EPS  # the last frame shows for its duration
    while tick() < stop and (end is None or tick() < end):
        held, img = emit(held)
        yield tick(), img
        k += 1


def check_complete(info: VideoInfo, last_time: float, fps: float) -> None:
    """InputError when decoding stopped well before the duration the container declares
    (a truncated download or copy)."""
    if info.duration is None:
        return
    declared_end = info.start_time + info.duration
    slack = max(0.5, 3.0 / fps)
    if last_time + 1.0 / fps < declared_end - slack:
        raise InputError(
            f"{info.path}: frames stop at {last_time:.2f} s but the file declares"
            f" {declared_end:.2f} s; the video is truncated or corrupt"
        )
