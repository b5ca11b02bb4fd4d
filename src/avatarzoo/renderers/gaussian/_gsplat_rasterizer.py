"""gsplat (CUDA) backend of `rasterize`; same function as `_torch_rasterizer`.

gsplat compiles its kernels on first use (~75 s on an H100 with
TORCH_CUDA_ARCH_LIST=9.0). Imported lazily: only CUDA runs need it.
"""

from __future__ import annotations

from torch import Tensor


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
    from gsplat import rasterization

    c = lambda x: x.contiguous()  # noqa: E731  (the kernels read raw pointers)
    img, acc, meta = rasterization(
        c(means), None, None, c(opacities), c(colors), c(viewmats[:, None]), c(Ks[:, None]),
        width, height, covars=c(covars), near_plane=near_plane, far_plane=far_plane, eps2d=eps2d,
        tile_size=tile_size, packed=False, rasterize_mode="classic",
    )  # [B, 1, H, W, C], [B, 1, H, W, 1]
    return img[:, 0], acc[:, 0], meta
