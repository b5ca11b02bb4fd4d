"""Audio: 16 kHz mono float32, cut to the frames' span, with its exact offset.

Sample i of the result plays at `first_frame_time + offset + i / 16000` seconds on the
source's clock, so the audio driver can align every video frame to its speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.media import open_media

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Audio:
    """samples: float32 [T] mono in [-1, 1] at `SAMPLE_RATE`; offset: seconds from the
    first video frame to sample 0 (0 unless the audio starts after the first frame)."""

    samples: np.ndarray
    offset: float
    sample_rate: int = SAMPLE_RATE


def has_audio(path: Path) -> bool:
    import av

    try:
        with av.open(str(path)) as c:
            return bool(c.streams.audio)
    except av.error.FFmpegError:
        return False


def load_audio(path: Path, *, first_frame_time: float, end_time: float) -> Audio | None:
    """Decode the first audio stream of `path` between `first_frame_time` and
    `end_time` (seconds on the file's clock) to 16 kHz mono float32.

    Returns None when the file has no audio stream. The cut is sample-exact on the
    resampled signal; the residual sub-sample misalignment is kept in `offset`.
    """
    import av

    with open_media(path, "an audio or video file") as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        start: float | None = None
        try:
            for frame in container.decode(stream):
                if start is None:
                    start = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as e:
            got = sum(len(c) for c in chunks) / SAMPLE_RATE
            raise InputError(
                f"{path}: the audio cannot be decoded after {got:.2f} s ({e}); the file is corrupt or truncated"
            ) from None
    if start is None or not chunks:
        return None
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    # Sample i plays at start + i / SR. Cut to [first_frame_time, end_time).
    i0 = int(round((first_frame_time - start) * SAMPLE_RATE))
    i0 = max(i0, 0)
    i1 = int(np.ceil((end_time - start) * SAMPLE_RATE))
    samples = np.ascontiguousarray(samples[i0:max(i1, i0)])
    offset = start + i0 / SAMPLE_RATE - first_frame_time
    return Audio(samples=samples, offset=float(offset))
