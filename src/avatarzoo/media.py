"""Media files (PyAV): opening one to read, with one clear error for what is not
readable media; writing videos (H.264 frames, optionally with AAC audio muxed in).

Shapes: frames are H×W×3 uint8 RGB; audio is [T] float32 mono in [-1, 1].
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError


def error_reason(e: BaseException) -> str:
    """The first line of a decoder's error, for a one-line message."""
    text = getattr(e, "strerror", None) or str(e)
    return text.splitlines()[0] if text else type(e).__name__


def open_media(path: Path | str, expected: str):
    """The PyAV container of `path` opened for reading; InputError, naming the file and
    `expected` (e.g. "a video file", "an audio or video file"), when it is missing,
    empty, or not readable media (not a media file, or a truncated or corrupt one).
    Which streams it must have is the caller's to check."""
    import av

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file; expected {expected}")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes); expected {expected}")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not readable as {expected} ({error_reason(e)}); "
                         f"not a media file, or a truncated or corrupt one") from None


def _audio_blocks(audio, step: int = 1024):
    """Blocks of ≤ `step` float32 samples in [-1, 1] from an array [T] or an iterable of
    arrays (streamed audio is never joined into one array)."""
    parts = [audio] if isinstance(audio, np.ndarray) else audio
    for part in parts:
        samples = np.clip(np.asarray(part, dtype=np.float32).reshape(-1), -1, 1)
        for start in range(0, len(samples), step):
            yield np.ascontiguousarray(samples[start:start + step])


def write_video(
    path: Path | str,
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    audio: np.ndarray | Iterable[np.ndarray] | None = None,
    sample_rate: int = 16000,
    crf: int = 18,
) -> Path:
    """Encode `frames` (and `audio`: samples [T], or chunks of them) into `path`
    (written to a temp name, then renamed)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    try:
        with av.open(str(tmp), mode="w") as container:
            video = container.add_stream("libx264", rate=rate)
            video.pix_fmt = "yuv420p"
            video.options = {"crf": str(crf), "preset": "veryfast"}
            astream = None
            if audio is not None:
                astream = container.add_stream("aac", rate=sample_rate)
                astream.layout = "mono"
            for i, frame in enumerate(frames):
                if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                    raise ValueError(f"frame {i}: expected H×W×3 uint8, got {frame.shape} {frame.dtype}")
                if i == 0:
                    h, w = frame.shape[:2]
                    video.width, video.height = w + (w % 2), h + (h % 2)
                if frame.shape[0] % 2 or frame.shape[1] % 2:
                    frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
                for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    container.mux(packet)
            for packet in video.encode():
                container.mux(packet)
            if astream is not None:
                pts = 0
                for samples in _audio_blocks(audio):
                    aframe = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
                    aframe.sample_rate = sample_rate
                    aframe.pts = pts
                    pts += len(samples)
                    for packet in astream.encode(aframe):
                        container.mux(packet)
                for packet in astream.encode():
                    container.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
