"""The transfer: a driver's codes and head motion, relative to the driver's own neutral,
onto the avatar's own neutral and range.

Expression, per channel c (ν median, lo/hi the RANGE_PERCENTILES, of each side; x the
driver's code):

    up_p = hi_p − ν_p,  down_p = ν_p − lo_p                (p = avatar a, driver d)
    g⁺ = clip(up_a / up_d, 1/G, G),  g⁻ = clip(down_a / down_d, 1/G, G)
    y = ν_a + g⁺ (x − ν_d)  where x ≥ ν_d,   ν_a + g⁻ (x − ν_d)  where x < ν_d
    y ← clip(y, min_a, max_a)                              (what the avatar saw; counted)

so the driver's neutral face lands on the avatar's (a permanent smile is not the
avatar's neutral), each side of the driver's range on the same side of the avatar's
(a driver whose brows move little still raises the avatar's brows as far as the avatar
raised them; signs kept: the gains are positive), and G (MAX_GAIN) bounds how far a
driver's jitter on a channel it never moves can be amplified. `scale="region"` uses one
g⁺ and one g⁻ per facial region (sums of the region's spreads), keeping the balance of
the driver's channels within the region (left vs right brow).

Channels that are a per-subject basis (PER_SUBJECT: face-64's `residual` PCA, fitted
on each person's own frames, so channel i of one person is not channel i of another)
are not transferred: they are completed from the avatar's transferred named channels by
the avatar's own regression (`residual_coef`: what its residual did when its named
channels did that), then clamped. FLAME's and BFM's bases are global: they transfer as
any other channel.

Head: with R̄, t̄ the rigid mean poses of each side,

    ΔR = R_d R̄_dᵀ (camera frame, as rotation vector r),  Δt = t_d − t̄_d
    r, Δt ← clip to the avatar's extremes widened by `pose_margin` × their range (counted)
    R_a = exp(r) R̄_a,  t_a = t̄_a + Δt

Head-frame units are cm with the outer eye corners 9 cm apart for every subject
(trackers/headpose.py), so Δt is already scaled by face size. Body (`body="head"`): the
avatar's body follows its head as it did in training, b = b̄ + [r, Δt] · body_coef;
`body="driver"` plays the driver's own torso motion scaled by face size (eye-corner
distance f in px of each side's frames), b = b̄ + (f_a / f_d) (b_d − b̄_d);
`body="neutral"` holds it at b̄.

Shapes: N frames, D channels, Bp body points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from avatarzoo.drive.stats import AvatarStats, DriverStats
from avatarzoo.errors import SpaceError

#: Spaces whose channels in these regions are a per-subject basis (not comparable
#: between people): they are completed from the named channels instead of transferred.
PER_SUBJECT: dict[str, tuple[str, ...]] = {"face-64": ("residual",)}
#: Largest (and 1 / smallest) gain from a driver's range to the avatar's.
MAX_GAIN = 3.0
#: Pose clamp: the avatar's extremes widened by this fraction of their range per side.
POSE_MARGIN = 0.25
#: A channel moved by more than this by the clamp counts as clamped.
CLAMP_EPS = 1e-6

Scale = Literal["channel", "region"]
BodyMode = Literal["head", "driver", "neutral"]


@dataclass(frozen=True)
class Clamped:
    """How many of `total` frames were clamped to what the avatar saw: any channel or
    the head (`frames`), the expression (`expression`), the head (`head`), and the
    expression per region (`regions`, only regions with clamped frames)."""

    total: int
    frames: int
    expression: int
    head: int
    regions: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """'clamped 12 of 250 frames (expression 10: mouth 8, brows 3; head 4)'."""
        parts = ", ".join(f"{r} {n}" for r, n in sorted(self.regions.items(), key=lambda kv: -kv[1]))
        return (f"clamped {self.frames} of {self.total} frames to the avatar's training range "
                f"(expression {self.expression}{': ' + parts if parts else ''}; head {self.head})")


@dataclass(frozen=True, eq=False)
class Transfer:
    """The avatar's inputs: expression float32 [N, D], pose [N, 4, 4], body [N, Bp, 2];
    the gains used (gain_up, gain_down [D]; 0 for completed channels), the clamp counts
    and which values were clamped (expression_clamped [N, D], head_clamped [N] bool)."""

    expression: np.ndarray
    pose: np.ndarray
    body: np.ndarray
    gain_up: np.ndarray
    gain_down: np.ndarray
    clamped: Clamped
    expression_clamped: np.ndarray
    head_clamped: np.ndarray

    def __len__(self) -> int:
        return int(self.expression.shape[0])


def per_subject_channels(space, driver: DriverStats | None = None) -> np.ndarray:
    """bool [D]: channels of `space` that are a per-subject basis (PER_SUBJECT), none when
    the driver shares the avatar's basis."""
    mask = np.zeros(space.dim, bool)
    if driver is not None and driver.shares_basis:
        return mask
    for region in PER_SUBJECT.get(space.name, ()):
        mask[list(space.indices(region))] = True
    return mask


