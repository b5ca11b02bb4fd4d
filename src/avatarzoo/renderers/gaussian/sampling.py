"""Which training frames a renderer step sees: uniform epochs, or rare expressions
drawn more often (`expression_balance`).

A 20 s recording blinks in ~5% of its frames and opens its mouth widest in fewer; drawn
uniformly, the fit sees a closed lid once every ~20 steps and renders blinks that do not
close (issue 14: re-tracked blink amplitude 0.59–0.77 of the truth). Rarity is measured
per face region, in the tracker's own units: ρ_i = the largest, over the space's regions
(`residual` aside: per-subject PCA, no one place on the face), of the RMS z-score of
frame i's channels in that region (z over the training frames). On the demo, blink
frames have ρ_eyes 2.7 against 0.6 for the rest. A frame's weight is
clip(ρ_i / median ρ, 1, 4) ** power: every frame keeps at least the median frame's
chance, the rarest get up to 4 ** power times it.

Shapes: N training frames, D channels.
"""

from __future__ import annotations

import numpy as np
import torch

from avatarzoo.spaces.space import ExpressionSpace

MAX_RATIO = 4.0
UNLOCALISED = ("residual",)


def rarity(expression: np.ndarray, space: ExpressionSpace) -> np.ndarray:
    """ρ [N] of the training frames' expression [N, D] (module docstring). A space
    without regions counts as one region of all its channels."""
    e = np.asarray(expression, np.float64)
    if e.ndim != 2 or e.shape[1] != space.dim:
        raise ValueError(f"rarity: expression must be [N, {space.dim}], got {e.shape}")
    z = (e - e.mean(0)) / (e.std(0) + 1e-6)
    groups = [list(ch) for r, ch in space.regions.items() if r not in UNLOCALISED and ch] or [list(range(space.dim))]
    return np.max([np.sqrt((z[:, g] ** 2).mean(1)) for g in groups], axis=0)


def balance_weights(expression: np.ndarray, space: ExpressionSpace, power: float) -> np.ndarray | None:
    """Sampling probabilities [N] (sum 1) for `power` > 0; None for 0 (uniform epochs)."""
    if power <= 0 or len(expression) == 0:
        return None
    rho = rarity(expression, space)
    w = np.clip(rho / max(float(np.median(rho)), 1e-6), 1.0, MAX_RATIO) ** power
    return w / w.sum()


def frame_batch(train_idx: np.ndarray, batch: int, step: int, seed: int,
                weights: np.ndarray | None = None) -> np.ndarray:
    """The training frames of `step`: shuffled epochs over `train_idx`, `batch` at a
    time; with `weights` [N] (balance_weights), `batch` distinct frames drawn with those
    probabilities.

    A pure function of (seed, step), so that a run resumed from a checkpoint sees the
    same frames in the same order as one that was never interrupted."""
    if weights is not None:
        if len(weights) != len(train_idx):
            raise ValueError(f"frame_batch: {len(weights)} weights for {len(train_idx)} frames")
        g = torch.Generator().manual_seed((seed * 1_000_003 + step) * 2 + 1)
        pick = torch.multinomial(torch.as_tensor(weights, dtype=torch.float64), batch,
                                 replacement=batch > len(train_idx), generator=g).numpy()
        return train_idx[pick]
    per_epoch = max(1, len(train_idx) // batch)
    epoch, i = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(len(train_idx), generator=g).numpy()
    return train_idx[perm[i * batch:(i + 1) * batch]]
