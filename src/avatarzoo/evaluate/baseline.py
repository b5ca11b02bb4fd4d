"""The trivial baseline: the mean training frame, shown for every held-out frame.

A renderer must beat it by a margin for its PSNR to mean anything (a static background
already scores well). Streamed from the frames memmap in chunks: never all in RAM.
"""

from __future__ import annotations

import numpy as np


def mean_frame(frames: np.ndarray, stop: int, *, chunk: int = 32) -> np.ndarray:
    """Mean of frames[0:stop], float32 [S, S, 3] in [0, 1].

    Args:
        frames: [N, S, S, 3] uint8, typically `np.load(..., mmap_mode="r")`.
        stop: number of leading (training) frames averaged; 1 <= stop <= N.
    """
    if frames.ndim != 4 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 [N, S, S, 3], got {frames.dtype} {frames.shape}")
    if not 1 <= stop <= frames.shape[0]:
        raise ValueError(f"stop: expected 1..{frames.shape[0]}, got {stop}")
    total = np.zeros(frames.shape[1:], dtype=np.float64)
    for start in range(0, stop, chunk):
        total += frames[start : min(start + chunk, stop)].sum(axis=0, dtype=np.float64)
    return (total / (stop * 255.0)).astype(np.float32)
