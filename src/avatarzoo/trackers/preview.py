"""Previews of a tracking a person can look at, drawn with OpenCV (no plot dependency).

* `contact_sheet.png`: a grid of frames spread over the clip with the face mesh (grey),
  eyes / iris / brows / lips (colour) and the body points drawn, time in the corner.
* `channels.png`: one panel per facial region with its named channels over time;
  frames without a face shaded red, the held-out part shaded grey.
Shapes: N frames, S crop side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avatarzoo.contracts.tracking import Tracking

_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
            (0, 0, 0)]  # RGB
_FEATURES = {  # colour RGB -> landmark indices
    (0, 200, 255): [33, 133, 160, 159, 158, 144, 145, 153, 263, 362, 387, 386, 385, 373, 374, 380],
    (255, 0, 255): [468, 473],
    (255, 200, 0): [70, 63, 105, 66, 107, 46, 53, 52, 65, 55, 300, 293, 334, 296, 336, 276, 283, 282, 295, 285],
    (255, 60, 60): [61, 291, 0, 17, 13, 14, 37, 267, 84, 314, 82, 312, 87, 317],
}


def contact_sheet(frames: np.ndarray, tracking: Tracking, path: Path, *, cols: int = 4, rows: int = 3, tile: int = 320) -> Path:
    """Write a grid of `rows * cols` frames (uint8 [N, S, S, 3], may be a memmap) with
    their landmarks; returns `path`."""
    import cv2

    n = frames.shape[0]
    picks = np.unique(np.linspace(0, n - 1, min(n, rows * cols)).round().astype(int))
    sheet = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
    for j, i in enumerate(picks):
        img = np.ascontiguousarray(frames[i])
        scale = tile / img.shape[1]
        img = cv2.resize(img, (tile, int(round(img.shape[0] * scale))), interpolation=cv2.INTER_AREA)[:tile]
        lm = tracking.landmarks[i, :, :2] * scale
        for x, y in lm:
            cv2.circle(img, (int(x), int(y)), 1, (200, 200, 200), -1, cv2.LINE_AA)
        for color, idx in _FEATURES.items():
            for x, y in lm[idx]:
                cv2.circle(img, (int(x), int(y)), 2, color, -1, cv2.LINE_AA)
        for x, y in tracking.body[i] * scale:
            cv2.circle(img, (int(x), int(y)), 5, (0, 255, 0), 2, cv2.LINE_AA)
        label = f"{tracking.time[i]:.2f} s" + ("" if tracking.valid[i] else " (no face)")
        cv2.putText(img, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        r, c = divmod(j, cols)
        sheet[r * tile:r * tile + img.shape[0], c * tile:(c + 1) * tile] = img
    _write(path, sheet)
    return path


def channel_plot(tracking: Tracking, path: Path, *, holdout_start: int | None = None, width: int = 1400, panel: int = 150) -> Path:
    """Write one panel per region of `tracking.space` (residual: its first 5 channels)."""
    import cv2

    space = tracking.space
    regions = [(r, list(space.indices(r))) for r in ("brows", "eyes", "gaze", "mouth", "jaw", "cheeks", "residual")
               if space.indices(r)]
    left, right, top_pad = 60, 230, 22
    img = np.full((panel * len(regions), width, 3), 255, np.uint8)
    n = len(tracking)
    t = tracking.time
    xs = left + (np.arange(n) / max(n - 1, 1)) * (width - left - right)
    for p, (region, idx) in enumerate(regions):
        if region == "residual":
            idx = idx[:5]
        y0, y1 = p * panel + top_pad, (p + 1) * panel - 18
        vals = tracking.expression[:, idx]
        lo, hi = float(np.percentile(vals, 0.5)), float(np.percentile(vals, 99.5))
        lo, hi = min(lo, 0.0), max(hi, lo + 1e-3)

        def ypix(v: np.ndarray) -> np.ndarray:
            return y1 - (np.clip(v, lo, hi) - lo) / (hi - lo) * (y1 - y0)

        for k in np.flatnonzero(~tracking.valid):
            cv2.rectangle(img, (int(xs[k]) - 1, y0), (int(xs[k]) + 1, y1), (255, 200, 200), -1)
        if holdout_start is not None and holdout_start < n:
            cv2.rectangle(img, (int(xs[holdout_start]), y0), (width - right, y1), (232, 232, 232), -1)
        cv2.rectangle(img, (left, y0), (width - right, y1), (160, 160, 160), 1)
        zero = int(ypix(np.array(0.0)))
        cv2.line(img, (left, zero), (width - right, zero), (210, 210, 210), 1)
        cv2.putText(img, region, (left, y0 - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        for txt, v in ((f"{hi:.2f}", hi), (f"{lo:.2f}", lo)):
            cv2.putText(img, txt, (4, int(ypix(np.array(v))) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (90, 90, 90), 1, cv2.LINE_AA)
        for c, i in enumerate(idx):
            color = _PALETTE[c % len(_PALETTE)]
            pts = np.stack([xs, ypix(tracking.expression[:, i])], axis=1).round().astype(np.int32)
            cv2.polylines(img, [pts], False, color, 1, cv2.LINE_AA)
            cv2.putText(img, space.channels[i], (width - right + 8, y0 + 10 + 11 * c),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.38, color, 1, cv2.LINE_AA)
    # time axis along the bottom of the last panel
    for sec in range(int(np.ceil(t[0])), int(t[-1]) + 1, max(1, int((t[-1] - t[0]) // 20) or 1)):
        x = int(np.interp(sec, t, xs))
        cv2.putText(img, f"{sec}", (x - 6, img.shape[0] - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90), 1, cv2.LINE_AA)
    _write(path, img)
    return path


def _write(path: Path, rgb: np.ndarray) -> None:
    import cv2

    from avatarzoo.errors import StageError

    path = Path(path)
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise StageError(f"{path}: could not encode the preview")
    from avatarzoo.files import atomic_write_bytes

    atomic_write_bytes(path, data.tobytes())
