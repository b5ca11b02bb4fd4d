"""Compaction: after the fit, drop the Gaussians that no training frame shows.

A Gaussian's **blending weight** in a frame is how much of the image it paints: the sum
over pixels of its compositing weight T·α (T the transmittance in front of it), in
pixels at the training side. A Gaussian buried behind others (inside the head, under
the hair) or too faint to count paints almost nothing in every frame, yet every
rendered frame still pays for it: deformation, projection, tile pairs, the sort and the
compositing loop. `blend_weights` measures each Gaussian's largest weight over the
frames given (each frame with its own expression, pose and body, so a Gaussian that only
a wide mouth uncovers counts by that frame), and `compact_` keeps the ones at or above
a threshold.

The weight is read as a gradient: a rendered pixel is Σᵢ Tᵢ αᵢ cᵢ, linear in every
Gaussian's colour cᵢ with coefficient Tᵢ αᵢ, so rendering colour 1 for all and
back-propagating the image's sum gives ∂/∂cᵢ = Σ_pixels Tᵢ αᵢ exactly, through either
rasterizer (tests/test_rasterizer.py holds the reference's gradients to a dense per-pixel
oracle; tests/test_compaction.py holds a frame's weights to its rendered alpha, which
they partition).

Shapes: B frames, N Gaussians, F frames measured.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from avatarzoo.renderers.gaussian.model import PER_GAUSSIAN, GaussianAvatar
from avatarzoo.renderers.gaussian.rasterize import rasterize


def frame_weights(model: GaussianAvatar, expression: Tensor, pose: Tensor, body: Tensor, size: int, *,
                  backend: str = "auto", max_per_tile: int | None = None) -> Tensor:
    """[B, N]: each Gaussian's blending weight (px at `size`) in each of B frames
    (expression [B, D], pose [B, 4, 4], body [B, Bp, 2], as `GaussianAvatar.forward`)."""
    with torch.no_grad():
        g = model.gaussians(expression, pose, body)
    ones = torch.ones_like(g["means"], requires_grad=True)  # [B, N, 3]: colour 1 everywhere
    view, k = model.camera(len(expression), size)
    with torch.enable_grad():
        img, _, _ = rasterize(g["means"], None, None, g["opacities"], ones, view, k, size, size,
                              covars=g["covars"], backend=backend, max_per_tile=max_per_tile)
        (grad,) = torch.autograd.grad(img[..., 0].sum(), ones)
    return grad[..., 0]


def blend_weights(model: GaussianAvatar, batch: Callable[[np.ndarray], dict[str, Tensor]],
                  idx: np.ndarray, size: int, *, chunk: int = 4, backend: str = "auto",
                  max_per_tile: int | None = None, progress: Callable = lambda it, **kw: it) -> Tensor:
    """[N]: each Gaussian's largest blending weight (px at `size`) over the frames `idx`
    [F]; `batch(rows)` gives those frames' expression, pose and body as a dict of tensors
    on the model's device (`TrainData.rows` of each, or `TrainData.batch`)."""
    best = torch.zeros(model.n, device=model.means.device)
    for a in progress(range(0, len(idx), chunk), total=-(-len(idx) // chunk), desc="compaction", unit="batch"):
        b = batch(idx[a:a + chunk])
        w = frame_weights(model, b["expression"], b["pose"], b["body"], size, backend=backend,
                          max_per_tile=max_per_tile)
        best = torch.maximum(best, w.amax(0))
    return best


@torch.no_grad()
def compact_(model: GaussianAvatar, keep: Tensor) -> int:
    """Keep only the Gaussians where `keep` [N] (bool) is set, in place: every
    per-Gaussian parameter and buffer follows. Returns how many were dropped."""
    if keep.shape != (model.n,) or keep.dtype != torch.bool:
        raise ValueError(f"compact_: keep must be a bool [{model.n}] mask, got {keep.dtype} {tuple(keep.shape)}")
    for name in PER_GAUSSIAN:
        setattr(model, name, torch.nn.Parameter(getattr(model, name).detach()[keep].clone()))
    for name in model.per_gaussian_buffers():
        setattr(model, name, getattr(model, name)[keep].clone())
    return int((~keep).sum())


__all__ = ["blend_weights", "compact_", "frame_weights"]
