"""How new is the held-out window to the renderer? Its head poses and expression codes
against the training frames'.

A held-out score says how the avatar does on *that* window. A window whose head turns
where the training frames rarely went, or whose codes sit far from theirs, is a harder
test than the poses and expressions the avatar is driven with. On Reagan's clip the last
fifth faces ~8° the other way: only 8% of the training frames are in its yaw range
(52–73% on the other clips), and its mean jaw code is ~1 training std off. The report
prints both next to the scores, so that a low number can be read.

Shapes: M held-out frames, N training frames, D channels.
"""

from __future__ import annotations

import numpy as np

from avatarzoo.evaluate.fidelity import FIDELITY_REGIONS, rotation_angles_deg
from avatarzoo.evaluate.report import Coverage
from avatarzoo.spaces.space import ExpressionSpace


def pose_novelty_deg(pose: np.ndarray, valid: np.ndarray, holdout_start: int) -> np.ndarray:
    """[M] each held-out frame's angle (degrees) to the nearest tracked training frame's
    head rotation; NaN where the held-out frame is untracked or no training frame is.
    pose [N + M, 4, 4] and valid [N + M] cover the whole clip."""
    valid = np.asarray(valid, bool)
    train = np.flatnonzero(valid[:holdout_start])
    out = np.full(len(valid) - holdout_start, np.nan)
    held = np.flatnonzero(valid[holdout_start:])
    if len(train) and len(held):
        out[held] = rotation_angles_deg(pose[holdout_start + held], pose[train]).min(1)
    return out


def coverage(
    space: ExpressionSpace,
    *,
    pose: np.ndarray,  # [N + M, 4, 4], the whole clip
    expression: np.ndarray,  # [N + M, D]
    valid: np.ndarray,  # [N + M] bool
    holdout_start: int,
) -> Coverage | None:
    """The held-out window's distance from the training frames (module docstring); None
    when either side has no tracked frame."""
    valid = np.asarray(valid, bool)
    train = np.flatnonzero(valid[:holdout_start])
    held = holdout_start + np.flatnonzero(valid[holdout_start:])
    if len(train) < 2 or len(held) == 0:
        return None
    nearest = pose_novelty_deg(pose, valid, holdout_start)[held - holdout_start]  # [M]
    e = np.asarray(expression, np.float64)
    mu, sd = e[train].mean(0), e[train].std(0) + 1e-6
    shift = np.abs(e[held].mean(0) - mu) / sd  # [D], in training stds
    regions = {r: float(shift[list(space.indices(r))].mean()) for r in FIDELITY_REGIONS if space.indices(r)}
    return Coverage(
        nearest_pose_deg_median=float(np.median(nearest)),
        nearest_pose_deg_p90=float(np.percentile(nearest, 90)),
        expression_shift=regions,
    )
