"""Initial Gaussians from the subject's tracked face and the person mask (not random),
and the measurements on the tracking that the model needs: the reference motions, which
facial landmarks each channel group moves, and per-frame region boxes for the loss.

Shapes: N frames (tracking) or Gaussians (init), L = 478 landmarks, D channels,
R channel groups, Bp body points, S side in pixels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from avatarzoo.renderers.gaussian.gates import GateField
from avatarzoo.spaces.space import ExpressionSpace

# MediaPipe face-mesh topology (the tracking contract's 478 landmarks)
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
EYE_A = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246,
         46, 53, 52, 65, 55, 70, 63, 105, 66, 107, 468, 469, 470, 471, 472)
EYE_B = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466,
         276, 283, 282, 295, 285, 300, 293, 334, 296, 336, 473, 474, 475, 476, 477)
SKIPPED_REGIONS = ("pose",)  # head pose is an explicit input, never a deformation
CHUNK = 16384  # Gaussians per block of the [block, L] distance computations


SIDES = ("left", "right")


def channel_side(name: str) -> str | None:
    """'left' / 'right' for a channel named for one side (brow_raise_left, browDownRight),
    else None (brow_furrow, browInnerUp, gaze_x)."""
    low = name.lower()
    return next((side for side in SIDES if low.endswith(side)), None)


def channel_groups(space: ExpressionSpace, skip: tuple[str, ...] = (),
                   sided: tuple[str, ...] = ()) -> tuple[list[str], np.ndarray]:
    """Groups of channels that deform together: the space's facial regions (without
    'pose' and the regions in `skip`) plus 'other' for channels in no region. A region in
    `sided` is split by the side its channels name: `REGION_left` and `REGION_right`
    hold the one-sided channels, `REGION` the rest (if any), so that each side's
    channels get their own gate. Returns (names [R], group of each channel [D], -1 =
    unused)."""
    group = np.full(space.dim, -1, dtype=np.int64)
    names: list[str] = []
    for region, idx in space.regions.items():
        if region in SKIPPED_REGIONS or region in skip or not idx:
            continue
        parts: dict[str, list[int]] = {}
        for i in idx:
            side = channel_side(space.channels[i]) if region in sided else None
            parts.setdefault(f"{region}_{side}" if side else region, []).append(i)
        for name in sorted(parts, key=lambda n: (n != region, n)):
            names.append(name)
            group[parts[name]] = len(names) - 1
    in_region = np.zeros(space.dim, bool)
    for idx in space.regions.values():
        in_region[list(idx)] = True
    if (~in_region).any():
        names.append("other")
        group[~in_region] = len(names) - 1
    return names, group


def project(points: np.ndarray, pose: np.ndarray, K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Head-space points [L, 3] through poses [N, 4, 4] and K → pixels [N, L, 2], depth [N, L]."""
    cam = points @ pose[:, :3, :3].transpose(0, 2, 1) + pose[:, None, :3, 3]
    uv = cam @ K.T
    return uv[..., :2] / uv[..., 2:3], cam[..., 2]


