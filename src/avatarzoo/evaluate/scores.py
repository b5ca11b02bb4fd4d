"""Per-frame PSNR/SSIM of whole frames and of their face boxes.

Shapes: B frames, S side; images are HWC, uint8 (0..255) or float (0..1).
"""

from __future__ import annotations

import numpy as np

from avatarzoo.evaluate.facebox import crop

KEYS = ("psnr_full", "ssim_full", "psnr_face", "ssim_face")


def _to_tensor(images: np.ndarray):  # -> torch.Tensor [B, C, H, W] float32 in [0, 1]
    import torch

    x = torch.from_numpy(np.array(images, copy=True))  # a copy: memmaps and broadcasts are read-only
    x = x.float() / 255.0 if images.dtype == np.uint8 else x.float()
    return x.permute(0, 3, 1, 2)


def score_frames(pred: np.ndarray, target: np.ndarray, boxes: np.ndarray) -> dict[str, np.ndarray]:
    """PSNR (dB) and SSIM of each frame, whole and in its face box: {KEYS: float64 [B]}.

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
    out = {
        "psnr_full": psnr(p, t),
        "ssim_full": ssim(p, t),
        "psnr_face": psnr(pf, tf),
        "ssim_face": ssim(pf, tf),
    }
    return {k: v.double().numpy() for k, v in out.items()}
