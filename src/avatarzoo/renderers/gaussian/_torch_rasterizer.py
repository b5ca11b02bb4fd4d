"""Pure-PyTorch 3D Gaussian rasterizer: the reference (test oracle) and the CPU path.

It computes the same function as gsplat 1.5's `rasterization(..., packed=False,
rasterize_mode="classic")` for a pinhole camera: EWA projection with gsplat's
Jacobian clamping and `eps2d` blur, opacity-aware 3.33σ radii, tile binning (4×4 by default here),
front-to-back compositing that skips α < 1/255, clamps α at 0.999 and stops a pixel
once its transmittance would fall to 1e-4 or below. Differentiable in every float
input (the binning itself is piecewise constant and runs without grad).

Speed on CPU comes from the tiles: each tile composites only the Gaussians whose
3.33σ box touches it (optionally only the `max_per_tile` front-most), as batched
[tiles, 256 px, K] computations with a cumsum of log-transmittance instead of a
per-Gaussian loop. Tiles are sorted by their count and composited in a few buckets,
each padded to its own largest count K, and empty tiles are skipped: background tiles
and the many sparse tiles then cost nothing or little.

Shapes: B images (each with its own Gaussians and camera), N Gaussians, H×W image,
T tiles per image, P pixels per tile, K Gaussians per tile.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

ALPHA_THRESHOLD = 1.0 / 255.0  # gsplat: a Gaussian adds nothing below this alpha
MAX_ALPHA = 0.999
T_THRESHOLD = 1e-4  # gsplat: a pixel is done once its transmittance would reach this


def quat_scale_to_covar(quats: Tensor, scales: Tensor) -> Tensor:
    """Σ = R S Sᵀ Rᵀ from quaternions (w, x, y, z; normalised here) [..., 4] and scales
    [..., 3]; returns [..., 3, 3]."""
    r = quat_to_rotmat(quats)
    m = r * scales[..., None, :]
    return m @ m.transpose(-1, -2)


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] from quaternions (w, x, y, z) [..., 4]."""
    w, x, y, z = torch.unbind(torch.nn.functional.normalize(quats, dim=-1), dim=-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(quats.shape[:-1] + (3, 3))


def project(
    means: Tensor,  # [B, N, 3] world
    covars: Tensor,  # [B, N, 3, 3] world
    opacities: Tensor,  # [B, N]
    viewmats: Tensor,  # [B, 4, 4] world → camera
    Ks: Tensor,  # [B, 3, 3]
    width: int,
    height: int,
    *,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
) -> dict[str, Tensor]:
    """EWA projection as gsplat's `fully_fused_projection` (pinhole, classic).

    Returns means2d [B, N, 2] (pixels), conics [B, N, 3] (inverse 2D covariance a, b, c),
    depths [B, N], radii [B, N, 2] (int, 0 for culled Gaussians)."""
    rot = viewmats[:, None, :3, :3]  # [B, 1, 3, 3]
    t = viewmats[:, None, :3, 3]  # [B, 1, 3]
    mc = (rot @ means[..., None])[..., 0] + t  # [B, N, 3]
    cc = rot @ covars @ rot.transpose(-1, -2)  # [B, N, 3, 3]

    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # [B, 1]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    tx, ty, tz = mc.unbind(-1)  # [B, N]
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_xp, lim_xn = (width - cx) / fx + 0.3 * tan_fovx, cx / fx + 0.3 * tan_fovx
    lim_yp, lim_yn = (height - cy) / fy + 0.3 * tan_fovy, cy / fy + 0.3 * tan_fovy
    txc = tz * torch.minimum(torch.maximum(tx / tz, -lim_xn), lim_xp)
    tyc = tz * torch.minimum(torch.maximum(ty / tz, -lim_yn), lim_yp)
    zero = torch.zeros_like(tz)
    jac = torch.stack(
        [fx / tz, zero, -fx * txc / tz**2, zero, fy / tz, -fy * tyc / tz**2], dim=-1
    ).reshape(tz.shape + (2, 3))  # [B, N, 2, 3]
    cov2d = jac @ cc @ jac.transpose(-1, -2)  # [B, N, 2, 2]
    a = cov2d[..., 0, 0] + eps2d
    c = cov2d[..., 1, 1] + eps2d
    b = 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0])
    det = a * c - b * b
    det_safe = det.clamp_min(1e-10)
    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)
    means2d = torch.stack([fx * tx / tz + cx, fy * ty / tz + cy], dim=-1)

    with torch.no_grad():
        op = opacities.detach()
        extend = torch.sqrt(2.0 * torch.log(op.clamp_min(ALPHA_THRESHOLD) / ALPHA_THRESHOLD))
        extend = extend.clamp(max=3.33)
        radii = torch.stack(
            [torch.ceil(extend * a.detach().sqrt()), torch.ceil(extend * c.detach().sqrt())], -1
        )
        m2 = means2d.detach()
        valid = (
            (det.detach() > 0)
            & (tz.detach() > near_plane)
            & (tz.detach() < far_plane)
            & (op >= ALPHA_THRESHOLD)
            & (radii > 0).all(-1)
            & (m2[..., 0] + radii[..., 0] > 0)
            & (m2[..., 0] - radii[..., 0] < width)
            & (m2[..., 1] + radii[..., 1] > 0)
            & (m2[..., 1] - radii[..., 1] < height)
        )
        radii = torch.where(valid[..., None], radii, torch.zeros_like(radii)).to(torch.int32)
    return {"means2d": means2d, "conics": conics, "depths": tz, "radii": radii}