def group_affinity(
    expression: np.ndarray,  # [N, D]
    landmarks: np.ndarray,  # [N, L, 3] crop px
    pose: np.ndarray,  # [N, 4, 4]
    K: np.ndarray,  # [3, 3]
    canonical: np.ndarray,  # [L, 3]
    group: np.ndarray,  # [D]
    n_groups: int,
    ridge: float = 1e-2,
) -> np.ndarray:
    """[L, R] in [0, 1]: how much of each landmark's non-rigid motion (tracked position
    minus the rigidly posed canonical landmark) a ridge regression on group r's channels
    explains (R²), normalised per group to a maximum of 1. Measured on the training
    frames, so each region's channels drive only the part of the face they move."""
    uv, _ = project(canonical, pose, K)
    disp = landmarks[..., :2] - uv  # [N, L, 2]
    disp = disp - disp.mean(0)
    y = disp.reshape(len(disp), -1)  # [N, 2L]
    sst = (y**2).sum(0).reshape(-1, 2).sum(1) + 1e-8  # [L]
    aff = np.zeros((landmarks.shape[1], n_groups))
    for r in range(n_groups):
        x = expression[:, group == r]
        if x.shape[1] == 0:
            continue
        x = x - x.mean(0)
        a = x.T @ x + ridge * len(x) * np.eye(x.shape[1]) * (x.var(0).mean() + 1e-8)
        coef = np.linalg.solve(a, x.T @ y)
        res = y - x @ coef
        r2 = 1 - (res**2).sum(0).reshape(-1, 2).sum(1) / sst
        # weight by how much the landmark moves at all, so still points don't score high
        motion = np.sqrt(sst / len(y))
        score = np.clip(r2, 0, 1) * motion
        aff[:, r] = score / max(score.max(), 1e-8)
    return aff


def region_boxes(landmarks: np.ndarray, scale: float) -> np.ndarray:
    """[N, 3, 4] boxes (x0, y0, x1, y1) at the training resolution for mouth and the two
    eyes-with-brows, from the tracked landmarks [N, L, 3] in crop px times `scale`."""
    out = []
    for idx, grow in ((LIPS, 0.35), (EYE_A, 0.25), (EYE_B, 0.25)):
        p = landmarks[:, list(idx), :2] * scale
        lo, hi = p.min(1), p.max(1)
        pad = (hi - lo) * grow
        out.append(np.concatenate([lo - pad, hi + pad], -1))
    return np.stack(out, 1).astype(np.float32)