def _region_groups(space) -> list[np.ndarray]:
    """Channel indices of each region; channels in no region are groups of their own."""
    groups, seen = [], set()
    for indices in space.regions.values():
        if indices:
            groups.append(np.array(indices))
            seen.update(indices)
    groups += [np.array([i]) for i in range(space.dim) if i not in seen]
    return groups


def gains(driver: DriverStats, avatar: AvatarStats, *, scale: Scale = "channel",
          max_gain: float = MAX_GAIN) -> tuple[np.ndarray, np.ndarray]:
    """(g⁺, g⁻) float64 [D]: the gains above and below the driver's neutral (module
    docstring); 0 on per-subject channels."""
    _same_space(driver, avatar)
    if max_gain < 1:
        raise ValueError(f"max_gain must be >= 1, got {max_gain}")
    if scale not in ("channel", "region"):
        raise ValueError(f"scale must be 'channel' or 'region', got {scale!r}")
    up_a, down_a = avatar.high - avatar.median, avatar.median - avatar.low
    up_d, down_d = driver.high - driver.median, driver.median - driver.low
    skip = per_subject_channels(avatar.space, driver)
    if scale == "region":
        up_a, down_a, up_d, down_d = (x.copy() for x in (up_a, down_a, up_d, down_d))
        for g in _region_groups(avatar.space):
            g = g[~skip[g]]
            if len(g):
                for x in (up_a, down_a, up_d, down_d):
                    x[g] = x[g].sum()

    def ratio(a: np.ndarray, d: np.ndarray) -> np.ndarray:
        a, d = np.maximum(a, 0.0), np.maximum(d, 0.0)
        r = np.where(d > 0, a / np.where(d > 0, d, 1.0), max_gain)
        return np.where(a > 0, np.clip(r, 1.0 / max_gain, max_gain), 0.0)

    g_up, g_down = ratio(up_a, up_d), ratio(down_a, down_d)
    g_up[skip], g_down[skip] = 0.0, 0.0
    return g_up, g_down


def _same_space(driver: DriverStats, avatar: AvatarStats) -> None:
    if driver.space.name != avatar.space.name or driver.space.dim != avatar.space.dim:
        raise SpaceError(f"the driver's statistics are in '{driver.space.name}', the avatar's in "
                         f"'{avatar.space.name}'; map the driver's codes into '{avatar.space.name}' first")


def transfer_expression(codes: np.ndarray, driver: DriverStats, avatar: AvatarStats, *,
                        scale: Scale = "channel", max_gain: float = MAX_GAIN
                        ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """(codes in the avatar's range float64 [N, D], clamped bool [N, D], (g⁺, g⁻)) of the
    driver's `codes` [N, D]."""
    x = np.asarray(codes, dtype=np.float64)
    d = avatar.space.dim
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"codes: expected [N, {d}] in '{avatar.space.name}', got {x.shape}")
    g_up, g_down = gains(driver, avatar, scale=scale, max_gain=max_gain)
    dev = x - driver.median
    y = avatar.median + np.where(dev >= 0, g_up, g_down) * dev
    skip = per_subject_channels(avatar.space, driver)
    if skip.any():
        named = ~skip
        if avatar.residual_coef is not None and avatar.residual_coef.shape == (named.sum(), skip.sum()):
            kept = np.clip(y[:, named], avatar.min[named], avatar.max[named])
            y[:, skip] = avatar.median[skip] + (kept - avatar.median[named]) @ avatar.residual_coef
        else:
            y[:, skip] = avatar.median[skip]
    out = np.clip(y, avatar.min, avatar.max)
    return out, np.abs(out - y) > CLAMP_EPS, (g_up, g_down)


