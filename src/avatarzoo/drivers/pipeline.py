"""What the driver does to speech before and after its net, the same way offline and
streamed: speech activity, level normalisation, and the map between the 100 Hz
feature grid and video frames.

- `Activity`: speech activity in [0, 1] per feature frame, from the frame energy
  relative to a running speech level (so it does not depend on the input's gain):
  drives the silence gate (a closed, still mouth) and the idle motion.
- `LevelNorm`: the feature dims that shift with the input's gain (log-mel bands, log
  energy) have a running mean subtracted, updated on speech frames only; a recording
  at another level or through another microphone looks like the training one.
Both are causal recursions over feature frames with an explicit state, so the
streamed values equal the offline ones exactly.

Shapes: T samples (16 kHz), J feature frames (100/s), F feature dims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avatarzoo.drivers.features.base import FRAME_RATE, HOP, SAMPLE_RATE  # noqa: F401 (re-exported)

WINDOW = 400  # 25 ms energy window, ending at the end of its hop (as the log-mel's)
RATE = float(FRAME_RATE)


def _window_db(buf: np.ndarray, n: int) -> np.ndarray:
    """[n] dB RMS of the windows ending at WINDOW, WINDOW + HOP, ... of `buf`."""
    ends = WINDOW + HOP * np.arange(n)
    sq = np.concatenate([[0.0], np.cumsum(buf ** 2)])
    return 10 * np.log10((sq[ends] - sq[ends - WINDOW]) / WINDOW + 1e-10)


def frame_energy_db(audio: np.ndarray) -> np.ndarray:
    """[J] RMS level (dBFS) of the 25 ms window ending at each hop end of `audio` [T]
    (zero before sample 0), J = T // HOP."""
    audio = np.asarray(audio, np.float64)
    if audio.ndim != 1:
        raise ValueError(f"audio: expected [T], got {audio.shape}")
    return _window_db(np.concatenate([np.zeros(WINDOW - HOP), audio]), len(audio) // HOP)


class EnergyStream:
    """`frame_energy_db` in chunks: `push(chunk [t]) -> [j]` the frames completed."""

    def __init__(self) -> None:
        self._buf = np.zeros(WINDOW - HOP)  # the window's history + the partial hop

    def push(self, chunk: np.ndarray) -> np.ndarray:
        self._buf = np.concatenate([self._buf, np.asarray(chunk, np.float64).reshape(-1)])
        n = (len(self._buf) - (WINDOW - HOP)) // HOP
        out = _window_db(self._buf, n) if n > 0 else np.zeros(0)
        self._buf = self._buf[n * HOP:]
        return out


@dataclass
class Activity:
    """Speech activity per feature frame from its energy (dBFS).

    A running speech level follows the loud frames (jumps up, decays `decay_db_s`); a
    frame is speech when it is within `range_db` of that level and above
    `floor_db`; activity is that decision smoothed (attack 30 ms, release 120 ms)."""

    floor_db: float = -55.0
    range_db: float = 22.0
    decay_db_s: float = 3.0
    level: float = -30.0  # state: the running speech level
    value: float = 0.0  # state: the smoothed activity

    def __call__(self, energy_db: np.ndarray) -> np.ndarray:
        """[J] energies -> [J] activity in [0, 1]; advances the state."""
        out = np.empty(len(energy_db), np.float32)
        decay = self.decay_db_s / RATE
        up, down = 1 - np.exp(-1 / (0.03 * RATE)), 1 - np.exp(-1 / (0.12 * RATE))
        level, value = self.level, self.value
        for i, e in enumerate(energy_db):
            level = max(e, level - decay, self.floor_db + self.range_db)
            speech = 1.0 if (e > self.floor_db and e > level - self.range_db) else 0.0
            value += (up if speech > value else down) * (speech - value)
            out[i] = value
        self.level, self.value = level, value
        return out


@dataclass
class LevelNorm:
    """Running mean subtraction on the gain-dependent dims `dims` of the features,
    updated on speech frames (activity > 0.5) with time constant `tau_s`."""

    dims: tuple[int, ...]
    mean: np.ndarray  # [len(dims)] state, starts at the training features' mean
    tau_s: float = 2.0
    reference: np.ndarray = field(default=None)  # [len(dims)] the training mean it maps onto

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, np.float64).copy()
        if self.reference is None:
            self.reference = self.mean.copy()

    def __call__(self, features: np.ndarray, activity: np.ndarray) -> np.ndarray:
        """[J, F] features, [J] activity -> [J, F] with dims shifted so that their running
        speech mean sits at the training mean; advances the state."""
        if not self.dims:
            return features
        out = np.array(features, np.float32, copy=True)
        a = 1 - np.exp(-1 / (self.tau_s * RATE))
        idx = list(self.dims)
        mean = self.mean
        for j in range(len(out)):
            if activity[j] > 0.5:
                mean = mean + a * (out[j, idx] - mean)
            out[j, idx] += (self.reference - mean).astype(np.float32)
        self.mean = mean
        return out


def video_positions(n_frames: int, fps: float, lookahead: int, start_s: float = 0.0) -> np.ndarray:
    """[n] fractional feature-frame index whose output is the expression at each video
    frame k (time start_s + k / fps on the audio's clock): output j predicts time
    (j + 1 − lookahead) / RATE, so j = (t × RATE) − 1 + lookahead."""
    t = start_s + np.arange(n_frames) / fps
    return t * RATE - 1 + lookahead


def sample_at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """values [J, D] linearly interpolated at fractional `positions` [n] (clamped to
    the ends) -> [n, D]."""
    j = len(values)
    p = np.clip(positions, 0, j - 1)
    lo = np.floor(p).astype(int)
    hi = np.minimum(lo + 1, j - 1)
    w = (p - lo)[:, None]
    return (1 - w) * values[lo] + w * values[hi]
