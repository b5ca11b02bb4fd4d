"""Re-tracked expression fidelity: does the rendered face do what the person did?

The held-out renders are tracked again and each region's channels are compared with
the ground truth: Pearson correlation (timing and shape) and amplitude ratio (std
re-tracked / std ground truth: a frozen or damped face scores low even where its few
movements correlate). PSNR alone does not see a frozen face; this does.

A channel is *measurable* on the window only when the ground truth moves there (see
`MeasurabilityRule`): a 2-s window without a blink says nothing about blinks, and its
"correlation" is tracker jitter against jitter.

Shapes: M held-out frames, N clip frames, D channels.
"""

from __future__ import annotations

import numpy as np

from avatarzoo.evaluate.report import Agreement, ChannelFidelity, MeasurabilityRule, RegionFidelity
from avatarzoo.spaces.space import ExpressionSpace

#: Facial regions scored, in report order (pose and residual carry no facial meaning).
FIDELITY_REGIONS: tuple[str, ...] = ("brows", "eyes", "gaze", "mouth", "jaw", "cheeks")

#: The channels that summarise each region, by space: what a person watches (lids
#: closing, brows going up, the mouth opening), not every shape a region can make.
HEADLINE_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "face-64": {
        "brows": ("brow_raise_left", "brow_raise_right"),
        "eyes": ("blink_left", "blink_right"),
        "gaze": ("gaze_x", "gaze_y"),
        "mouth": ("mouth_open",),
        "jaw": ("jaw_open",),
        "cheeks": ("cheek_raise_left", "cheek_raise_right"),
    },
}

#: Other spaces: name fragments (lower-case) of a region's headline channels (blink L/R,
#: brow raise, mouth/jaw opening); a region whose channels match none is summarised
#: over all of its channels.
HEADLINE_KEYS: dict[str, tuple[str, ...]] = {
    "eyes": ("blink",),
    "brows": ("raise", "up"),
    "mouth": ("open", "apart"),
    "jaw": ("open",),
}


def headline_channels(space: ExpressionSpace) -> dict[str, tuple[int, ...]]:
    """Region -> indices of its headline channels, for the regions of FIDELITY_REGIONS
    that `space` has."""
    out: dict[str, tuple[int, ...]] = {}
    named = HEADLINE_NAMES.get(space.name, {})
    for region in FIDELITY_REGIONS:
        indices = space.indices(region)  # type: ignore[arg-type]
        if not indices:
            continue
        if region in named and all(n in space.channels for n in named[region]):
            out[region] = tuple(space.channels.index(n) for n in named[region])
            continue
        keys = HEADLINE_KEYS.get(region, ())
        picked = tuple(i for i in indices if any(k in space.channels[i].lower() for k in keys))
        out[region] = picked or tuple(indices)
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two [M] series; 0.0 when either is constant."""
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


#: Window of the moving average that `corr_fast` removes: ~0.36 s keeps blinks (0.1-0.4 s)
#: and syllables (4-5 Hz) and drops head sway and slow drift (below ~1.5 Hz).
FAST_SECONDS = 0.36


def fast_frames(fps: float, seconds: float = FAST_SECONDS) -> int:
    """Odd moving-average length (>= 3 frames) of `seconds` at `fps`."""
    k = max(3, int(round(seconds * fps)))
    return k if k % 2 else k + 1


def high_pass(x: np.ndarray, frames: int) -> np.ndarray:
    """x [M] minus its centred moving average over `frames` (odd), edges padded by repetition."""
    x = np.asarray(x, np.float64)
    h = frames // 2
    padded = np.pad(x, h, mode="edge")
    return x - np.convolve(padded, np.ones(frames) / frames, mode="valid")


def agreement(gt: np.ndarray, other: np.ndarray, mask: np.ndarray, *, fast: int | None = None) -> Agreement:
    """Correlation (plain, and high-passed over `fast` frames when given) and amplitude
    ratio of `other` against `gt` over `mask` ([M] each; the high-pass runs on the whole
    series, whose missing frames the tracker has interpolated, then `mask` applies)."""
    gt, other = np.asarray(gt, np.float64), np.asarray(other, np.float64)
    g, o = gt[mask], other[mask]
    if g.size < 2:
        return Agreement(corr=0.0, amplitude=0.0, frames=int(g.size))
    sg = float(g.std())
    amp = float(o.std()) / sg if sg > 0 else 0.0
    corr_fast = None
    if fast is not None and gt.size > fast:
        corr_fast = pearson(high_pass(gt, fast)[mask], high_pass(other, fast)[mask])
    return Agreement(corr=pearson(g, o), corr_fast=corr_fast, amplitude=amp, frames=int(g.size))


def _std(x: np.ndarray, mask: np.ndarray) -> float:
    v = np.asarray(x, np.float64)[mask]
    return float(v.std()) if v.size > 1 else 0.0


def measurability(
    std_window: float, std_clip: float, frames: int, rule: MeasurabilityRule, *, floor: float | None = None
) -> tuple[bool, str]:
    """(measurable, reason) for one channel under `rule`; `floor` (default rule.min_std)
    is the absolute std floor of the channel's space (`rule.floor(space.name)`)."""
    floor = rule.min_std if floor is None else floor
    if frames < rule.min_frames:
        return False, f"only {frames} frames with a face on both sides (need {rule.min_frames})"
    if std_window < floor:
        return False, f"ground truth nearly still in the window (std {std_window:.3g} < floor {floor:g})"
    if std_window < rule.min_std_ratio * std_clip:
        return False, (
            f"ground truth barely moves in the window: std {std_window:.3g} <"
            f" {rule.min_std_ratio:g} × clip std {std_clip:.3g}"
        )
    return True, ""