def transfer_pose(pose: np.ndarray, driver: DriverStats, avatar: AvatarStats, *,
                  margin: float = POSE_MARGIN) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pose float64 [N, 4, 4], r [N, 3], Δt [N, 3], clamped bool [N]) of the driver's
    head poses [N, 4, 4] (module docstring)."""
    from avatarzoo.geometry import matrix_to_rotvec, rotvec_to_matrix

    p = np.asarray(pose, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (4, 4):
        raise ValueError(f"pose: expected [N, 4, 4], got {p.shape}")
    if margin < 0:
        raise ValueError(f"pose margin must be >= 0, got {margin}")
    n = len(p)
    r = matrix_to_rotvec(p[:, :3, :3] @ driver.pose_mean[:3, :3].T).reshape(n, 3)
    dt = p[:, :3, 3] - driver.pose_mean[:3, 3]

    def clip(x, lo, hi):
        w = margin * (hi - lo)
        return np.clip(x, lo - w, hi + w)

    rc = clip(r, avatar.rotvec_min, avatar.rotvec_max)
    tc = clip(dt, avatar.translation_min, avatar.translation_max)
    clamped = (np.abs(rc - r) > CLAMP_EPS).any(1) | (np.abs(tc - dt) > CLAMP_EPS).any(1)
    out = np.tile(np.eye(4), (n, 1, 1))
    out[:, :3, :3] = rotvec_to_matrix(rc) @ avatar.pose_mean[:3, :3]
    out[:, :3, 3] = avatar.pose_mean[:3, 3] + tc
    return out, rc, tc, clamped


def body_of(r: np.ndarray, dt: np.ndarray, avatar: AvatarStats, mode: BodyMode = "head", *,
            driver: DriverStats | None = None, driver_body: np.ndarray | None = None) -> np.ndarray:
    """Body points float64 [N, Bp, 2] for the avatar's head motion r, Δt [N, 3] (mode
    "head"), or the driver's body [N, Bp, 2] (mode "driver"; module docstring)."""
    n = len(r)
    if mode == "neutral":
        return np.broadcast_to(avatar.body_neutral, (n, *avatar.body_neutral.shape)).copy()
    if mode == "driver":
        if driver_body is None or driver is None or driver.body_mean is None or not driver.face_px:
            raise ValueError("body='driver' needs the driver's body [N, Bp, 2] and its body_mean and face_px")
        b = np.asarray(driver_body, np.float64)
        if b.shape != (n, *avatar.body_neutral.shape):
            raise ValueError(f"driver_body: expected [{n}, {', '.join(map(str, avatar.body_neutral.shape))}], "
                             f"got {b.shape}")
        return avatar.body_neutral + (avatar.face_px / driver.face_px) * (b - driver.body_mean)
    if mode != "head":
        raise ValueError(f"body must be 'head', 'driver' or 'neutral', got {mode!r}")
    head = np.concatenate([r, dt], axis=1)  # [N, 6]
    return avatar.body_neutral + (head @ avatar.body_coef.reshape(6, -1)).reshape(n, *avatar.body_neutral.shape)


def transfer(codes: np.ndarray, pose: np.ndarray, driver: DriverStats, avatar: AvatarStats, *,
             scale: Scale = "channel", body: BodyMode = "head", max_gain: float = MAX_GAIN,
             pose_margin: float = POSE_MARGIN, driver_body: np.ndarray | None = None) -> Transfer:
    """The avatar's expression, head pose and body for the driver's `codes` [N, D] and
    head `pose` [N, 4, 4] (both in the avatar's space and the tracker's head frame;
    `driver_body` [N, Bp, 2] px for body="driver")."""
    n = len(codes)
    if len(pose) != n:
        raise ValueError(f"codes have {n} frames, pose {len(pose)}")
    expr, e_clamped, (g_up, g_down) = transfer_expression(codes, driver, avatar, scale=scale,
                                                          max_gain=max_gain)
    head, r, dt, h_clamped = transfer_pose(pose, driver, avatar, margin=pose_margin)
    regions = {}
    for region, indices in avatar.space.regions.items():
        k = int(e_clamped[:, list(indices)].any(1).sum()) if indices else 0
        if k:
            regions[region] = k
    e_any = e_clamped.any(1)
    clamped = Clamped(total=n, frames=int((e_any | h_clamped).sum()), expression=int(e_any.sum()),
                      head=int(h_clamped.sum()), regions=regions)
    b = body_of(r, dt, avatar, body, driver=driver, driver_body=driver_body)
    return Transfer(expr.astype(np.float32), head.astype(np.float32), b.astype(np.float32), g_up, g_down, clamped,
                    e_clamped, h_clamped)
