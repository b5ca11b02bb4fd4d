"""The contract every speech feature extractor keeps: one causal 100 frames/s grid.

Audio is float32 [T] mono 16 kHz in [-1, 1] (`avatarzoo.drivers.audio.read_audio`).

Grid: feature frame j covers the hop [160 j, 160 (j + 1)) and is computed from the
analysis window that ENDS at sample 160 (j + 1) (causal; the audio is zero before
sample 0). For T samples there are F = T // 160 frames (a trailing partial hop makes no
frame). An extractor may also look `lookahead` frames past its window's end: frame j is
final once samples [0, 160 (j + 1 + lookahead)) have arrived; past the end of the audio
it sees zeros, or the end of the utterance (an extractor says which).

`Extractor` (built by `from_config(cfg)` from its recipe config):

* `dim`: D, the feature size; `lookahead`: frames of future audio beyond the window end.
* `extractor(audio [T]) -> float32 [F, D]`: offline.
* `extractor.stream()` -> a `FeatureStream`: `push(chunk [t]) -> [f, D]` returns the
  frames completed so far, in order; `flush() -> [f, D]` the rest at the end of the
  audio; together they are `extractor(audio)` for any split of `audio` into chunks (to
  float tolerance; an extractor whose stream approximates its offline output says how
  closely). A stream is used once: after `flush` it takes no more audio.

Shapes: T samples, t samples of a chunk, F frames, f frames of a push, D = `dim`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
HOP = 160  # samples per feature frame
FRAME_RATE = SAMPLE_RATE // HOP  # 100 frames/s


def n_frames(n_samples: int) -> int:
    """F = T // 160: the feature frames of T samples."""
    return int(n_samples) // HOP


def check_audio(audio: Any, name: str = "audio") -> np.ndarray:
    """`audio` as float64 [T]: a 1-D real floating array of finite samples, else a
    ValueError naming `name` and the expected shape."""
    a = np.asarray(audio)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name}: expected float [T] mono 16 kHz samples in [-1, 1], "
                         f"got {a.dtype} {tuple(a.shape)}")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        raise ValueError(f"{name}: sample {bad} is {a[bad]}; expected finite samples in [-1, 1]")
    return a.astype(np.float64, copy=False)


class FeatureStream(ABC):
    """Incremental extraction: `push` chunks, then `flush` once."""

    dim: int

    @abstractmethod
    def push(self, chunk: np.ndarray) -> np.ndarray:
        """chunk: float [t], the next t samples (t >= 0) -> float32 [f, D], the frames
        that became final."""

    @abstractmethod
    def flush(self) -> np.ndarray:
        """End of audio -> float32 [f, D], the frames not yet returned (F in all)."""

    def _check_open(self) -> None:
        if getattr(self, "_closed", False):
            raise ValueError("this stream was flushed; start a new one with extractor.stream()")


class Extractor(ABC):
    """A speech feature extractor on the 100 frames/s causal grid (module docstring)."""

    dim: int
    lookahead: int

    @classmethod
    @abstractmethod
    def from_config(cls, cfg: Any) -> "Extractor":
        """Build from the kind's recipe config (avatarzoo.recipe.drivers)."""

    @abstractmethod
    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """audio: float [T] 16 kHz mono -> float32 [T // 160, D]."""

    @abstractmethod
    def stream(self) -> FeatureStream:
        """A fresh stateful stream (see FeatureStream)."""


# frames(x, n, state) -> (float32 [n, D], new state): x is float64 [context + 160 n]
# and frame k's window ends at x[context + 160 (k + 1)]
FramesFn = Callable[[np.ndarray, int, Any], "tuple[np.ndarray, Any]"]


def offline_windows(frames: FramesFn, audio: np.ndarray, *, context: int, state: Any) -> np.ndarray:
    """Run a window extractor over all of `audio` [T]: zeros before sample 0, then the
    F = T // 160 frames."""
    n = n_frames(len(audio))
    x = np.concatenate([np.zeros(context), audio[:n * HOP]])
    out, _ = frames(x, n, state)
    return out


class WindowStream(FeatureStream):
    """The stream of an extractor whose frame j is a function of the `context` samples
    before 160 (j + 1) and of a state carried from frame to frame (lookahead 0): each
    push computes the frames whose window end arrived, with the same `frames` function
    the offline path runs, on the same samples."""

    def __init__(self, frames: FramesFn, *, context: int, dim: int, state: Any):
        self._frames, self._context, self.dim, self._state = frames, context, dim, state
        self._buf = np.zeros(context)  # the `context` samples before the next hop, then the hop so far
        self._closed = False

    def push(self, chunk: np.ndarray) -> np.ndarray:
        self._check_open()
        chunk = check_audio(chunk, "chunk")
        self._buf = np.concatenate([self._buf, chunk])
        n = (len(self._buf) - self._context) // HOP
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        out, self._state = self._frames(self._buf[:self._context + n * HOP], n, self._state)
        self._buf = self._buf[n * HOP:]
        return out

    def flush(self) -> np.ndarray:
        self._check_open()
        self._closed = True  # a partial last hop makes no frame
        return np.zeros((0, self.dim), np.float32)
