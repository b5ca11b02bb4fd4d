"""`logmel` features: log-mel filterbank and, with `prosody`, log energy, log f0 and
periodicity, on the causal 100 frames/s grid (base.py). Pure numpy; lookahead 0.

Frame j (its window ends at e = 160 (j + 1); zeros before sample 0):

* `n_mels` columns: log(mel power + 1e-6) of the 400-sample (25 ms) periodic-Hann
  window x[e - 400, e), 512-point FFT power |X|^2, HTK-mel triangles spanning 80-7600
  Hz (unnormalised, Kaldi's convention). Silence is exactly log(1e-6) = -13.8.
* with `prosody`, three more:
  - energy: 10 log10(mean(x[e - 400, e)^2) + 1e-10), dB RMS of the same window
    (0 dB = a full-scale square wave; silence = -100 dB).
  - log f0 (Hz): YIN (de Cheveigné & Kawahara 2002) on the 640-sample (40 ms) window
    x[e - 640, e): difference function over lags 40..267 (400..60 Hz) with a 373-sample
    integration window, cumulative-mean normalised (CMND), the first dip below 0.15
    followed down to its local minimum, refined by parabolic interpolation. Frames
    with no dip below 0.15 are unvoiced and carry the last voiced value (155 Hz, the
    geometric centre of the range, before the first voiced frame).
  - periodicity in [0, 1]: 1 - CMND at the chosen lag (1 for a periodic signal, ~0.15
    for white noise, 0 for silence).

`LogMel.__call__` and `LogMel.stream()` run the same vectorised `_frames`;
`logmel_reference` is the frame-by-frame loop it is tested against.

Shapes: T samples, F frames, M = n_mels, D = M (+ 3 with prosody), L = 400-sample mel
window, P = 640-sample pitch window.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from avatarzoo.drivers.features.base import (
    HOP, SAMPLE_RATE, Extractor, FeatureStream, WindowStream, check_audio, offline_windows,
)

WIN = 400        # L: 25 ms
N_FFT = 512
F_MIN, F_MAX = 80.0, 7600.0
LOG_FLOOR = 1e-6
ENERGY_FLOOR = 1e-10  # -100 dB
PITCH_WIN = 640  # P: 40 ms
PITCH_MIN, PITCH_MAX = 60.0, 400.0
TAU_MIN = int(SAMPLE_RATE // PITCH_MAX)            # 40
TAU_MAX = int(np.ceil(SAMPLE_RATE / PITCH_MIN))    # 267
YIN_W = PITCH_WIN - TAU_MAX                        # 373: integration window
YIN_THRESHOLD = 0.15
F0_DEFAULT = float(np.sqrt(PITCH_MIN * PITCH_MAX))  # 155 Hz
SILENT = 1e-10  # mean square below which a pitch window is silence (periodicity 0)
_FFT_YIN = PITCH_WIN  # circular correlation of length P: i + τ <= YIN_W - 1 + TAU_MAX = P - 1 never wraps


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int) -> np.ndarray:
    """float64 [N_FFT // 2 + 1, n_mels] HTK triangles, 80-7600 Hz, peak 1."""
    edges = mel_to_hz(np.linspace(hz_to_mel(F_MIN), hz_to_mel(F_MAX), n_mels + 2))
    freqs = np.arange(N_FFT // 2 + 1) * SAMPLE_RATE / N_FFT
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lo) / (mid - lo)
    down = (hi - freqs[:, None]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down))


def mel_centres(n_mels: int) -> np.ndarray:
    """Centre frequency (Hz) of each mel band: [n_mels]."""
    return mel_to_hz(np.linspace(hz_to_mel(F_MIN), hz_to_mel(F_MAX), n_mels + 2))[1:-1]


def _hann(n: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)  # periodic


