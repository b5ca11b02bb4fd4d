"""`rasterize`: 3D Gaussians → images, through gsplat on CUDA or the PyTorch reference.

Both backends compute the same function (gsplat 1.5 `rasterization`, pinhole camera,
classic mode, no background); `tests/test_rasterizer.py` checks the reference against
a dense per-pixel oracle, and `benchmarks/gpu_check.py` against gsplat on the GPU.

Shapes: B images, N Gaussians per image, C colour channels, H×W image.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from avatarzoo.renderers.gaussian._torch_rasterizer import quat_scale_to_covar, rasterize_torch

Backend = Literal["auto", "torch", "gsplat"]


def _check(name: str, x: Tensor, shape: tuple) -> None:
    ok = x.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, x.shape))
    if not ok:
        want = "[" + ", ".join("?" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"rasterize: {name} must have shape {want}, got {tuple(x.shape)}")


def over_background(colors: Tensor, alphas: Tensor, background: Tensor) -> Tensor:
    """`rasterize`'s colors [B, H, W, C] and alphas [B, H, W, 1] composited over
    `background` [C, H, W]: images [B, C, H, W]."""
    return colors.permute(0, 3, 1, 2) + (1 - alphas.permute(0, 3, 1, 2)) * background[None]


def resolve_backend(backend: Backend, device: torch.device | str) -> str:
    """'gsplat' on CUDA and 'torch' elsewhere for 'auto'; refuses gsplat off CUDA."""
    dev = torch.device(device)
    if backend == "auto":
        return "gsplat" if dev.type == "cuda" else "torch"
    if backend == "gsplat" and dev.type != "cuda":
        raise ValueError("rasterize: backend 'gsplat' needs CUDA tensors; use 'torch' or 'auto'")
    if backend not in ("torch", "gsplat"):
        raise ValueError(f"rasterize: backend must be 'auto', 'torch' or 'gsplat', got {backend!r}")
    return backend


def rasterize(
    means: Tensor,  # [B, N, 3]
    quats: Tensor | None,  # [B, N, 4] (w, x, y, z) or None with covars
    scales: Tensor | None,  # [B, N, 3] or None with covars
    opacities: Tensor,  # [B, N] in [0, 1]
    colors: Tensor,  # [B, N, C]
    viewmats: Tensor,  # [B, 4, 4] world → camera
    Ks: Tensor,  # [B, 3, 3]
    width: int,
    height: int,
    *,
    covars: Tensor | None = None,  # [B, N, 3, 3]; replaces quats and scales
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    tile_size: int | None = None,
    max_per_tile: int | None = None,
    backend: Backend = "auto",
) -> tuple[Tensor, Tensor, dict]:
    """Render B images of N Gaussians each.

    Args:
        means: centres in world coordinates, [B, N, 3].
        quats, scales: orientation (w, x, y, z) and standard deviations, [B, N, 4] and
            [B, N, 3]; pass None for both when giving `covars` [B, N, 3, 3].
        opacities: [B, N]; colors: [B, N, C] (post-activation).
        viewmats: world → camera, [B, 4, 4]; Ks: pinhole intrinsics, [B, 3, 3].
        tile_size: binning tile side; None: 16 for gsplat (its kernels' size) and 4 for
            the torch backend (the image is the same for any size; small tiles waste
            less work on Gaussians that touch only part of a tile: ~2× faster on CPU).
        max_per_tile: torch backend only: composite at most this many front-most
            Gaussians per tile (None: all, exact).
        backend: "auto" (gsplat on CUDA, torch elsewhere), "torch" or "gsplat".

    Returns:
        colors [B, H, W, C], alphas [B, H, W, 1] (composite a background as
        `colors + (1 - alphas) * background`), and a meta dict (means2d, radii, ...).
    """
    if means.ndim != 3 or means.shape[-1] != 3:
        raise ValueError(f"rasterize: means must have shape [B, N, 3], got {tuple(means.shape)}")
    b, n = means.shape[:2]
    if covars is None:
        if quats is None or scales is None:
            raise ValueError("rasterize: give quats and scales, or covars")
        _check("quats", quats, (b, n, 4))
        _check("scales", scales, (b, n, 3))
        covars = quat_scale_to_covar(quats, scales)
    _check("covars", covars, (b, n, 3, 3))
    _check("opacities", opacities, (b, n))
    _check("colors", colors, (b, n, None))
    _check("viewmats", viewmats, (b, 4, 4))
    _check("Ks", Ks, (b, 3, 3))
    kind = resolve_backend(backend, means.device)
    if tile_size is None:
        tile_size = 16 if kind == "gsplat" else 4
    kw = dict(near_plane=near_plane, far_plane=far_plane, eps2d=eps2d, tile_size=tile_size)
    if kind == "gsplat":
        from avatarzoo.renderers.gaussian._gsplat_rasterizer import rasterize_gsplat

        return rasterize_gsplat(
            means, covars, opacities, colors, viewmats, Ks, width, height, **kw
        )
    return rasterize_torch(
        means, covars, opacities, colors, viewmats, Ks, width, height,
        max_per_tile=max_per_tile, **kw,
    )