@torch.no_grad()
def bin_tiles(
    means2d: Tensor,  # [B, N, 2]
    radii: Tensor,  # [B, N, 2] int
    depths: Tensor,  # [B, N]
    width: int,
    height: int,
    *,
    tile_size: int = 16,
    max_per_tile: int | None = None,
) -> tuple[Tensor, Tensor, int, int]:
    """Which Gaussians touch which tile, front to back.

    Returns (table [B * T, K] long: flat Gaussian index b * N + n, or B * N for padding;
    count [B * T] of each tile's entries; tiles_x, tiles_y). K is the largest tile's
    count, or `max_per_tile` front-most."""
    bsz, n = depths.shape
    tw, th = math.ceil(width / tile_size), math.ceil(height / tile_size)
    m = means2d.reshape(-1, 2)
    r = radii.reshape(-1, 2).to(m.dtype)
    x0 = torch.floor((m[:, 0] - r[:, 0]) / tile_size).clamp(0, tw).long()
    x1 = torch.ceil((m[:, 0] + r[:, 0]) / tile_size).clamp(0, tw).long()
    y0 = torch.floor((m[:, 1] - r[:, 1]) / tile_size).clamp(0, th).long()
    y1 = torch.ceil((m[:, 1] + r[:, 1]) / tile_size).clamp(0, th).long()
    valid = (radii.reshape(-1, 2) > 0).all(-1)
    wx, wy = (x1 - x0).clamp_min(0), (y1 - y0).clamp_min(0)
    counts = torch.where(valid, wx * wy, torch.zeros_like(wx))  # [B*N]
    total = int(counts.sum())
    n_tiles = bsz * tw * th
    if total == 0:
        table = torch.full((n_tiles, 1), bsz * n, dtype=torch.long, device=m.device)
        return table, torch.zeros(n_tiles, dtype=torch.long, device=m.device), tw, th
    gid = torch.repeat_interleave(torch.arange(bsz * n, device=m.device), counts)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(total, device=m.device) - torch.repeat_interleave(start, counts)
    w_g = wx[gid]
    tx = x0[gid] + local % w_g
    ty = y0[gid] + local // w_g
    key = (gid // n) * (tw * th) + ty * tw + tx  # [M] tile of each pair
    # sort by depth, then (stably) by tile: pairs grouped per tile, front to back
    order = torch.argsort(depths.reshape(-1)[gid], stable=True)
    order = order[torch.argsort(key[order], stable=True)]
    gid, key = gid[order], key[order]
    per_tile = torch.bincount(key, minlength=n_tiles)
    k = int(per_tile.max())
    if max_per_tile is not None:
        k = min(k, max_per_tile)
    rank = torch.arange(total, device=m.device) - (torch.cumsum(per_tile, 0) - per_tile)[key]
    keep = rank < k
    table = torch.full((n_tiles, k), bsz * n, dtype=torch.long, device=m.device)
    table[key[keep], rank[keep]] = gid[keep]
    return table, per_tile.clamp(max=k), tw, th


def _tile_pixels(bsz: int, tiles_x: int, tiles_y: int, ts: int, dev, dt) -> tuple[Tensor, Tensor]:
    """Pixel centres (x + .5, y + .5) of every tile, [B*T, P] each."""
    iy, ix = torch.meshgrid(
        torch.arange(ts, device=dev, dtype=dt), torch.arange(ts, device=dev, dtype=dt), indexing="ij"
    )
    ty, tx = torch.meshgrid(
        torch.arange(tiles_y, device=dev, dtype=dt),
        torch.arange(tiles_x, device=dev, dtype=dt),
        indexing="ij",
    )
    px = (tx.reshape(-1, 1) * ts + ix.reshape(1, -1) + 0.5).repeat(bsz, 1)
    py = (ty.reshape(-1, 1) * ts + iy.reshape(1, -1) + 0.5).repeat(bsz, 1)
    return px, py


def _composite(px: Tensor, py: Tensor, m: Tensor, q: Tensor, o: Tensor, col: Tensor
               ) -> tuple[Tensor, Tensor]:
    """Tiles' pixels px, py [bt, P]; their Gaussians, front to back: means2d m [bt, K, 2],
    conics q [bt, K, 3], opacities o [bt, K], colours col [bt, K, C]. Returns colour
    [bt, P, C] and alpha [bt, P, 1]."""
    dx = px[:, :, None] - m[:, None, :, 0]  # [bt, P, K]
    dy = py[:, :, None] - m[:, None, :, 1]
    sigma = 0.5 * (q[:, None, :, 0] * dx * dx + q[:, None, :, 2] * dy * dy) + q[
        :, None, :, 1
    ] * dx * dy
    alpha = (o[:, None, :] * torch.exp(-sigma)).clamp(max=MAX_ALPHA)
    live = (sigma >= 0) & (alpha >= ALPHA_THRESHOLD)
    alpha = torch.where(live, alpha, torch.zeros_like(alpha))
    log1m = torch.log1p(-alpha)  # ≥ log(0.001)
    with torch.no_grad():  # gsplat stops before the Gaussian that drops T to ≤ 1e-4
        keep = torch.cumsum(log1m, -1) > math.log(T_THRESHOLD)
    alpha = torch.where(keep, alpha, torch.zeros_like(alpha))
    log1m = torch.where(keep, log1m, torch.zeros_like(log1m))
    trans = torch.exp(torch.cumsum(log1m, -1) - log1m)  # exclusive transmittance
    weights = alpha * trans  # [bt, P, K]
    return weights @ col, weights.sum(-1, keepdim=True)


def composite_tiles(
    table: Tensor,  # [B*T, K] flat Gaussian index (B*N = padding)
    count: Tensor,  # [B*T] entries per tile
    means2d: Tensor,  # [B, N, 2]
    conics: Tensor,  # [B, N, 3]
    opacities: Tensor,  # [B, N]
    colors: Tensor,  # [B, N, C]
    width: int,
    height: int,
    tiles_x: int,
    tiles_y: int,
    *,
    tile_size: int = 16,
    chunk_elements: int = 1 << 21,
) -> tuple[Tensor, Tensor]:
    """Front-to-back alpha compositing per tile, in chunks of tiles whose counts are
    within 1.5× of each other (padding wastes at most a third) and whose [tiles, P, K]
    tensors hold at most `chunk_elements` values (8 MB in float32: small enough to be
    recycled by the allocator instead of page-faulted in afresh, which costs ~4× on
    CPU). Returns colors [B, H, W, C], alphas [B, H, W, 1]."""
    bsz, n, ch = colors.shape
    dev, dt = colors.device, colors.dtype

    def flat(x: Tensor, pad: float) -> Tensor:  # [B, N, ...] -> [B*N + 1, ...]
        x = x.reshape((bsz * n,) + x.shape[2:])
        return torch.cat([x, torch.full((1,) + x.shape[1:], pad, dtype=x.dtype, device=dev)])

    mf, qf, of, cf = flat(means2d, 0.0), flat(conics, 0.0), flat(opacities, 0.0), flat(colors, 0.0)
    px, py = _tile_pixels(bsz, tiles_x, tiles_y, tile_size, dev, dt)  # [BT, P]
    order = torch.argsort(count, stable=True)  # sparse tiles first
    counts = count[order].tolist()
    first = next((i for i, c in enumerate(counts) if c > 0), len(counts))
    p = px.shape[1]
    pieces = [torch.zeros(first, p, ch + 1, dtype=dt, device=dev)]  # empty tiles
    budget = max(1, chunk_elements // p)  # tiles × K per chunk
    lo = first
    while lo < len(counts):
        # tiles whose counts are within 1.5× of the chunk's first: padding wastes ≤ 1/3
        hi = lo + 1
        while (hi < len(counts) and counts[hi] <= 1.5 * counts[lo] + 1
               and (hi + 1 - lo) * counts[hi] <= budget):
            hi += 1
        tiles = order[lo:hi]
        idx = table[tiles, : counts[hi - 1]]  # [bt, k]
        img, acc = _composite(px[tiles], py[tiles], mf[idx], qf[idx], of[idx], cf[idx])
        pieces.append(torch.cat([img, acc], -1))
        lo = hi
    out = torch.cat(pieces)[torch.argsort(order)]  # back to tile order, [BT, P, C + 1]
    img, acc = out[..., :ch], out[..., ch:]
    ts = tile_size

    def untile(x: Tensor) -> Tensor:  # [B*T, P, C] -> [B, H, W, C]
        c = x.shape[-1]
        x = x.reshape(bsz, tiles_y, tiles_x, ts, ts, c).permute(0, 1, 3, 2, 4, 5)
        return x.reshape(bsz, tiles_y * ts, tiles_x * ts, c)[:, :height, :width]

    return untile(img), untile(acc)


def rasterize_torch(
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
    max_per_tile: int | None = None,
) -> tuple[Tensor, Tensor, dict]:
    """The reference rasterizer. Returns colors [B, H, W, C], alphas [B, H, W, 1], meta
    (means2d, radii, depths, tiles_per_image, max_per_tile)."""
    proj = project(
        means, covars, opacities, viewmats, Ks, width, height,
        near_plane=near_plane, far_plane=far_plane, eps2d=eps2d,
    )
    table, count, tw, th = bin_tiles(
        proj["means2d"], proj["radii"], proj["depths"], width, height,
        tile_size=tile_size, max_per_tile=max_per_tile,
    )
    img, acc = composite_tiles(
        table, count, proj["means2d"], proj["conics"], opacities, colors, width, height, tw, th,
        tile_size=tile_size,
    )
    meta = dict(proj, tiles_x=tw, tiles_y=th, max_per_tile=table.shape[1])
    return img, acc, meta