def _check(name: str, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    x = np.asarray(x)
    if x.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {x.shape}")
    return x


def compare(
    space: ExpressionSpace,
    *,
    gt: np.ndarray,
    gt_valid: np.ndarray,
    clip: np.ndarray,
    clip_valid: np.ndarray,
    live: np.ndarray,
    live_valid: np.ndarray,
    frozen: np.ndarray | None = None,
    frozen_valid: np.ndarray | None = None,
    stored: np.ndarray | None = None,
    rule: MeasurabilityRule = MeasurabilityRule(),
    fast: int | None = None,
) -> list[RegionFidelity]:
    """Per-region fidelity of re-tracked renders.

    Args:
        space: the expression space of every array below.
        gt, gt_valid: [M, D], [M] bool: ground-truth expression of the held-out window.
        clip, clip_valid: [N, D], [N]: the stored tracking of the whole clip (its stds
            set the measurability bar).
        live, live_valid: [M, D], [M]: the live renders, re-tracked.
        frozen, frozen_valid: [M, D], [M]: renders with the expression frozen, re-tracked.
        stored: [M, D]: the stored tracking of the window, when `gt` is a re-tracking of
            the recording (gives each channel's tracker repeatability).
        fast: moving-average frames of `corr_fast` (see `fast_frames`); None: not computed.
    """
    m, d = np.asarray(gt).shape
    if d != space.dim:
        raise ValueError(f"gt: expected [M, {space.dim}] (space '{space.name}'), got {np.asarray(gt).shape}")
    gt_valid = _check("gt_valid", gt_valid, (m,)).astype(bool)
    clip = np.asarray(clip)
    if clip.ndim != 2 or clip.shape[1] != d:
        raise ValueError(f"clip: expected [N, {d}], got {clip.shape}")
    clip_valid = _check("clip_valid", clip_valid, (clip.shape[0],)).astype(bool)
    live = _check("live", live, (m, d))
    live_valid = _check("live_valid", live_valid, (m,)).astype(bool)
    if frozen is not None:
        frozen = _check("frozen", frozen, (m, d))
        frozen_valid = _check("frozen_valid", frozen_valid, (m,)).astype(bool)
    if stored is not None:
        stored = _check("stored", stored, (m, d))

    both = gt_valid & live_valid
    floor = rule.floor(space.name)
    regions: list[RegionFidelity] = []
    for region, head in headline_channels(space).items():
        channels: list[ChannelFidelity] = []
        for i in space.indices(region):  # type: ignore[arg-type]
            sw, sc = _std(gt[:, i], gt_valid), _std(clip[:, i], clip_valid)
            ok, reason = measurability(sw, sc, int(both.sum()), rule, floor=floor)
            channels.append(
                ChannelFidelity(
                    name=space.channels[i],
                    index=i,
                    gt_std_window=sw,
                    gt_std_clip=sc,
                    measurable=ok,
                    reason=reason,
                    live=agreement(gt[:, i], live[:, i], both, fast=fast),
                    frozen=None
                    if frozen is None
                    else agreement(gt[:, i], frozen[:, i], gt_valid & frozen_valid, fast=fast),
                    repeatability=None
                    if stored is None
                    else agreement(stored[:, i], gt[:, i], gt_valid, fast=fast),
                )
            )
        by_index = {c.index: c for c in channels}
        headline = [by_index[i] for i in head]
        scored = [c for c in headline if c.measurable]
        sw = float(np.mean([c.gt_std_window for c in headline]))
        sc = float(np.mean([c.gt_std_clip for c in headline]))

        def mean_of(which: str) -> Agreement | None:
            parts = [getattr(c, which) for c in scored]
            if not parts or any(p is None for p in parts):
                return None
            fasts = [p.corr_fast for p in parts]
            return Agreement(
                corr=float(np.mean([p.corr for p in parts])),
                corr_fast=None if any(f is None for f in fasts) else float(np.mean(fasts)),
                amplitude=float(np.mean([p.amplitude for p in parts])),
                frames=min(p.frames for p in parts),
            )

        reason = ""
        if not scored:  # one message in the region's own (mean) numbers where they say it
            ok, reason = measurability(sw, sc, int(both.sum()), rule, floor=floor)
            if ok:
                reason = "; ".join(f"{c.name}: {c.reason}" for c in headline)
        regions.append(
            RegionFidelity(
                region=region,
                headline=[c.name for c in headline],
                measurable=bool(scored),
                reason=reason,
                gt_std_window=sw,
                gt_std_clip=sc,
                live=mean_of("live"),
                frozen=mean_of("frozen"),
                channels=channels,
            )
        )
    return regions


def _rotations(pose: np.ndarray) -> np.ndarray:
    """[K, 3, 3] rotation blocks of poses [K, 4, 4], each divided by its scale (a block
    may carry one: a similarity transform)."""
    r = np.asarray(pose, np.float64)[:, :3, :3]
    return r / np.cbrt(np.abs(np.linalg.det(r)))[:, None, None]


def _angle_deg(trace: np.ndarray) -> np.ndarray:
    """Rotation angle (degrees) from trace(R_a R_bᵀ): arccos((trace - 1) / 2)."""
    return np.degrees(np.arccos(np.clip((trace - 1) / 2, -1.0, 1.0)))


def rotation_error_deg(pose_a: np.ndarray, pose_b: np.ndarray) -> np.ndarray:
    """Angle between the rotations of two pose sequences, degrees [M] (poses [M, 4, 4])."""
    if np.shape(pose_a) != np.shape(pose_b):
        raise ValueError(f"pose_b: expected shape {np.shape(pose_a)}, got {np.shape(pose_b)}")
    return _angle_deg(np.einsum("mij,mij->m", _rotations(pose_a), _rotations(pose_b)))


def rotation_angles_deg(pose_a: np.ndarray, pose_b: np.ndarray) -> np.ndarray:
    """[M, N] angle (degrees) between every rotation of pose_a [M, 4, 4] and every one of
    pose_b [N, 4, 4]."""
    return _angle_deg(np.einsum("mij,nij->mn", _rotations(pose_a), _rotations(pose_b)))


def landmark_error_px(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean 2D distance between corresponding landmarks, px [M] (landmarks [M, L, 2|3])."""
    a, b = np.asarray(a, np.float64)[..., :2], np.asarray(b, np.float64)[..., :2]
    if a.shape != b.shape:
        raise ValueError(f"landmarks: shapes differ, {a.shape} vs {b.shape}")
    return np.linalg.norm(a - b, axis=-1).mean(axis=-1)
