"""The PyTorch tile rasterizer against a dense per-pixel oracle written independently
(every pixel sees every Gaussian, sorted by depth, composited in a Python loop over
Gaussians). gsplat parity on the GPU: benchmarks/gpu_check.py."""

from __future__ import annotations

import math

import pytest
import torch

from avatarzoo.renderers.gaussian._torch_rasterizer import quat_scale_to_covar
from avatarzoo.renderers.gaussian.rasterize import rasterize


def _scene(b: int, n: int, size: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    means = torch.empty(b, n, 3, dtype=dtype)
    means[..., :2] = (torch.rand(b, n, 2, generator=g, dtype=dtype) - 0.5) * 1.6
    means[..., 2] = 3 + torch.rand(b, n, generator=g, dtype=dtype) * 2
    quats = torch.randn(b, n, 4, generator=g, dtype=dtype)
    scales = 0.02 + 0.12 * torch.rand(b, n, 3, generator=g, dtype=dtype)
    opac = 0.2 + 0.8 * torch.rand(b, n, generator=g, dtype=dtype)
    cols = torch.rand(b, n, 3, generator=g, dtype=dtype)
    f = size * 1.2
    K = torch.tensor([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], dtype=dtype).expand(b, 3, 3)
    view = torch.eye(4, dtype=dtype).expand(b, 4, 4).clone()
    view[:, 0, 3] = 0.05  # a non-trivial camera
    return means, quats, scales, opac, cols, view, K


def _dense_oracle(means, quats, scales, opac, cols, view, K, w, h, eps2d=0.3):
    """gsplat's per-pixel rule, written out directly (no tiles, no cumsum tricks)."""
    b, n = opac.shape
    out = torch.zeros(b, h, w, cols.shape[-1], dtype=means.dtype)
    acc = torch.zeros(b, h, w, 1, dtype=means.dtype)
    cov = quat_scale_to_covar(quats, scales)
    ar = lambda k: torch.arange(k, dtype=means.dtype) + 0.5  # noqa: E731
    ys, xs = torch.meshgrid(ar(h), ar(w), indexing="ij")
    for i in range(b):
        R, t = view[i, :3, :3], view[i, :3, 3]
        mc = means[i] @ R.T + t
        cc = R @ cov[i] @ R.T
        fx, fy, cx, cy = K[i, 0, 0], K[i, 1, 1], K[i, 0, 2], K[i, 1, 2]
        T = torch.ones(h, w, dtype=means.dtype)
        done = torch.zeros(h, w, dtype=torch.bool)
        for j in torch.argsort(mc[:, 2]).tolist():
            x, y, z = mc[j]
            limx = (w - cx) / fx + 0.3 * 0.5 * w / fx, cx / fx + 0.3 * 0.5 * w / fx
            limy = (h - cy) / fy + 0.3 * 0.5 * h / fy, cy / fy + 0.3 * 0.5 * h / fy
            xc = z * torch.clamp(x / z, -limx[1], limx[0])
            yc = z * torch.clamp(y / z, -limy[1], limy[0])
            zero = 0 * z
            J = torch.stack([fx / z, zero, -fx * xc / z**2, zero, fy / z, -fy * yc / z**2])
            J = J.reshape(2, 3)
            c2 = J @ cc[j] @ J.T + eps2d * torch.eye(2, dtype=means.dtype)
            conic = torch.linalg.inv(c2)
            u, v = fx * x / z + cx, fy * y / z + cy
            dx, dy = xs - u, ys - v
            sigma = 0.5 * (conic[0, 0] * dx**2 + conic[1, 1] * dy**2) + conic[0, 1] * dx * dy
            alpha = torch.clamp(opac[i, j] * torch.exp(-sigma), max=0.999)
            alpha = torch.where((alpha >= 1 / 255) & ~done, alpha, 0 * alpha)
            nxt = T * (1 - alpha)
            stop = nxt <= 1e-4
            done = done | stop
            alpha = torch.where(stop, 0 * alpha, alpha)
            out[i] += (alpha * T)[..., None] * cols[i, j]
            T = T * (1 - alpha)
        acc[i, ..., 0] = 1 - T
    return out, acc


@pytest.mark.parametrize("size,b,n,tile", [(40, 1, 60, None), (37, 2, 40, 4), (37, 1, 50, 16)])
def test_matches_dense_oracle(size, b, n, tile):
    """Any tile size gives the same image (binning only skips exact zeros)."""
    scene = _scene(b, n, size, seed=size + n)
    img, alpha, meta = rasterize(*scene, size, size, backend="torch", tile_size=tile)
    ref, ref_a = _dense_oracle(*scene, size, size)
    assert img.shape == (b, size, size, 3) and alpha.shape == (b, size, size, 1)
    # float64 both sides: the only differences are summation order
    assert torch.allclose(img, ref, atol=1e-9), (img - ref).abs().max()
    assert torch.allclose(alpha, ref_a, atol=1e-9)


def test_opaque_pile_stops_at_transmittance_floor():
    """Many opaque splats on one pixel: compositing must stop like gsplat (T ≤ 1e-4)."""
    scene = list(_scene(1, 30, 24, seed=3))
    scene[0][..., :2] = 0.0
    scene[3][:] = 0.99
    img, alpha, _ = rasterize(*scene, 24, 24, backend="torch")
    ref, ref_a = _dense_oracle(*scene, 24, 24)
    assert torch.allclose(img, ref, atol=1e-9) and torch.allclose(alpha, ref_a, atol=1e-9)


def test_gradients_match_oracle():
    """Backward of the tiled path equals autograd through the dense oracle."""
    scene = [x.clone().requires_grad_(i < 5) for i, x in enumerate(_scene(1, 12, 20, seed=7))]
    img, _, _ = rasterize(*scene, 20, 20, backend="torch")
    w = torch.rand(img.shape, generator=torch.Generator().manual_seed(0), dtype=img.dtype)
    g1 = torch.autograd.grad((img * w).sum(), scene[:5])
    ref, _ = _dense_oracle(*scene, 20, 20)
    g2 = torch.autograd.grad((ref * w).sum(), scene[:5])
    for a, b_ in zip(g1, g2):
        assert torch.allclose(a, b_, atol=1e-8, rtol=1e-6)


def test_max_per_tile_keeps_front_most():
    scene = _scene(1, 80, 32, seed=11)
    full, _, meta = rasterize(*scene, 32, 32, backend="torch")
    capped, _, m2 = rasterize(*scene, 32, 32, backend="torch", max_per_tile=meta["max_per_tile"])
    assert torch.equal(full, capped)
    capped, _, m3 = rasterize(*scene, 32, 32, backend="torch", max_per_tile=4)
    assert m3["max_per_tile"] == 4 and not torch.equal(full, capped)


def test_shape_errors_name_the_argument():
    means, quats, scales, opac, cols, view, K = _scene(1, 5, 16, seed=0)
    with pytest.raises(ValueError, match="opacities"):
        rasterize(means, quats, scales, opac[:, :4], cols, view, K, 16, 16)
    with pytest.raises(ValueError, match="gsplat"):
        rasterize(means, quats, scales, opac, cols, view, K, 16, 16, backend="gsplat")


def test_empty_and_behind_camera():
    means, quats, scales, opac, cols, view, K = _scene(1, 5, 16, seed=0)
    means = means.clone()
    means[..., 2] = -1.0
    img, alpha, _ = rasterize(means, quats, scales, opac, cols, view, K, 16, 16)
    assert img.abs().max() == 0 and alpha.abs().max() == 0
    assert not math.isnan(float(img.sum()))
