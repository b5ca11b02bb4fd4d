"""Per-frame PSNR/SSIM of whole frames and of their face boxes.

Shapes: B frames, S side; images are HWC, uint8 (0..255) or float (0..1).
"""

from __future__ import annotations

import numpy as np

from avatarzoo.evaluate.facebox import crop

KEYS = ("psnr_full", "ssim_full", "psnr_face", "ssim_face", "psnr_outside")


def _to_tensor(images: np.ndarray):  # -> torch.Tensor [B, C, H, W] float32 in [0, 1]
    import torch

    x = torch.from_numpy(np.array(images, copy=True))  # a copy: memmaps and broadcasts are read-only
    x = x.float() / 255.0 if images.dtype == np.uint8 else x.float()
    return x.permute(0, 3, 1, 2)


def outside_mask(boxes: np.ndarray, height: int, width: int):  # -> torch.Tensor bool [B, 1, H, W]
    """True outside each frame's face box [B, 4] (x0, y0, x1, y1), False inside."""
    import torch

    b = torch.as_tensor(np.asarray(boxes), dtype=torch.int64)
    ys, xs = torch.arange(height)[None, :, None], torch.arange(width)[None, None, :]
    inside = ((xs >= b[:, 0, None, None]) & (xs < b[:, 2, None, None])
              & (ys >= b[:, 1, None, None]) & (ys < b[:, 3, None, None]))
    return ~inside[:, None]


def score_frames(pred: np.ndarray, target: np.ndarray, boxes: np.ndarray) -> dict[str, np.ndarray]:
    """PSNR (dB) and SSIM of each frame, whole and in its face box, and PSNR outside the
    face box (NaN where the box covers the whole frame): {KEYS: float64 [B]}.

    Args:
        pred: [B, S, S, 3] uint8 or float in [0, 1]; [S, S, 3] is broadcast to every frame.
        target: [B, S, S, 3] uint8 or float in [0, 1].
        boxes: [B, 4] int (x0, y0, x1, y1), squares of one side (see `facebox.face_boxes`).
    """
    from avatarzoo.image_metrics import psnr, ssim

    if target.ndim != 4 or target.shape[-1] != 3:
        raise ValueError(f"target: expected [B, S, S, 3], got shape {target.shape}")
    if pred.ndim == 3:
        pred = np.broadcast_to(pred, target.shape)
    if pred.shape != target.shape:
        raise ValueError(f"pred: expected shape {target.shape} (as target), got {pred.shape}")
    p, t = _to_tensor(pred), _to_tensor(target)
    pf, tf = _to_tensor(crop(pred, boxes)), _to_tensor(crop(target, boxes))
    outside = outside_mask(boxes, target.shape[1], target.shape[2])  # [B, 1, H, W]
    out = {
        "psnr_full": psnr(p, t),
        "ssim_full": ssim(p, t),
        "psnr_face": psnr(pf, tf),
        "ssim_face": ssim(pf, tf),
        "psnr_outside": psnr(p, t, outside.float()).masked_fill(outside.flatten(1).sum(1) == 0, float("nan")),
    }
    return {k: v.double().numpy() for k, v in out.items()}
