"""Image metrics in PyTorch: PSNR and SSIM, differentiable (SSIM doubles as a loss).

Shapes: B batch, H height, W width, C channels; images are float in [0, 1], [B, C, H, W].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(name: str, x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name}: expected [B, C, H, W], got shape {tuple(x.shape)}")


def psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """PSNR in dB per image, [B]. `mask` [B, 1, H, W] in {0, 1} restricts the mean."""
    _check("pred", pred)
    _check("target", target)
    err = (pred - target).square()
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        m = mask.expand_as(err)
        mse = (err * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1)
    return -10.0 * torch.log10(mse.clamp_min(1e-10))


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return g.view(1, 1, 1, size).expand(channels, 1, 1, size)  # [C, 1, 1, k], depthwise


def ssim_map(
    pred: torch.Tensor, target: torch.Tensor, *, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Per-pixel SSIM (Wang et al. 2004; 11×11 Gaussian window, σ 1.5, K1 .01, K2 .03),
    [B, C, H', W'] with H' = H - window + 1 ('valid' filtering, as scikit-image's default
    with gaussian_weights=True, so borders are not padded)."""
    _check("pred", pred)
    _check("target", target)
    c = pred.shape[1]
    g = _gaussian_window(window, sigma, c, pred)

    def blur(x: torch.Tensor) -> torch.Tensor:  # separable depthwise Gaussian
        x = F.conv2d(x, g, groups=c)
        return F.conv2d(x, g.transpose(2, 3), groups=c)

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(pred), blur(target)
    sxx = blur(pred * pred) - mu_x**2
    syy = blur(target * target) - mu_y**2
    sxy = blur(pred * target) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image, [B]."""
    return ssim_map(pred, target).flatten(1).mean(1)
