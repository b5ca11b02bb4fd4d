"""Line plots drawn with OpenCV (no plotting dependency): `fidelity.png`, the
ground-truth channel curves against the re-tracked live and frozen renders.

Shapes: M samples per curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GT = (20, 20, 20)
LIVE = (0, 150, 60)
FROZEN = (215, 40, 40)


@dataclass(frozen=True)
class Series:
    label: str
    values: np.ndarray  # [M] float; NaN where missing (no face found)
    color: tuple[int, int, int]  # RGB


@dataclass(frozen=True)
class Panel:
    title: str
    series: Sequence[Series]


def _text(img: np.ndarray, text: str, org: tuple[int, int], color=(0, 0, 0), scale: float = 0.45) -> None:
    import cv2

    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA)


def draw_panels(
    panels: Sequence[Panel], *, width: int = 960, height: int = 150, x_start: int = 0
) -> np.ndarray:
    """RGB uint8 [24 + len(panels)·height, width, 3]: a legend strip, then one panel per
    row, its series as lines on a shared y-range; x = sample index + `x_start` (e.g.
    the frame number of the first sample), labelled at both ends."""
    import cv2

    if not panels:
        raise ValueError("draw_panels: no panels")
    left, right, top, bottom = 60, 10, 22, 16
    legend = np.full((24, width, 3), 255, np.uint8)
    x = left
    for s in panels[0].series:
        cv2.line(legend, (x, 12), (x + 20, 12), s.color, 2)
        _text(legend, s.label, (x + 24, 16), s.color)
        (w, _), _ = cv2.getTextSize(s.label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
        x += w + 48
    rows = [legend]
    for panel in panels:
        img = np.full((height, width, 3), 255, np.uint8)
        allv = np.concatenate([np.asarray(s.values, np.float64) for s in panel.series])
        allv = allv[np.isfinite(allv)]
        lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        x0, x1, y0, y1 = left, width - right, top, height - bottom
        cv2.rectangle(img, (x0, y0), (x1, y1), (200, 200, 200), 1)
        _text(img, f"{hi:.3g}", (4, y0 + 10), (90, 90, 90), 0.35)
        _text(img, f"{lo:.3g}", (4, y1), (90, 90, 90), 0.35)
        _text(img, panel.title, (x0, 15))
        n_max = max(len(s.values) for s in panel.series)
        _text(img, str(x_start), (x0, height - 3), (90, 90, 90), 0.35)
        _text(img, str(x_start + max(n_max - 1, 0)), (x1 - 28, height - 3), (90, 90, 90), 0.35)
        for s in panel.series:
            v = np.asarray(s.values, np.float64)
            n = v.shape[0]
            xs = x0 + (np.arange(n) / max(n - 1, 1)) * (x1 - x0)
            ys = y1 - (v - lo) / (hi - lo) * (y1 - y0)
            ok = np.isfinite(ys)
            # Draw each run of consecutive finite samples as one polyline.
            start = None
            for i in range(n + 1):
                if i < n and ok[i]:
                    start = i if start is None else start
                elif start is not None:
                    pts = np.stack([xs[start:i], ys[start:i]], axis=1).round().astype(np.int32)
                    cv2.polylines(img, [pts], False, s.color, 1 if s.color != GT else 2, cv2.LINE_AA)
                    start = None
        rows.append(img)
    return np.concatenate(rows, axis=0)
