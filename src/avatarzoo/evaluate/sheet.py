"""The contact sheet: ground truth above render for a few held-out frames, the most
expressive among them, each labelled with its frame number and PSNR.

Shapes: K frames on the sheet, S frame side, t tile side, M held-out frames, C channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def expressiveness(expression: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """How far each frame's expression is from the subject's usual one: sum of |z-scores|,
    float64 [M], from expression [M, C] and the clip's per-channel mean, std [C]."""
    z = (np.asarray(expression, np.float64) - mean) / np.maximum(np.asarray(std, np.float64), 1e-8)
    return np.abs(z).sum(axis=1)


def pick_frames(score: np.ndarray, k: int, *, expressive: int | None = None) -> np.ndarray:
    """Sorted indices of `k` frames of a window (score [M]): the `expressive` (default k/2)
    highest-scoring frames, kept apart by M/(2k) frames so one blink isn't picked thrice,
    then evenly spaced frames for the rest."""
    score = np.asarray(score, np.float64)
    m = score.shape[0]
    k = min(k, m)
    expressive = k // 2 if expressive is None else min(expressive, k)
    gap = max(1, m // (2 * k))
    chosen: list[int] = []
    for i in np.argsort(-score, kind="stable"):
        if len(chosen) == expressive:
            break
        if all(abs(int(i) - c) >= gap for c in chosen):
            chosen.append(int(i))
    for i in np.linspace(0, m - 1, k).round().astype(int):
        if len(chosen) == k:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    for i in range(m):  # collisions of the even spacing with picked frames
        if len(chosen) == k:
            break
        if i not in chosen:
            chosen.append(i)
    return np.array(sorted(chosen), dtype=np.int64)


def _label(tile: np.ndarray, text: str) -> None:
    """White text on a black strip in the tile's bottom-left corner (in place)."""
    import cv2

    scale = max(0.35, tile.shape[0] / 400)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    y0 = tile.shape[0] - h - base - 6
    cv2.rectangle(tile, (0, y0), (w + 6, tile.shape[0]), (0, 0, 0), -1)
    cv2.putText(tile, text, (3, tile.shape[0] - base - 3), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)


def contact_sheet(
    gt: np.ndarray, render: np.ndarray, labels: Sequence[str], *, tile: int = 192
) -> np.ndarray:
    """uint8 RGB [2t, K·t, 3]: ground truth [K, S, S, 3] in the top row, the render
    [K, S, S, 3] below, each render tile labelled with `labels[k]`."""
    import cv2

    if gt.shape != render.shape or gt.ndim != 4 or gt.shape[-1] != 3 or len(labels) != gt.shape[0]:
        raise ValueError(
            f"contact_sheet: expected gt, render [K, S, S, 3] and K labels;"
            f" got {gt.shape}, {render.shape}, {len(labels)} labels"
        )
    t = min(tile, gt.shape[1])
    interp = cv2.INTER_AREA if t < gt.shape[1] else cv2.INTER_LINEAR

    def row(images: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        tiles = []
        for im, text in zip(images, texts):
            small = np.ascontiguousarray(cv2.resize(np.ascontiguousarray(im), (t, t), interpolation=interp))
            if text:
                _label(small, text)
            tiles.append(small)
        return np.concatenate(tiles, axis=1)

    top = ["recording"] + [""] * (len(labels) - 1)
    return np.concatenate([row(gt, top), row(render, labels)], axis=0)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write RGB uint8 [H, W, 3] as PNG."""
    import cv2

    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f"{path}: could not write the PNG")