class LogMel(Extractor):
    """Log-mel (+ prosody) features; see the module docstring."""

    lookahead = 0

    def __init__(self, n_mels: int = 40, *, prosody: bool = True):
        if not 1 <= int(n_mels) <= 256:
            raise ValueError(f"n_mels: expected 1..256 bands, got {n_mels}")
        self.n_mels = int(n_mels)
        self.prosody = bool(prosody)
        self.dim = self.n_mels + (3 if self.prosody else 0)
        self.context = PITCH_WIN if self.prosody else WIN

    @classmethod
    def from_config(cls, cfg) -> "LogMel":
        return cls(cfg.n_mels, prosody=cfg.prosody)

    @cached_property
    def _fbank(self) -> np.ndarray:
        return mel_filterbank(self.n_mels)

    @cached_property
    def _window(self) -> np.ndarray:
        return _hann(WIN)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """audio: float [T] -> float32 [T // 160, D]."""
        audio = check_audio(audio)
        return offline_windows(self._frames, audio, context=self.context, state=np.log(F0_DEFAULT))

    def stream(self) -> FeatureStream:
        return WindowStream(self._frames, context=self.context, dim=self.dim, state=np.log(F0_DEFAULT))

    def _frames(self, x: np.ndarray, n: int, last_log_f0: float) -> tuple[np.ndarray, float]:
        """x: float64 [context + 160 n], frame k's window ending at context + 160 (k + 1)
        -> (float32 [n, D], the log f0 to carry into the next frame)."""
        if n == 0:
            return np.zeros((0, self.dim), np.float32), last_log_f0
        c = self.context
        ends = HOP * (np.arange(n) + 1)  # frame k: x[end_k, end_k + context), ending at context + 160 (k + 1)
        frames = np.lib.stride_tricks.sliding_window_view(x, c)[ends]    # [n, context]
        mel_win = frames[:, c - WIN:]                                    # [n, L]
        spec = np.fft.rfft(mel_win * self._window, N_FFT)
        power = spec.real ** 2 + spec.imag ** 2                          # [n, 257]
        out = [np.log(power @ self._fbank + LOG_FLOOR)]                  # [n, M]
        if self.prosody:
            energy = 10.0 * np.log10(np.mean(mel_win ** 2, axis=1) + ENERGY_FLOOR)
            f0, periodicity, voiced = yin(frames)
            log_f0 = _carry(np.log(f0), voiced, last_log_f0)
            last_log_f0 = float(log_f0[-1])
            out.append(np.stack([energy, log_f0, periodicity], axis=1))
        return np.concatenate(out, axis=1).astype(np.float32), last_log_f0


