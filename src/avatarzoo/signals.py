"""Small 1-D signal helpers shared by trackers, drivers and checks (numpy).

Shapes: N samples.
"""

from __future__ import annotations

import numpy as np


def peaks(x: np.ndarray, *, height: float, distance: int) -> list[int]:
    """Indices of local maxima of `x` [N] at least `height` high and `distance` apart
    (the higher one wins), like scipy.signal.find_peaks without importing scipy."""
    cand = [i for i in range(len(x)) if x[i] >= height
            and (i == 0 or x[i] >= x[i - 1]) and (i == len(x) - 1 or x[i] > x[i + 1])]
    kept: list[int] = []
    for i in sorted(cand, key=lambda i: -x[i]):
        if all(abs(i - j) >= distance for j in kept):
            kept.append(i)
    return sorted(kept)
