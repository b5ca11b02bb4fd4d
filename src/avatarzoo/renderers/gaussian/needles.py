"""Needle Gaussians: the thin streaks of issue 14, counted on screen.

A **needle** in a frame is a Gaussian that

* is on screen: the rasterizer keeps it (in front of the near plane, its 3.33σ box
  touches the image, α ≥ 1/255; `_torch_rasterizer.project`, radii > 0);
* is visible: opacity ≥ `min_opacity` (default 0.1);
* is long: the larger 1σ semi-axis of its projected 2D footprint is ≥ `min_length` ×
  the frame side (default 0.005: 0.64 px at 128², 2.6 px at 512²);
* is thin: that semi-axis over the smaller one is ≥ `ratio` (default 10).

The footprint is the EWA projection J Σ Jᵀ *without* the rasterizer's 0.3 px² `eps2d`
blur: the blur hides a needle at 128² (it widens every footprint to ≥ 0.55 px) that
the same Gaussians draw as a streak at 512², so the count describes the model's shapes
and compares across render sizes. A round Gaussian has ratio 1.
The count is per frame, on the Gaussians *after* expression, pose and body, so it sees
the needles that only the live expression makes (the frozen render is counted alike).

Shapes: B frames, N Gaussians, S frame side.
"""

from __future__ import annotations

import torch
from torch import Tensor

from avatarzoo.renderers.gaussian._torch_rasterizer import project

RATIO = 10.0
MIN_OPACITY = 0.1
MIN_LENGTH = 0.005


def footprint_axes(conics: Tensor) -> tuple[Tensor, Tensor]:
    """The 1σ semi-axes (major, minor) [B, N] in px of 2D footprints given by their
    conics [B, N, 3] (a, b, c of the inverse covariance, as `project` returns)."""
    a, b, c = conics.unbind(-1)
    # eigenvalues of the conic: its smallest is 1 / (the covariance's largest)
    half_tr, det = (a + c) / 2, a * c - b * b
    disc = (half_tr.square() - det).clamp_min(0).sqrt()
    lo, hi = (half_tr - disc).clamp_min(1e-12), (half_tr + disc).clamp_min(1e-12)
    return lo.rsqrt(), hi.rsqrt()


@torch.no_grad()
def needle_mask(
    means: Tensor,  # [B, N, 3] camera space
    covars: Tensor,  # [B, N, 3, 3]
    opacities: Tensor,  # [B, N]
    K: Tensor,  # [3, 3] at `size`
    size: int,
    *,
    ratio: float = RATIO,
    min_opacity: float = MIN_OPACITY,
    min_length: float = MIN_LENGTH,
) -> Tensor:
    """[B, N] bool: which Gaussians are needles in each frame (module docstring)."""
    b, n = opacities.shape
    if means.shape != (b, n, 3) or covars.shape != (b, n, 3, 3):
        raise ValueError(f"needle_mask: means must be [{b}, {n}, 3] and covars [{b}, {n}, 3, 3], "
                         f"got {tuple(means.shape)} and {tuple(covars.shape)}")
    view = torch.eye(4, dtype=means.dtype, device=means.device).expand(b, 4, 4)
    p = project(means, covars, opacities, view, K.to(means.dtype).expand(b, 3, 3), size, size, eps2d=0.0)
    major, minor = footprint_axes(p["conics"])
    on_screen = (p["radii"] > 0).all(-1)
    return (on_screen & (opacities >= min_opacity) & (major >= min_length * size)
            & (major >= ratio * minor))


def needle_count(g: dict[str, Tensor], K: Tensor, size: int, **kw) -> Tensor:
    """[B] long: needles per frame among posed Gaussians `g` (`GaussianAvatar.gaussians`)."""
    return needle_mask(g["means"], g["covars"], g["opacities"], K, size, **kw).sum(-1)


__all__ = ["MIN_LENGTH", "MIN_OPACITY", "RATIO", "footprint_axes", "needle_count", "needle_mask"]
