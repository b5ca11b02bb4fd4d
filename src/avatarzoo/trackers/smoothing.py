"""Temporal smoothing of tracked signals: the One-Euro filter, run forward and backward.

One-Euro (Casiez, Roussel, Vogel, CHI 2012) is a low-pass filter whose cutoff rises
with the signal's speed: `cutoff = min_cutoff + beta * |dx/dt|`, so landmarks at rest
lose their jitter while fast motion (a blink: the lids cross the eye in ~2 frames)
passes with little attenuation. Offline we know the whole sequence, so the filter runs
forward and backward and the two are averaged: the lag of each direction cancels
(zero phase), the blink's minimum stays in place.

Units matter for `beta`: the tracker feeds landmarks on a scale where the subject's
outer eye corners are 300 units apart (mediapipe.SMOOTHING_UNITS), which makes the
recipe's defaults (min_cutoff 1.5 Hz, beta 0.3) independent of crop size and framing.
Shapes: N samples, then any trailing shape (...).
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, rate: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau * rate)


def one_euro(x: np.ndarray, *, fps: float, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> np.ndarray:
    """Causal One-Euro filter of `x` float [N, ...] sampled at `fps`; same shape.

    Each element of the trailing shape is filtered independently (its own speed).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] == 0:
        return x.copy()
    y = np.empty_like(x)
    y[0] = x[0]
    dx_hat = np.zeros_like(x[0])
    a_d = _alpha(d_cutoff, fps)
    for i in range(1, x.shape[0]):
        dx = (x[i] - y[i - 1]) * fps
        dx_hat = a_d * dx + (1.0 - a_d) * dx_hat
        a = _alpha(min_cutoff + beta * np.abs(dx_hat), fps)
        y[i] = a * x[i] + (1.0 - a) * y[i - 1]
    return y


def one_euro_zero_phase(x: np.ndarray, *, fps: float, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> np.ndarray:
    """Mean of the One-Euro filter run forward and backward over `x` [N, ...]: no lag."""
    kw = dict(fps=fps, min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
    forward = one_euro(x, **kw)
    backward = one_euro(np.asarray(x)[::-1], **kw)[::-1]
    return 0.5 * (forward + backward)


def smooth(x: np.ndarray, config, *, fps: float) -> np.ndarray:
    """`x` [N, ...] smoothed as a recipe's smoothing config says (`one-euro` or `none`)."""
    if config is None or config.kind == "none":
        return np.asarray(x, dtype=np.float64).copy()
    if config.kind == "one-euro":
        return one_euro_zero_phase(
            x, fps=fps, min_cutoff=config.min_cutoff, beta=config.beta, d_cutoff=config.d_cutoff
        )
    raise ValueError(f"unknown smoothing kind {config.kind!r}")
