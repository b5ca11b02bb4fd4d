"""Audio measures of a recording's 16 kHz mono track (ingest's `audio.npy`).

Loudness is measured on `WINDOW_S` windows (RMS, dBFS: 0 dB = a full-scale square
wave): the speech level is the 90th percentile of the windows (the loud half of the
talking), the noise floor the 10th (the pauses), their difference the signal-to-noise
ratio. Clipping: samples at `CLIP_LEVEL` of full scale or more (AAC decoding can
overshoot 1.0 where the source was clipped, so the level is under 1.0).

Shapes: T samples, W windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_S = 0.02
CLIP_LEVEL = 0.98


@dataclass(frozen=True)
class SoundMeasures:
    """seconds: length of the audio; speech_db / noise_db: dBFS; clipped: fraction of
    samples at CLIP_LEVEL or more; speech_fraction: windows 15 dB over the noise floor;
    envelope: float64 [W] window RMS in dBFS; window_s: its step; clipped_windows:
    indices of windows holding clipped samples."""

    seconds: float
    speech_db: float
    noise_db: float
    clipped: float
    speech_fraction: float
    envelope: np.ndarray
    window_s: float
    clipped_windows: np.ndarray

    @property
    def snr_db(self) -> float:
        return self.speech_db - self.noise_db


def measure_sound(audio: np.ndarray, sample_rate: int) -> SoundMeasures:
    """Measure `audio` float32 [T] mono in [-1, 1] at `sample_rate` Hz."""
    a = np.asarray(audio, np.float32)
    if a.ndim != 1:
        raise ValueError(f"audio must be mono [T], got shape {a.shape}")
    w = max(1, int(round(WINDOW_S * sample_rate)))
    n = len(a) // w
    if n == 0:
        return SoundMeasures(len(a) / sample_rate, -np.inf, -np.inf, 0.0, 0.0, np.zeros(0), w / sample_rate,
                             np.zeros(0, int))
    frames = a[: n * w].reshape(n, w).astype(np.float64)
    db = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-12)
    speech, noise = float(np.percentile(db, 90)), float(np.percentile(db, 10))
    hot = np.abs(a) >= CLIP_LEVEL
    clipped_windows = np.flatnonzero(hot[: n * w].reshape(n, w).any(axis=1))
    return SoundMeasures(
        seconds=len(a) / sample_rate, speech_db=speech, noise_db=noise, clipped=float(hot.mean()),
        speech_fraction=float((db > noise + 15.0).mean()), envelope=db, window_s=w / sample_rate,
        clipped_windows=clipped_windows,
    )
