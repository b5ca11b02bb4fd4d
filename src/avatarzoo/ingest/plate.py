"""The background plate: what the camera sees behind the person.

Per pixel, the median over frames of the values where the mask says background (with
the person mask dilated by `S / 64` so that hair and edge halos don't bleed in). Pixels
never seen as background are filled with `cv2.inpaint` (Telea). Shapes: N frames,
S crop side.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

BACKGROUND_BELOW = 64  # mask value (0..255) under which a pixel counts as background
MAX_FRAMES = 48  # frames sampled evenly over the clip (a static camera: plenty for a median)
THREADS = 2  # row chunks in parallel (each chunk's result is the same in any order)
_ROWS = 32  # rows per chunk: [F, 32, S, 3] uint16 stays a few tens of MB


def background_plate(frames: np.ndarray, masks: np.ndarray, *, max_frames: int = MAX_FRAMES) -> tuple[np.ndarray, float]:
    """Background plate of `frames` uint8 [N, S, S, 3] under `masks` uint8 [N, S, S].

    Arrays may be memmaps: only `max_frames` evenly spaced frames are read, in chunks
    of rows. Returns (plate uint8 [S, S, 3], fraction of pixels that were inpainted).
    """
    import cv2

    n, s = frames.shape[0], frames.shape[1]
    if frames.shape != (n, s, s, 3) or masks.shape != (n, s, s):
        raise ValueError(f"frames [N, S, S, 3] and masks [N, S, S] expected, got {frames.shape} and {masks.shape}")
    pick = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int))
    k = max(3, s // 64) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    background = np.stack([
        cv2.dilate((masks[i] >= BACKGROUND_BELOW).astype(np.uint8), kernel) == 0 for i in pick
    ])  # bool [F, S, S]
    plate = np.zeros((s, s, 3), np.uint8)
    seen = background.any(axis=0)

    def median_rows(r: int) -> None:  # numpy's sort releases the GIL: chunks run in parallel
        rows = slice(r, min(r + _ROWS, s))
        px = np.asarray(frames[pick, rows]).astype(np.uint16).transpose(1, 2, 3, 0).copy()  # [R, S, 3, F]
        bg = background[:, rows].transpose(1, 2, 0)  # [R, S, F]
        px[~np.broadcast_to(bg[:, :, None, :], px.shape)] = 1024  # sorts after every real value
        px.sort(axis=-1)
        count = bg.sum(axis=-1)  # [R, S]
        mid = np.maximum(count - 1, 0) // 2
        med = np.take_along_axis(px, np.broadcast_to(mid[:, :, None, None], (*mid.shape, 3, 1)), axis=-1)[..., 0]
        plate[rows] = np.where(count[..., None] > 0, med, 0).astype(np.uint8)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(median_rows, range(0, s, _ROWS)))
    holes = (~seen).astype(np.uint8)
    fraction = float(holes.mean())
    if fraction > 0:
        plate = cv2.inpaint(plate, holes, 3, cv2.INPAINT_TELEA)  # radius 3: 0.07 s at 512²; 8: 0.4 s
    return plate, fraction
