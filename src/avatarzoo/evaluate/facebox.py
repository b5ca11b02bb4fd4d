"""The face box: where "face" PSNR/SSIM is measured.

Shapes: M frames, L landmarks. One square side for the whole window (the largest face
extent, padded), centred per frame on that frame's landmarks, so every frame's crop has
the same size (scores batch, and frames weigh the same). The box comes from the
ground-truth tracking and is used unchanged for the recording, the render and the
baseline.
"""

from __future__ import annotations

import numpy as np

MIN_SIDE = 16  # SSIM's 11×11 window needs room


def face_boxes(landmarks: np.ndarray, size: int, *, pad: float = 0.25) -> np.ndarray:
    """Square face boxes, int64 [M, 4] as (x0, y0, x1, y1), inside [0, size).

    Args:
        landmarks: [M, L, 2 or 3] pixel coordinates (x, y[, depth]) in a size×size frame.
        size: side of the frame, pixels.
        pad: margin added on each side, as a fraction of the face extent.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[-1] not in (2, 3) or lm.shape[0] == 0 or lm.shape[1] == 0:
        raise ValueError(f"landmarks: expected [M, L, 2|3] with M, L > 0, got shape {lm.shape}")
    if size < MIN_SIDE:
        raise ValueError(f"size: expected at least {MIN_SIDE}, got {size}")
    xy = lm[..., :2]
    if not np.isfinite(xy).all():
        bad = int(np.flatnonzero(~np.isfinite(xy).all(axis=(1, 2)))[0])
        raise ValueError(f"landmarks: frame {bad} (of the window) has non-finite coordinates")
    lo, hi = xy.min(axis=1), xy.max(axis=1)  # [M, 2]
    extent = float((hi - lo).max())
    side = int(np.clip(round(extent * (1 + 2 * pad)), MIN_SIDE, size))
    centre = (lo + hi) / 2  # [M, 2]
    x0 = np.clip(np.round(centre[:, 0] - side / 2), 0, size - side).astype(np.int64)
    y0 = np.clip(np.round(centre[:, 1] - side / 2), 0, size - side).astype(np.int64)
    return np.stack([x0, y0, x0 + side, y0 + side], axis=1)


def crop(images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Crops of equal size, [B, s, s, C] from images [B, H, W, C] and boxes [B, 4]."""
    if images.ndim != 4 or boxes.shape != (images.shape[0], 4):
        raise ValueError(
            f"crop: expected images [B, H, W, C] and boxes [B, 4], got {images.shape} and {boxes.shape}"
        )
    sides = boxes[:, 2] - boxes[:, 0]
    if (sides != sides[0]).any() or ((boxes[:, 3] - boxes[:, 1]) != sides).any():
        raise ValueError("crop: boxes must be squares of one side")
    return np.stack([im[y0:y1, x0:x1] for im, (x0, y0, x1, y1) in zip(images, boxes)])