def reference_body(body: np.ndarray, names: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Which body points drive the torso (those named like 'shoulder', else all) and
    their mean position. Returns (index [M], mean [M, 2])."""
    b = body.shape[1]
    idx = [i for i, n in enumerate(names or []) if "shoulder" in n.lower()]
    if not idx:
        idx = list(range(b))
    return np.asarray(idx, np.int64), body[:, idx].mean(0)


def initial_gaussians(
    mean_frame: np.ndarray,  # [S, S, 3] float in [0, 1]
    mask: np.ndarray,  # [S, S] float in [0, 1] person mask (median over training frames)
    K: np.ndarray,  # [3, 3] at S
    ref_pose: np.ndarray,  # [4, 4]
    canonical: np.ndarray,  # [L, 3]
    affinity: np.ndarray,  # [L, R]
    n: int,
    *,
    feature_dim: int = 16,
    seed: int = 0,
    gate_radius: float = 0.36,
) -> tuple[dict[str, Tensor], dict[str, float]]:
    """Place `n` Gaussians on the person: face pixels (inside the projected face
    landmarks' hull) at twice the density of the rest, each unprojected at a depth
    interpolated from the nearest face landmarks (face), behind the nearest landmark
    (hair, ears: above the chin) or at the torso depth (below), coloured from the mean
    frame, isotropic at the sample spacing, blend weights head→torso across a neck band,
    region gates from the nearest landmark's affinity and its distance (gates.py; 0 beyond
    `gate_radius` × the face width).

    Returns the per-Gaussian tensors (PER_GAUSSIAN + gates of model.py) and scalars
    {'torso_depth', 'unit'}."""
    import cv2

    rng = np.random.default_rng(seed)
    s = mean_frame.shape[0]
    uv, z = project(canonical, ref_pose[None], K)
    uv, z = uv[0], z[0]  # [L, 2], [L]
    unit = float(np.ptp(canonical[:, 0]))  # face width in world units
    hull = cv2.convexHull(uv.astype(np.float32))
    face = np.zeros((s, s), np.uint8)
    cv2.fillConvexPoly(face, np.round(hull[:, 0]).astype(np.int32), 1)
    person = (mask > 0.5) | (face > 0)
    n_face, n_rest = int(face.sum()), int((person & (face == 0)).sum())
    step = float(np.sqrt((4 * n_face + n_rest) / max(n, 1)))
    pts, steps = [], []
    for region, st in ((face > 0, step / 2), (person & (face == 0), step)):
        st = max(st, 0.5)
        g = np.arange(st / 2, s, st)
        xx, yy = np.meshgrid(g, g)
        xy = np.stack([xx.ravel(), yy.ravel()], -1)
        xy = xy + rng.uniform(-st / 3, st / 3, xy.shape)
        xy = np.clip(xy, 0, s - 1e-3)
        keep = region[xy[:, 1].astype(int), xy[:, 0].astype(int)]
        pts.append(xy[keep])
        steps.append(np.full(keep.sum(), st))
    xy, spacing = np.concatenate(pts), np.concatenate(steps)
    if len(xy) > n:
        pick = rng.choice(len(xy), n, replace=False)
        xy, spacing = xy[pick], spacing[pick]
    in_face = face[xy[:, 1].astype(int), xy[:, 0].astype(int)] > 0

    # depth: inverse-distance weights of the 4 nearest projected landmarks
    z_face = np.empty(len(xy))
    for c in range(0, len(xy), CHUNK):  # [chunk, L] at a time: bounded memory
        d2 = ((xy[c : c + CHUNK, None] - uv[None]) ** 2).sum(-1)
        near = np.argpartition(d2, 4, axis=1)[:, :4]
        w = 1.0 / (np.take_along_axis(d2, near, 1) + 1.0)
        z_face[c : c + CHUNK] = (z[near] * w).sum(1) / w.sum(1)
    face_h = float(np.ptp(uv[:, 1]))
    chin = float(uv[:, 1].max())
    torso_depth = float(z.mean() + 0.5 * unit)
    head = in_face | (xy[:, 1] < chin)
    depth = np.where(in_face, z_face, np.where(head, z_face + 0.25 * unit, torso_depth))
    # neck band: head weight falls from 1 at the chin to 0 half a face below it
    w_head = np.clip(1.0 - (xy[:, 1] - chin) / (0.5 * face_h), 0.0, 1.0)
    w_head = np.where(in_face, 1.0, w_head)
    depth = np.where(~in_face & ~head, w_head * (z_face + 0.25 * unit) + (1 - w_head) * torso_depth,
                     depth)

    kinv = np.linalg.inv(K)
    h = np.concatenate([xy, np.ones((len(xy), 1))], -1)
    cam = depth[:, None] * (h @ kinv.T)  # reference camera space
    f = float(K[0, 0])
    sigma = 0.6 * spacing * depth / f

    col = mean_frame[np.clip(xy[:, 1].astype(int), 0, s - 1), np.clip(xy[:, 0].astype(int), 0, s - 1)]

    # region gates: affinity of the nearest landmark (3D, reference space) × a falloff that
    # is exactly 0 beyond gate_radius (gates.py; training recomputes them as Gaussians move)
    field = GateField.from_face(canonical, ref_pose, affinity, unit=unit, radius=gate_radius)
    gates = field(torch.as_tensor(cam, dtype=torch.float32)).numpy()

    m = len(xy)
    wt = np.clip(w_head, 1e-3, 1 - 1e-3)
    logit = np.log(wt / (1 - wt)) / 2
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    c = np.clip(col, 0.02, 0.98)
    out = {
        "means": t(cam),
        "quats": t(np.tile([1.0, 0, 0, 0], (m, 1))),
        "log_scales": t(np.log(np.repeat(sigma[:, None], 3, 1))),
        "opacity_logits": t(np.full(m, np.log(0.8 / 0.2))),
        "color_logits": t(np.log(c / (1 - c))),
        "blend_logits": t(np.stack([logit, -logit], -1)),
        "features": t(rng.normal(0, 1.0, (m, feature_dim))),
        "gates": t(gates),
    }
    return out, {"torso_depth": torso_depth, "unit": unit}
