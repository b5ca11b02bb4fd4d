"""The audio/video offset of a recording, from the tracked mouth opening and the sound.

`estimate_offset(mouth_open, audio, fps=...)` cross-correlates the mouth opening per
video frame with a speech-activity envelope of the audio sampled at the same frames,
and returns the lag of the peak (sub-frame, by parabolic interpolation).

Sign: `Offset.seconds` > 0 when the mouth LEADS the sound (the video is early / the
audio late); shifting the audio later by s seconds adds s.

What the number is: the lag at which mouth movement and sound energy agree best. Even
in a perfectly synchronised recording the mouth starts opening before the sound it
makes (and closes before the energy falls), so a well-synced talking head reads about
+0.1 to +0.25 s here (BENCHMARKS.md, "Audio/video offset"); compare recordings of one
setup, or the same recording before and after a change, not against 0.

Envelope (per video frame i, at i / fps - audio_offset seconds on the audio's clock):
300-3000 Hz band energy of 25 ms Hann windows every 10 ms, in dB (floored 60 dB below
its maximum), smoothed by a Hann window one video frame wide (anti-aliasing for the
video rate) and linearly interpolated at the frame times; every step is zero-phase,
so timing is kept.

Signals compared (`signal`): "onsets" (default): the temporal derivatives
(central differences) of both, z-scored; "levels": the z-scored signals themselves.
Measured on 11 recordings (benchmarks/av_offset.py, lags ±1 s): the onsets' peak is
1-3 lags wide at half height, the levels' 3-12, and on 4 of the 11 (aoc, lieu, ng,
noem) the levels peak 0.3-1 s away from where onsets, and jaw_open, put it; onsets
are the default.

Score: the Pearson correlation over the overlapping frames at each lag ([-K, K], K =
round(max_lag_s * fps)). The peak is `clear` when it is not at the edge of the range,
its score is >= 0.15, and no other local maximum 120 ms or more away reaches 0.6 x
its score.

Shapes: N video frames, T audio samples (16 kHz), L = 2 K + 1 lags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

SAMPLE_RATE = 16_000
BAND = (300.0, 3000.0)
WIN, HOP, N_FFT = 400, 160, 512
FLOOR_DB = 60.0
MIN_SCORE = 0.15
MAX_SECOND = 0.6  # a rival peak's score relative to the peak's
MIN_SEPARATION_S = 0.12


@dataclass(frozen=True, eq=False)
class Offset:
    """The estimate: `seconds` (> 0: mouth leads sound), `score` (peak correlation),
    `clear`, and the curve behind it: `lags` [L] seconds, `scores` [L]."""

    seconds: float
    score: float
    clear: bool
    lags: np.ndarray = field(repr=False)
    scores: np.ndarray = field(repr=False)

    @property
    def ms(self) -> float:
        return 1000.0 * self.seconds

    @property
    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(lags [L] seconds, scores [L]), for a plot."""
        return self.lags, self.scores


