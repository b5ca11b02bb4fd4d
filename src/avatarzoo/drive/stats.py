"""The two sides of a reenactment: what the avatar saw in training, and the driver's own
neutral and range.

* `AvatarStats`: read from the bundle's `tracking.*` tensors, which the package stage
  computes over the avatar's training frames (bundle/stage.py, `motion_statistics`).
* `DriverStats`: a driver's neutral (median code), range (the same percentiles) and
  mean head pose, fitted on the driver's own frames (`fit`), or the avatar taken as its
  own driver (`of_avatar`: the transfer is then the identity inside the avatar's range).

Shapes: N frames, D channels of the space, Bp body points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarzoo.errors import BundleError, InputError
from avatarzoo.spaces.space import ExpressionSpace

#: Percentiles of a range, as the package stage stores them (bundle/stage.py).
RANGE_PERCENTILES = (1.0, 99.0)

#: Bundle tensors reenactment reads (prefix `tracking.`); `residual_coef` only in spaces
#: with both named and residual channels.
AVATAR_TENSORS = (
    "expression_median", "expression_low", "expression_high", "expression_min", "expression_max",
    "pose_mean", "pose_rotvec_min", "pose_rotvec_max", "pose_translation_min", "pose_translation_max",
    "body_neutral", "body_coef", "face_size_px",
)


def _f64(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class AvatarStats:
    """The avatar's own ranges over its training frames (float64).

    median, low, high, min, max: [D] per channel (low/high: RANGE_PERCENTILES);
    pose_mean: [4, 4] rigid mean head pose; rotvec_min/max: [3] extremes of its head
    rotation relative to pose_mean (R R̄ᵀ as a rotation vector, rad); translation_min/max:
    [3] of t − t̄ (cm of the head frame); body_neutral: [Bp, 2] px; body_coef: [6, Bp, 2]
    body shift per [rotvec, Δt]; face_px: outer eye-corner distance (px); residual_coef:
    [Dn, Dr] residual channels from the named ones (or None).
    """

    space: ExpressionSpace
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    min: np.ndarray
    max: np.ndarray
    pose_mean: np.ndarray
    rotvec_min: np.ndarray
    rotvec_max: np.ndarray
    translation_min: np.ndarray
    translation_max: np.ndarray
    body_neutral: np.ndarray
    body_coef: np.ndarray
    face_px: float
    residual_coef: np.ndarray | None = None

    def __post_init__(self) -> None:
        d = self.space.dim
        for name in ("median", "low", "high", "min", "max"):
            if getattr(self, name).shape != (d,):
                raise ValueError(f"AvatarStats.{name}: expected [{d}], got {getattr(self, name).shape}")
        if self.pose_mean.shape != (4, 4):
            raise ValueError(f"AvatarStats.pose_mean: expected [4, 4], got {self.pose_mean.shape}")
        bp = self.body_neutral.shape
        if len(bp) != 2 or bp[1] != 2 or self.body_coef.shape != (6, *bp):
            raise ValueError(f"AvatarStats: body_neutral {bp} and body_coef {self.body_coef.shape} "
                             "should be [Bp, 2] and [6, Bp, 2]")

    @classmethod
    def from_bundle(cls, bundle) -> "AvatarStats":
        """From a `bundle.io.Bundle`; a bundle packaged before reenactment existed is an
        error saying to rebuild it."""
        tensors = bundle.tensors("tracking.")
        missing = [k for k in AVATAR_TENSORS if k not in tensors]
        if missing:
            raise BundleError(
                f"{bundle.id}: the bundle has no tracking.{missing[0]} (packaged by an avatarzoo older than "
                f"this reenactment); rebuild it with `avatarzoo build RECIPE` (only the package stage reruns)")
        space = ExpressionSpace.from_json(bundle.metadata["avatarzoo.space"])
        t = {k: _f64(v) for k, v in tensors.items()}
        return cls(
            space=space, median=t["expression_median"], low=t["expression_low"], high=t["expression_high"],
            min=t["expression_min"], max=t["expression_max"], pose_mean=t["pose_mean"],
            rotvec_min=t["pose_rotvec_min"], rotvec_max=t["pose_rotvec_max"],
            translation_min=t["pose_translation_min"], translation_max=t["pose_translation_max"],
            body_neutral=t["body_neutral"], body_coef=t["body_coef"], face_px=float(t["face_size_px"][0]),
            residual_coef=t.get("residual_coef"),
        )


@dataclass(frozen=True, eq=False)
class DriverStats:
    """A driver's neutral and range in one space (float64): median, low, high [D]
    (RANGE_PERCENTILES of its codes), pose_mean [4, 4] (rigid mean head pose), and for
    playing its body (`body="driver"`) body_mean [Bp, 2] and face_px (its outer
    eye-corner distance, px of its own frames), or None.
    `shares_basis`: the driver's codes are in the avatar's own per-subject basis (the
    avatar itself, tracked with its own reference), so those channels transfer too."""

    space: ExpressionSpace
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray
    pose_mean: np.ndarray
    frames: int = 0  # how many frames it was fitted on (0: taken from the avatar)
    shares_basis: bool = False
    body_mean: np.ndarray | None = None
    face_px: float | None = None

    def __post_init__(self) -> None:
        d = self.space.dim
        for name in ("median", "low", "high"):
            if getattr(self, name).shape != (d,):
                raise ValueError(f"DriverStats.{name}: expected [{d}], got {getattr(self, name).shape}")
        if self.pose_mean.shape != (4, 4):
            raise ValueError(f"DriverStats.pose_mean: expected [4, 4], got {self.pose_mean.shape}")

    @classmethod
    def fit(cls, expression: np.ndarray, pose: np.ndarray, valid: np.ndarray | None = None, *,
            space: ExpressionSpace, body: np.ndarray | None = None, landmarks: np.ndarray | None = None,
            source: str = "driver") -> "DriverStats":
        """From a driver's codes [N, D] and head poses [N, 4, 4] (and its body [N, Bp, 2]
        and face landmarks [N, 478, ≥2], px) over its frames with a face (`valid` [N];
        all when None)."""
        from avatarzoo.geometry import rigid_mean

        e, p = _f64(expression), _f64(pose)
        n = len(e)
        if e.shape != (n, space.dim) or p.shape != (n, 4, 4):
            raise ValueError(f"expression [N, {space.dim}] and pose [N, 4, 4] expected, "
                             f"got {e.shape} and {p.shape}")
        ok = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
        if ok.sum() < 2:
            raise InputError(f"{source}: a face in {int(ok.sum())} of {n} frames; the driver's neutral "
                             "needs at least 2 frames with a face")
        e, p = e[ok], p[ok]
        low, high = np.percentile(e, RANGE_PERCENTILES, axis=0)
        body_mean = None if body is None else _f64(body)[ok].mean(0)
        face_px = None
        if landmarks is not None:
            lm = _f64(landmarks)[ok]
            face_px = float(np.median(np.linalg.norm(lm[:, 263, :2] - lm[:, 33, :2], axis=-1)))
        return cls(space, np.median(e, axis=0), low, high, rigid_mean(p), frames=int(ok.sum()),
                   body_mean=body_mean, face_px=face_px)

    @classmethod
    def of_avatar(cls, avatar: AvatarStats) -> "DriverStats":
        """The avatar as its own driver: its own neutral, range and mean pose."""
        return cls(avatar.space, avatar.median.copy(), avatar.low.copy(), avatar.high.copy(),
                   avatar.pose_mean.copy(), frames=0, shares_basis=True,
                   body_mean=avatar.body_neutral.copy(), face_px=avatar.face_px)
