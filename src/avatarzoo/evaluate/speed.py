"""Render speed: frames per second at batch 1, deformation included.

A measurement, so: inputs placed on the device before timing, warm-up calls untimed,
every timed call bracketed by a device sync (CUDA launches are asynchronous), a new
expression each call (no cached result), and the median reported (robust to the odd
scheduler hiccup on a shared machine).

Shapes: T frames of driving signals, D expression channels, B body points.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _sync(device: str) -> Callable[[], None]:
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def time_calls(
    fn: Callable[[int], Any], *, sync: Callable[[], None], warmup: int, repeats: int, max_seconds: float
) -> np.ndarray:
    """Seconds of each timed call `fn(i)` (i = call number), float64 [n], 3 <= n <= repeats.

    Up to `warmup` untimed calls first (at least 2: the first may compile kernels; fewer
    once a fifth of `max_seconds` is spent, so a slow CPU render doesn't warm up for
    minutes); timing stops after `repeats` calls or once `max_seconds` have passed
    (but never before 3 calls)."""
    start = time.perf_counter()
    i = 0
    while i < warmup and (i < 2 or time.perf_counter() - start < max_seconds / 5):
        fn(i)
        sync()
        i += 1
    warmup = i
    times: list[float] = []
    start = time.perf_counter()
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(warmup + i)
        sync()  # note: a device sync point, so the call's own work is inside the bracket
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 and time.perf_counter() - start > max_seconds:
            break
    return np.asarray(times)


def render_speed(
    renderer: Any,
    expression: Any,
    pose: Any,
    body: Any,
    *,
    device: str,
    warmup: int = 10,
    repeats: int = 200,
    max_seconds: float = 10.0,
) -> dict[str, float]:
    """Time `renderer.render_float` and `renderer.render` at batch 1.

    Args:
        renderer: has `render_float(e, p, b)` and `render(e, p, b)` (see GaussianRenderer).
        expression: [T, D] tensor on `device`; call i renders frame i mod T.
        pose: [T, 4, 4] tensor on `device`.
        body: [T, B, 2] tensor on `device`.
    Returns:
        {"median_ms", "p90_ms", "calls", "fps", "median_ms_uint8", "fps_uint8"}.
    """
    t = int(expression.shape[0])
    if t == 0 or pose.shape[0] != t or body.shape[0] != t:
        raise ValueError(
            f"render_speed: expected T > 0 frames in expression, pose, body;"
            f" got {tuple(expression.shape)}, {tuple(pose.shape)}, {tuple(body.shape)}"
        )
    import torch

    sync = _sync(device)

    def frame(i: int) -> tuple[Any, Any, Any]:
        j = i % t
        return expression[j : j + 1], pose[j : j + 1], body[j : j + 1]

    with torch.inference_mode():
        dev = time_calls(lambda i: renderer.render_float(*frame(i)), sync=sync,
                         warmup=warmup, repeats=repeats, max_seconds=max_seconds)
        host = time_calls(lambda i: renderer.render(*frame(i)), sync=sync,
                          warmup=max(1, warmup // 2), repeats=repeats, max_seconds=max_seconds / 2)
    med, med_u8 = float(np.median(dev)), float(np.median(host))
    return {
        "median_ms": med * 1e3,
        "p90_ms": float(np.percentile(dev, 90)) * 1e3,
        "calls": int(dev.size),
        "fps": 1.0 / med,
        "median_ms_uint8": med_u8 * 1e3,
        "fps_uint8": 1.0 / med_u8,
    }
