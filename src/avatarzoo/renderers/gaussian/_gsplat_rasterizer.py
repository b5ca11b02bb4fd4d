"""gsplat (CUDA) backend of `rasterize`; same function as `_torch_rasterizer`.

Two halves, so that a caller can put the first in a CUDA graph:

- `project_gsplat`: EWA projection (gsplat's fused kernel, opacity-aware radii). Fixed
  output sizes and no host sync: it can be captured in a CUDA graph together with the
  per-frame Gaussians (runtime.GaussianRenderer does).
- `raster_gsplat`: tile intersection, depth sort and compositing. Its number of
  tile–Gaussian pairs is known only on the host after a sync, so it runs eagerly.

`rasterize_gsplat` is both, and computes what gsplat 1.5's `rasterization(...,
packed=False, rasterize_mode="classic")` does for these inputs without that wrapper's
per-call checks and reshapes (benchmarks/gpu_check.py compares the two).

gsplat compiles its kernels on first use (~75 s on an H100 with
TORCH_CUDA_ARCH_LIST=9.0). Imported lazily: only CUDA runs need it.

Shapes: B images, N Gaussians, C colour channels, H×W image.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor



def _triu6(c: Tensor) -> Tensor:
    """[..., 3, 3] symmetric → gsplat's [..., 6] (xx, xy, xz, yy, yz, zz), by slicing: an
    index tensor would be a host → device copy, which a CUDA graph cannot capture."""
    return torch.stack([c[..., 0, 0], c[..., 0, 1], c[..., 0, 2], c[..., 1, 1], c[..., 1, 2], c[..., 2, 2]], -1)


def project_gsplat(
    means: Tensor,  # [B, N, 3]
    covars: Tensor,  # [B, N, 3, 3]
    opacities: Tensor,  # [B, N]
    colors: Tensor,  # [B, N, C]
    viewmats: Tensor,  # [B, 4, 4]
    Ks: Tensor,  # [B, 3, 3]
    width: int,
    height: int,
    *,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
) -> dict[str, Tensor]:
    """Projected Gaussians of B one-camera images: means2d [B, N, 2], radii [B, N, 2]
    (0: culled), depths [B, N], conics [B, N, 3], and the opacities [B, N] and colors
    [B, N, C] to composite (contiguous)."""
    from gsplat.cuda._wrapper import fully_fused_projection

    radii, means2d, depths, conics, _ = fully_fused_projection(
        means.contiguous(), _triu6(covars), None, None,
        viewmats[:, None].contiguous(), Ks[:, None].contiguous(), width, height, eps2d=eps2d,
        near_plane=near_plane, far_plane=far_plane, opacities=opacities.contiguous(),
    )  # [B, 1, N, ...]: one camera per image
    return {"means2d": means2d[:, 0], "radii": radii[:, 0], "depths": depths[:, 0],
            "conics": conics[:, 0], "opacities": opacities.contiguous(), "colors": colors.contiguous()}


def raster_gsplat(p: dict[str, Tensor], width: int, height: int, *, tile_size: int = 16
                  ) -> tuple[Tensor, Tensor, dict]:
    """Composite `project_gsplat`'s output: colors [B, H, W, C], alphas [B, H, W, 1],
    meta (means2d, radii, tile pairs)."""
    from gsplat.cuda._wrapper import isect_offset_encode, isect_tiles, rasterize_to_pixels

    b = p["means2d"].shape[0]
    tw, th = math.ceil(width / tile_size), math.ceil(height / tile_size)
    _, isect_ids, flatten_ids = isect_tiles(p["means2d"], p["radii"], p["depths"], tile_size, tw, th)
    offsets = isect_offset_encode(isect_ids, b, tw, th).reshape(b, th, tw)
    img, alpha = rasterize_to_pixels(p["means2d"], p["conics"], p["colors"], p["opacities"], width,
                                     height, tile_size, offsets, flatten_ids)
    meta = {"means2d": p["means2d"], "radii": p["radii"], "depths": p["depths"],
            "n_pairs": int(flatten_ids.numel()), "tile_size": tile_size}
    return img, alpha, meta


def rasterize_gsplat(
    means: Tensor,  # [B, N, 3]
    covars: Tensor,  # [B, N, 3, 3]
    opacities: Tensor,  # [B, N]
    colors: Tensor,  # [B, N, C]
    viewmats: Tensor,  # [B, 4, 4]
    Ks: Tensor,  # [B, 3, 3]
    width: int,
    height: int,
    *,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    tile_size: int = 16,
    max_per_tile: int | None = None,  # the CUDA path needs no cap; ignored
) -> tuple[Tensor, Tensor, dict]:
    p = project_gsplat(means, covars, opacities, colors, viewmats, Ks, width, height,
                       near_plane=near_plane, far_plane=far_plane, eps2d=eps2d)
    return raster_gsplat(p, width, height, tile_size=tile_size)


__all__ = ["project_gsplat", "raster_gsplat", "rasterize_gsplat"]
