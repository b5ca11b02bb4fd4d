"""`fit()`: train a `SpeechToFace` net on aligned pairs (one recording, or several for
a person-independent prior).

Each step draws `batch_size` windows of `window_s` seconds from the recordings
(a pure function of (seed, step), so that a resumed run sees the same windows), runs the
net over each window and scores every output, the first ones too: they see the zero
padding a stream starts from (measured on the demo's held-out 4 s: a net scored only
after its receptive field got the mouth's first 0.7 s of a fresh stream wrong, 0.29
correlation against 0.41 from 0.7 s on). Loss: mean
squared error of the standardised targets, weighted per channel, plus the same on
their 40 ms differences (motion, not just level: a net that lags or smears the mouth
pays twice). AdamW, cosine decay, gradient clipping. The validation pairs (the last
frames of the training span) pick the best step and then calibrate each channel's
amplitude: a regression to the mean mumbles, so outputs are scaled around their mean
until their spread on the validation frames matches the targets' (clamped to 1–2.5).

Resume state (weights, optimizer, step, best) is written atomically into `scratch`.

Shapes: B windows, W frames per window, F features, D outputs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avatarzoo.drivers.data import Pairs
from avatarzoo.drivers.model import SpeechToFace
from avatarzoo.threads import cpu_threads

GAIN_RANGE = (1.0, 2.5)
DIFF = 4  # frames between the differences of the motion term (40 ms)


@dataclass(frozen=True)
class FitSettings:
    steps: int
    batch_size: int
    window: int  # W frames
    lr: float
    seed: int
    checkpoint_every: int = 0
    motion_weight: float = 0.5
    eval_every: int = 100
    augment: bool = True
    warmup: int = 0  # outputs of each window left unscored (0: all, as a stream starts)


def _windows(pairs: Sequence[Pairs], window: int, batch: int, step: int, seed: int,
             warmup: int) -> list[tuple[int, int]]:
    """(recording, start) of the windows of `step`: starts drawn where the scored part
    has targets, recordings in proportion to their weighted frames."""
    g = np.random.default_rng([seed, step])
    sizes = np.array([float(p.weight.sum()) for p in pairs])
    out = []
    for _ in range(batch):
        r = int(g.choice(len(pairs), p=sizes / sizes.sum()))
        p = pairs[r]
        good = np.flatnonzero(p.weight > 0)
        lo = max(0, good[0] - warmup)
        hi = max(lo + 1, min(len(p) - window, good[-1] - warmup) + 1)
        out.append((r, int(g.integers(lo, hi))))
    return out


def _batch(pairs: Sequence[Pairs], picks: list[tuple[int, int]], window: int,
           masks: np.random.Generator | None = None, fill: np.ndarray | None = None):
    """features [B, W, F], targets [B, W, D], weight [B, W] (zero-padded past the end).
    With `masks`, SpecAugment-style: two time spans (up to 80 ms) and one band of
    feature dims (up to 1/8 of them) per window are set to `fill` (the features' mean),
    so that the net cannot lean on one frame or one band of 15 s of speech."""
    f = np.zeros((len(picks), window, pairs[0].features.shape[1]), np.float32)
    y = np.zeros((len(picks), window, pairs[0].targets.shape[1]), np.float32)
    w = np.zeros((len(picks), window), np.float32)
    for b, (r, s) in enumerate(picks):
        p = pairs[r]
        n = min(window, len(p) - s)
        f[b, :n], y[b, :n], w[b, :n] = p.features[s:s + n], p.targets[s:s + n], p.weight[s:s + n]
        if masks is not None:
            dims = f.shape[2]
            for _ in range(2):
                t = int(masks.integers(0, window))
                f[b, t:t + int(masks.integers(1, 9))] = fill
            band = int(masks.integers(1, max(2, dims // 8)))
            d = int(masks.integers(0, max(1, dims - band)))
            f[b, :, d:d + band] = fill[d:d + band]
    return torch.from_numpy(f), torch.from_numpy(y), torch.from_numpy(w)


def loss_fn(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, net: SpeechToFace,
            channel_weight: torch.Tensor, warmup: int, motion_weight: float) -> torch.Tensor:
    """Weighted MSE of standardised outputs after `warmup` frames, + the motion term."""
    z = (pred - target) / net.out_std  # [B, W, D]
    w = weight[:, warmup:, None] * channel_weight  # [B, W', D]
    level = (z[:, warmup:] ** 2 * w).sum() / w.sum().clamp_min(1)
    w_ = weight[:, warmup:]
    zz = z[:, warmup:]
    dz = zz[:, DIFF:] - zz[:, :-DIFF]
    dw = (w_[:, DIFF:] * w_[:, :-DIFF])[:, :, None] * channel_weight
    motion = (dz ** 2 * dw).sum() / dw.sum().clamp_min(1)
    return level + motion_weight * motion


@cpu_threads()
def predict(net: SpeechToFace, features: np.ndarray, *, chunk: int = 3000) -> np.ndarray:
    """Net outputs [J, D] over a whole utterance's features [J, F] (offline, no grad),
    in overlapping chunks so that memory stays bounded on hour-long inputs."""
    rf = net.shape.receptive_field
    out = np.empty((len(features), net.shape.outputs), np.float32)
    net.eval()
    with torch.no_grad():
        for a in range(0, len(features), chunk):
            s = max(0, a - rf)
            x = torch.from_numpy(np.ascontiguousarray(features[s:a + chunk], np.float32))[None]
            out[a:a + chunk] = net(x)[0, a - s:].numpy()
    return out


def calibrate(net: SpeechToFace, val: Pairs, channels: np.ndarray) -> np.ndarray:
    """Per-channel gains [D]: std(target) / std(prediction) on the validation frames,
    clamped to GAIN_RANGE, for `channels`; 1 elsewhere."""
    gain = np.ones(net.shape.outputs, np.float32)
    m = val.weight > 0
    if m.sum() < 20:
        return gain
    pred = predict(net, val.features)[m]
    y = val.targets[m]
    for c in channels:
        sp = pred[:, c].std()
        if sp > 1e-6:
            gain[c] = float(np.clip(y[:, c].std() / sp, *GAIN_RANGE))
    return gain


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


@cpu_threads()  # the driver trains on the CPU: one thread (threads.py says why)
def fit(net: SpeechToFace, train: Sequence[Pairs], val: Sequence[Pairs], settings: FitSettings, *,
        channel_weight: np.ndarray, scratch: Path | None = None, progress: Callable = lambda it, **kw: it,
        log: Callable[[str], None] = print, params: Sequence[torch.nn.Parameter] | None = None) -> dict:
    """Train `net` in place; returns summary numbers. `params` (default: all) are the
    ones optimised (a prior's adaptation may freeze some)."""
    torch.manual_seed(settings.seed)
    cw = torch.as_tensor(channel_weight, dtype=torch.float32)
    warmup = min(settings.warmup, settings.window // 2)
    params = list(params if params is not None else net.parameters())
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=1e-4)
    ckpt = scratch / "driver_ckpt.pt" if scratch is not None else None
    step, best, best_state, history = 0, math.inf, None, []
    if ckpt is not None and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        step, best = int(state["step"]), float(state["best"])
        best_state = state.get("best_state")
        log(f"resumed from {ckpt} at step {step}")

    def val_loss() -> float:
        if not any(v.weight.sum() > 0 for v in val):
            return math.nan
        net.eval()
        total, count = 0.0, 0.0
        with torch.no_grad():
            for v in val:
                f, y, w = (torch.from_numpy(a)[None] for a in (v.features, v.targets, v.weight))
                total += float(loss_fn(net(f), y, w, net, cw, warmup, settings.motion_weight)) * float(v.weight.sum())
                count += float(v.weight.sum())
        net.train()
        return total / max(count, 1)

    fill = net.in_mean.numpy().astype(np.float32)
    t0 = time.perf_counter()
    start = step
    net.train()
    for step in progress(range(start, settings.steps), total=settings.steps - start,
                         desc="fit audio driver", unit="step"):
        lr = settings.lr * 0.5 * (1 + math.cos(math.pi * step / settings.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        picks = _windows(train, settings.window, settings.batch_size, step, settings.seed, warmup)
        masks = np.random.default_rng([settings.seed, step, 1]) if settings.augment else None
        f, y, w = _batch(train, picks, settings.window, masks, fill)
        loss = loss_fn(net(f), y, w, net, cw, warmup, settings.motion_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        history.append(float(loss.detach()))
        if (step + 1) % settings.eval_every == 0 or step + 1 == settings.steps:
            v = val_loss()
            if not math.isnan(v) and v < best:
                best, best_state = v, {k: t.detach().clone() for k, t in net.state_dict().items()}
            log(f"step {step + 1}/{settings.steps} train {np.mean(history[-50:]):.4f} val {v:.4f}")
        if ckpt is not None and settings.checkpoint_every and (step + 1) % settings.checkpoint_every == 0:
            _save(ckpt, {"net": net.state_dict(), "opt": opt.state_dict(), "step": step + 1, "best": best,
                         "best_state": best_state})
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    wall = time.perf_counter() - t0
    return {"steps": settings.steps, "wall_s": wall, "final_train_loss": float(np.mean(history[-50:])) if history else None,
            "best_val_loss": None if math.isinf(best) else best}