def estimate_offset(mouth_open: np.ndarray, audio: np.ndarray, *, fps: float, max_lag_s: float = 0.5,
                    audio_offset: float = 0.0, signal: Literal["onsets", "levels"] = "onsets") -> Offset:
    """The audio/video offset of a recording (module docstring).

    Args:
        mouth_open: float [N], the mouth opening per video frame (e.g. the tracker's
            `mouth_open` channel), frame i at i / fps seconds.
        audio: float [T] 16 kHz mono.
        fps: video frame rate.
        max_lag_s: lags searched, [-max_lag_s, max_lag_s].
        audio_offset: seconds from frame 0 to audio sample 0 (ingest.json's
            `audio.offset`): sample k plays at audio_offset + k / 16000.
        signal: "onsets" (derivatives) or "levels".
    """
    m = np.asarray(mouth_open)
    if m.ndim != 1 or not np.issubdtype(m.dtype, np.floating) or not np.isfinite(m).all():
        raise ValueError(f"mouth_open: expected finite float [N], one value per video frame, "
                         f"got {m.dtype} {tuple(m.shape)}")
    a = np.asarray(audio)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
        raise ValueError(f"audio: expected finite float [T] 16 kHz mono, got {a.dtype} {tuple(a.shape)}")
    if not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps: expected a positive frame rate, got {fps!r}")
    if not (isinstance(max_lag_s, (int, float)) and max_lag_s > 0):
        raise ValueError(f"max_lag_s: expected seconds > 0, got {max_lag_s!r}")
    if signal not in ("onsets", "levels"):
        raise ValueError(f"signal: expected 'onsets' or 'levels', got {signal!r}")
    k_max = int(round(max_lag_s * fps))
    env = speech_envelope(a, frame_times=np.arange(len(m)) / fps - audio_offset, fps=fps)  # [N], NaN outside
    valid = np.isfinite(env)
    if valid.sum() < 4 * k_max + 8:
        raise ValueError(f"audio: covers {int(valid.sum())} of the {len(m)} video frames; estimating an "
                         f"offset within ±{max_lag_s} s needs at least {4 * k_max + 8}")
    first, last = np.flatnonzero(valid)[[0, -1]]
    x, y = m[first:last + 1].astype(np.float64), env[first:last + 1]
    if signal == "onsets":
        x, y = np.gradient(x), np.gradient(y)
    lags = np.arange(-k_max, k_max + 1)
    scores = np.array([_pearson(x, y, k) for k in lags])
    return _peak(lags, scores, fps)


def speech_envelope(audio: np.ndarray, *, frame_times: np.ndarray, fps: float) -> np.ndarray:
    """Band-limited log energy of `audio` [T] (16 kHz) at `frame_times` [N] (seconds
    on the audio's clock: sample k at k / 16000) -> float64 [N] dB, NaN where a frame
    time lies outside the audio."""
    a = np.asarray(audio, np.float64)
    t = np.asarray(frame_times, np.float64)
    n = (len(a) - WIN) // HOP + 1
    if n < 2:
        return np.full(len(t), np.nan)
    frames = np.lib.stride_tricks.sliding_window_view(a, WIN)[::HOP][:n] * np.hanning(WIN)
    power = np.abs(np.fft.rfft(frames, N_FFT)) ** 2
    f = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    band = power[:, (f >= BAND[0]) & (f <= BAND[1])].sum(axis=1)
    db = 10.0 * np.log10(band + 1e-20)
    db = np.maximum(db, db.max() - FLOOR_DB)
    # zero-phase smoothing over one video frame (odd Hann, in 10 ms steps)
    width = max(1, int(round(SAMPLE_RATE / HOP / fps))) | 1
    h = np.hanning(width + 2)[1:-1]
    db = np.convolve(np.pad(db, width // 2, mode="edge"), h / h.sum(), mode="valid")
    centres = (HOP * np.arange(n) + (WIN - 1) / 2) / SAMPLE_RATE
    out = np.interp(t, centres, db)
    out[(t < centres[0]) | (t > centres[-1])] = np.nan
    return out


def _pearson(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """corr(x[i], y[i + k]) over the i where both exist."""
    if k >= 0:
        a, b = x[:len(x) - k], y[k:]
    else:
        a, b = x[-k:], y[:len(y) + k]
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def _peak(lags: np.ndarray, scores: np.ndarray, fps: float) -> Offset:
    i = int(np.argmax(scores))
    shift = 0.0
    edge = i == 0 or i == len(scores) - 1
    if not edge:
        a, b, c = scores[i - 1:i + 2]
        den = a - 2.0 * b + c
        if den < 0:
            shift = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    peak = float(scores[i])
    is_max = np.r_[False, (scores[1:-1] >= scores[:-2]) & (scores[1:-1] >= scores[2:]), False]
    far = np.abs(lags - lags[i]) >= MIN_SEPARATION_S * fps
    rivals = scores[is_max & far]
    second = float(rivals.max()) if len(rivals) else -1.0
    clear = (not edge) and peak >= MIN_SCORE and second < MAX_SECOND * peak
    return Offset(seconds=float((lags[i] + shift) / fps), score=peak, clear=bool(clear),
                  lags=lags / fps, scores=scores)