def yin(frames: np.ndarray, *, threshold: float = YIN_THRESHOLD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised YIN over pitch windows: frames float64 [n, P] -> (f0 Hz [n],
    periodicity [n] in [0, 1], voiced bool [n]). f0 of unvoiced frames is the best
    candidate anyway (callers carry the last voiced value instead)."""
    n = frames.shape[0]
    if frames.ndim != 2 or frames.shape[1] != PITCH_WIN:
        raise ValueError(f"frames: expected [n, {PITCH_WIN}], got {frames.shape}")
    head = frames[:, :YIN_W]
    # r[τ] = Σ_{i<W} x[i] x[i+τ], by FFT (no wrap: i + τ <= W - 1 + TAU_MAX = P - 1)
    r = np.fft.irfft(np.conj(np.fft.rfft(head, _FFT_YIN)) * np.fft.rfft(frames, _FFT_YIN), _FFT_YIN)[:, :TAU_MAX + 1]
    sq = np.concatenate([np.zeros((n, 1)), np.cumsum(frames ** 2, axis=1)], axis=1)  # [n, P + 1]
    taus = np.arange(TAU_MAX + 1)
    e0 = sq[:, YIN_W:YIN_W + 1]                             # Σ_{i<W} x[i]^2
    e_tau = sq[:, taus + YIN_W] - sq[:, taus]               # Σ_{i<W} x[i+τ]^2
    d = np.maximum(e0 + e_tau - 2.0 * r, 0.0)               # [n, TAU_MAX + 1]
    d[:, 0] = 0.0
    return _pick(d, threshold, silent=e0[:, 0] / YIN_W < SILENT)


def _pick(d: np.ndarray, threshold: float, silent: np.ndarray):
    """CMND of the difference function d [n, TAU_MAX + 1] and YIN's lag choice."""
    n = d.shape[0]
    taus = np.arange(d.shape[1])
    csum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmnd[:, 1:] = np.where(csum > 0, d[:, 1:] * taus[1:] / csum, 1.0)
    lo, hi = TAU_MIN, TAU_MAX - 1            # candidates keep a neighbour on each side
    seg = cmnd[:, lo:hi + 1]                 # [n, K]
    below = seg < threshold
    voiced = below.any(axis=1) & ~silent
    first = np.where(voiced, below.argmax(axis=1), 0)
    # follow the dip down: the first lag at or after `first` that is a local minimum
    rising = seg <= cmnd[:, lo + 1:hi + 2]
    k = np.arange(seg.shape[1])
    after = rising & (k >= first[:, None])
    dip = np.where(after.any(axis=1), after.argmax(axis=1), seg.shape[1] - 1)
    best = np.where(voiced, dip, seg.argmin(axis=1)) + lo    # lag index into cmnd
    rows = np.arange(n)
    a, b, c = cmnd[rows, best - 1], cmnd[rows, best], cmnd[rows, best + 1]
    den = a - 2.0 * b + c
    shift = np.where(den > 0, np.clip(0.5 * (a - c) / np.where(den > 0, den, 1.0), -0.5, 0.5), 0.0)
    f0 = SAMPLE_RATE / (best + shift)
    periodicity = np.where(silent, 0.0, np.clip(1.0 - b, 0.0, 1.0))
    return f0, periodicity, voiced


def _carry(log_f0: np.ndarray, voiced: np.ndarray, last: float) -> np.ndarray:
    """Unvoiced frames take the last voiced value (`last` before the first)."""
    idx = np.where(voiced, np.arange(len(voiced)), -1)
    idx = np.maximum.accumulate(idx)
    return np.where(idx >= 0, log_f0[np.maximum(idx, 0)], last)


# ------------------------------------------------------------------ reference

def logmel_reference(audio: np.ndarray, n_mels: int = 40, *, prosody: bool = True) -> np.ndarray:
    """The frame-by-frame definition `LogMel` vectorises (slow; the test oracle):
    audio float [T] -> float64 [T // 160, D]."""
    audio = check_audio(audio)
    fb = mel_filterbank(n_mels)
    win = _hann(WIN)
    rows = []
    last = np.log(F0_DEFAULT)
    for j in range(len(audio) // HOP):
        end = HOP * (j + 1)
        x = np.concatenate([np.zeros(PITCH_WIN), audio])[PITCH_WIN + end - PITCH_WIN:PITCH_WIN + end]
        m = x[-WIN:]
        power = np.abs(np.fft.rfft(m * win, N_FFT)) ** 2
        row = list(np.log(power @ fb + LOG_FLOOR))
        if prosody:
            energy = 10 * np.log10(np.mean(m ** 2) + ENERGY_FLOOR)
            d = np.array([np.sum((x[:YIN_W] - x[tau:tau + YIN_W]) ** 2) for tau in range(TAU_MAX + 1)])
            silent = np.mean(x[:YIN_W] ** 2) < SILENT
            cmnd = np.ones(TAU_MAX + 1)
            for tau in range(1, TAU_MAX + 1):
                s = d[1:tau + 1].sum()
                cmnd[tau] = d[tau] * tau / s if s > 0 else 1.0
            tau = next((t for t in range(TAU_MIN, TAU_MAX) if cmnd[t] < YIN_THRESHOLD), None)
            voiced = tau is not None and not silent
            if voiced:
                while tau + 1 < TAU_MAX and cmnd[tau + 1] < cmnd[tau]:
                    tau += 1
            else:
                tau = TAU_MIN + int(np.argmin(cmnd[TAU_MIN:TAU_MAX]))
            a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
            den = a - 2 * b + c
            shift = float(np.clip(0.5 * (a - c) / den, -0.5, 0.5)) if den > 0 else 0.0
            if voiced:
                last = np.log(SAMPLE_RATE / (tau + shift))
            row += [energy, last, 0.0 if silent else float(np.clip(1 - b, 0, 1))]
        rows.append(row)
    return np.asarray(rows, np.float64).reshape(-1, n_mels + (3 if prosody else 0))
