"""Pose-normalised landmarks -> the `face-64` expression code (spaces/builtin.py).

Input shapes are MediaPipe face meshes aligned onto the subject's canonical face
(head frame, cm: x towards the subject's left, y down, z into the head; see
headpose.py), so rigid head motion is gone and distances are in one scale.

Semantic channels are ratios of facial distances (subject-scale invariant), measured
against the outer eye-corner distance E (or, for the eyes, the eye's own width):
`code = (raw - neutral) / scale`, with `neutral` the subject's median and `scale` a
nominal full-action range per channel (blink: the median lid gap, so 0 = open as usual,
1 = closed). Residual channels: PCA of the aligned meshes, per-subject basis, unit
variance on the fitted frames.

Head rotation leaks into some channels: MediaPipe's mesh is regressed from the image
and its depth is weak, so on the Obama clip jaw_open (nose tip to chin) followed head
pitch (correlation -0.65), mouth_open -0.39, and the brows followed roll (0.3-0.5);
back-projecting the 2D landmarks through the PnP pose only brought jaw_open to -0.45,
because the pitch itself is ill-determined (it scales with the depth assumed). So for
the `POSE_DECOUPLED` channels the part linearly explained by the head angles (pitch,
yaw, roll from the pose, minus their median) is fitted on the training frames and
subtracted (`pose_coef`, `pose_ref`, stored with the basis so that re-tracking with
`reference=` removes exactly the same part).

Shapes: N frames, L = 478 landmarks, C = 33 semantic channels, R = 31 residual
channels, P = 3 L flattened mesh, A = 3 head angles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarzoo.spaces.builtin import N_RESIDUAL, N_SEMANTIC, SEMANTIC_NAMES
from avatarzoo.trackers.headpose import EYE_CORNER_CM

# MediaPipe face-mesh indices; "right"/"left" are the subject's.
EYE = {
    "right": dict(outer=33, inner=133, upper=[160, 159, 158], lower=[144, 145, 153], iris=468),
    "left": dict(outer=263, inner=362, upper=[387, 386, 385], lower=[373, 374, 380], iris=473),
}
BROW = {
    "right": dict(all=[70, 63, 105, 66, 107, 46, 53, 52, 65, 55], inner=[107, 66, 55, 65], outer=[70, 63, 46, 53]),
    "left": dict(all=[300, 293, 334, 296, 336, 276, 283, 282, 295, 285], inner=[336, 296, 285, 295], outer=[300, 293, 276, 283]),
}
INNER_BROW_LOW = {"right": 55, "left": 285}
MOUTH_CORNER = {"right": 61, "left": 291}
UPPER_LIP_OUT, LOWER_LIP_OUT, UPPER_LIP_IN, LOWER_LIP_IN = 0, 17, 13, 14
SUBNASALE, NOSE_TIP, NOSE_BRIDGE, CHIN = 2, 1, 168, 152
CHEEK_LOW = {"right": [205, 187], "left": [425, 411]}
CHEEK_APPLE = {"right": [50, 101], "left": [280, 330]}
NOSE_WING = {"right": [49, 129], "left": [279, 358]}

# Nominal full-action range of each raw ratio (in E or eye widths); blink's comes from data.
# Set so that a talking subject (the Obama clip) spans about -1..1 where the face
# moves a lot (mouth, jaw) and less where it moves little (his brows: +-0.2).
_SCALE = {
    "brow_raise": 0.05, "brow_inner_raise": 0.05, "brow_outer_raise": 0.05, "brow_furrow": 0.04,
    "blink": 1.0, "squint": 0.08, "gaze_x": 0.1, "gaze_y": 0.1,
    "mouth_open": 0.2, "mouth_width": 0.15, "mouth_corner_up": 0.05, "mouth_stretch": 0.08,
    "mouth_pucker": 0.05, "upper_lip_raise": 0.05, "lower_lip_depress": 0.1, "lip_press": 0.1,
    "mouth_shift": 0.05, "jaw_open": 0.15, "jaw_sideways": 0.05, "jaw_forward": 0.08,
    "cheek_puff": 0.04, "cheek_raise": 0.03, "nose_sneer": 0.03,
}


POSE_DECOUPLED = (
    "brow_raise_left", "brow_raise_right", "brow_inner_raise_left", "brow_inner_raise_right",
    "brow_outer_raise_left", "brow_outer_raise_right", "brow_furrow", "mouth_open", "jaw_open",
)
# Ridge of the pose fit, in degrees² per frame: a clip whose head hardly turns (angle std
# well under 0.5°) gets coefficients shrunk towards 0 instead of fitted to noise.
POSE_RIDGE_DEG2 = 0.25


def _scale_of(name: str) -> float:
    for suffix in ("_left", "_right"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return _SCALE[name]


def semantic_raw(shapes: np.ndarray) -> np.ndarray:
    """Raw semantic measures float64 [N, C] of aligned meshes [N, L, 3], in the order of
    `SEMANTIC_NAMES` (blink as minus the lid gap / eye width)."""
    p = np.asarray(shapes, dtype=np.float64)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    e = EYE_CORNER_CM
    mid_x = x[:, NOSE_BRIDGE]
    out: dict[str, np.ndarray] = {}

    def mean(a: np.ndarray, idx) -> np.ndarray:
        return a[:, idx].mean(axis=1) if isinstance(idx, list) else a[:, idx]

    eye_y, eye_w, gap = {}, {}, {}
    for side, k in EYE.items():
        eye_y[side] = 0.5 * (y[:, k["outer"]] + y[:, k["inner"]])
        eye_w[side] = np.linalg.norm(p[:, k["outer"]] - p[:, k["inner"]], axis=-1)
        gap[side] = np.linalg.norm(p[:, k["upper"]] - p[:, k["lower"]], axis=-1).mean(axis=1) / eye_w[side]
    for side in ("left", "right"):
        b = BROW[side]
        out[f"brow_raise_{side}"] = (eye_y[side] - mean(y, b["all"])) / e
        out[f"brow_inner_raise_{side}"] = (eye_y[side] - mean(y, b["inner"])) / e
        out[f"brow_outer_raise_{side}"] = (eye_y[side] - mean(y, b["outer"])) / e
    out["brow_furrow"] = -np.abs(x[:, INNER_BROW_LOW["left"]] - x[:, INNER_BROW_LOW["right"]]) / e
    for side, k in EYE.items():
        out[f"blink_{side}"] = -gap[side]
        out[f"squint_{side}"] = (eye_y[side] - mean(y, k["lower"])) / eye_w[side]
    gx, gy = [], []
    for side, k in EYE.items():
        centre = 0.5 * (p[:, k["outer"]] + p[:, k["inner"]])
        iris = p[:, k["iris"]]
        gx.append((iris[:, 0] - centre[:, 0]) / eye_w[side])
        gy.append((iris[:, 1] - centre[:, 1]) / eye_w[side])
    out["gaze_x"] = 0.5 * (gx[0] + gx[1])
    out["gaze_y"] = 0.5 * (gy[0] + gy[1])
    lips_y = 0.5 * (y[:, UPPER_LIP_IN] + y[:, LOWER_LIP_IN])
    cl, cr = MOUTH_CORNER["left"], MOUTH_CORNER["right"]
    out["mouth_open"] = np.linalg.norm(p[:, UPPER_LIP_IN] - p[:, LOWER_LIP_IN], axis=-1) / e
    out["mouth_width"] = np.linalg.norm(p[:, cl] - p[:, cr], axis=-1) / e
    out["mouth_corner_up_left"] = (lips_y - y[:, cl]) / e
    out["mouth_corner_up_right"] = (lips_y - y[:, cr]) / e
    out["mouth_stretch_left"] = (x[:, cl] - mid_x) / e
    out["mouth_stretch_right"] = (mid_x - x[:, cr]) / e
    lips_z = z[:, [UPPER_LIP_OUT, LOWER_LIP_OUT, UPPER_LIP_IN, LOWER_LIP_IN]].mean(axis=1)
    out["mouth_pucker"] = (0.5 * (z[:, cl] + z[:, cr]) - lips_z) / e
    out["upper_lip_raise"] = -(y[:, UPPER_LIP_OUT] - y[:, SUBNASALE]) / e
    out["lower_lip_depress"] = -(y[:, CHIN] - y[:, LOWER_LIP_OUT]) / e
    out["lip_press"] = -((y[:, UPPER_LIP_IN] - y[:, UPPER_LIP_OUT]) + (y[:, LOWER_LIP_OUT] - y[:, LOWER_LIP_IN])) / e
    out["mouth_shift"] = (0.5 * (x[:, cl] + x[:, cr]) - mid_x) / e
    out["jaw_open"] = np.linalg.norm(p[:, CHIN] - p[:, NOSE_TIP], axis=-1) / e  # distance: rotation-proof
    out["jaw_sideways"] = (x[:, CHIN] - mid_x) / e
    out["jaw_forward"] = -(z[:, CHIN] - z[:, NOSE_BRIDGE]) / e
    for side in ("left", "right"):
        sign = 1.0 if side == "left" else -1.0
        out[f"cheek_puff_{side}"] = sign * (mean(x, CHEEK_LOW[side]) - mid_x) / e
        out[f"cheek_raise_{side}"] = (eye_y[side] - mean(y, CHEEK_APPLE[side])) / e
        out[f"nose_sneer_{side}"] = (eye_y[side] - mean(y, NOSE_WING[side])) / e
    return np.stack([out[name] for name in SEMANTIC_NAMES], axis=1)


@dataclass(frozen=True)
class ExpressionBasis:
    """What makes codes of one subject comparable across clips (stored in `Tracking.extras`).

    neutral, scale: float32 [C]; residual_mean: float32 [P]; residual_basis: float32
    [R, P] orthonormal rows; residual_scale: float32 [R] std of each component;
    pose_ref: float32 [A] median head angles (degrees) of the fitted frames; pose_coef:
    float32 [C, A] raw units per degree removed from each channel (0 except
    POSE_DECOUPLED). Trackings written before pose_* existed read as no correction.
    """

    neutral: np.ndarray
    scale: np.ndarray
    residual_mean: np.ndarray
    residual_basis: np.ndarray
    residual_scale: np.ndarray
    pose_ref: np.ndarray
    pose_coef: np.ndarray

    KEYS = ("channel_neutral", "channel_scale", "residual_mean", "residual_basis", "residual_scale",
            "pose_ref", "pose_coef")
    OPTIONAL = ("pose_ref", "pose_coef")

    def to_extras(self) -> dict[str, np.ndarray]:
        values = (self.neutral, self.scale, self.residual_mean, self.residual_basis, self.residual_scale,
                  self.pose_ref, self.pose_coef)
        return {k: np.asarray(v, dtype=np.float32) for k, v in zip(self.KEYS, values)}

    @classmethod
    def from_extras(cls, extras: dict[str, np.ndarray]) -> "ExpressionBasis":
        missing = [k for k in cls.KEYS if k not in extras and k not in cls.OPTIONAL]
        if missing:
            raise KeyError(", ".join(missing))
        defaults = {"pose_ref": np.zeros(3), "pose_coef": np.zeros((len(extras["channel_neutral"]), 3))}
        return cls(*(np.asarray(extras[k] if k in extras else defaults[k], dtype=np.float64) for k in cls.KEYS))

    def pose_part(self, angles: np.ndarray | None, n: int) -> np.ndarray:
        """float64 [N, C] raw channel values explained by head angles [N, A] (0 if None)."""
        if angles is None:
            return np.zeros((n, len(self.neutral)))
        angles = np.asarray(angles, dtype=np.float64)
        if angles.shape != (n, 3):
            raise ValueError(f"angles must be [N, 3] = [{n}, 3] degrees, got {angles.shape}")
        return (angles - self.pose_ref) @ self.pose_coef.T


def fit_pose_coupling(raw: np.ndarray, angles: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(pose_ref [A], pose_coef [C, A]): ridge fit of the POSE_DECOUPLED channels of
    `raw` [F, C] on the head angles [F, A] (degrees) around their median."""
    ref = np.zeros(3)
    coef = np.zeros((raw.shape[1], 3))
    if angles is None or len(raw) < 2:
        return ref, coef
    angles = np.asarray(angles, dtype=np.float64)
    if angles.shape != (len(raw), 3):
        raise ValueError(f"angles must be [F, 3] = [{len(raw)}, 3] degrees, got {angles.shape}")
    ref = np.median(angles, axis=0)
    x = angles - ref
    x = x - x.mean(axis=0)
    cols = [SEMANTIC_NAMES.index(n) for n in POSE_DECOUPLED]
    y = raw[:, cols] - raw[:, cols].mean(axis=0)
    gram = x.T @ x + POSE_RIDGE_DEG2 * len(x) * np.eye(3)
    coef[cols] = np.linalg.solve(gram, x.T @ y).T
    return ref, coef


def fit_basis(shapes: np.ndarray, *, angles: np.ndarray | None = None, max_frames: int = 1000) -> ExpressionBasis:
    """Per-subject neutral, scales, head-pose coupling and residual PCA from aligned
    meshes [F, L, 3] and their head angles [F, A] (degrees; None: no pose correction)."""
    raw = semantic_raw(shapes)
    pose_ref, pose_coef = fit_pose_coupling(raw, angles)
    if angles is not None:
        raw = raw - (np.asarray(angles, dtype=np.float64) - pose_ref) @ pose_coef.T
    neutral = np.median(raw, axis=0)
    scale = np.array([_scale_of(n) for n in SEMANTIC_NAMES])
    for side in ("left", "right"):
        i = SEMANTIC_NAMES.index(f"blink_{side}")
        scale[i] = max(-neutral[i], 1e-3)  # the median lid gap: blink 1 = gap 0
    pick = np.unique(np.linspace(0, len(shapes) - 1, min(len(shapes), max_frames)).round().astype(int))
    flat = shapes[pick].reshape(len(pick), -1)
    mean = flat.mean(axis=0)
    _, sig, vt = np.linalg.svd(flat - mean, full_matrices=False)
    r = min(N_RESIDUAL, vt.shape[0])
    basis = np.zeros((N_RESIDUAL, flat.shape[1]))
    basis[:r] = vt[:r]
    std = np.ones(N_RESIDUAL)
    std[:r] = np.maximum(sig[:r] / np.sqrt(max(len(pick) - 1, 1)), 1e-6)
    return ExpressionBasis(neutral, scale, mean, basis, std, pose_ref, pose_coef)


def encode(shapes: np.ndarray, basis: ExpressionBasis, angles: np.ndarray | None = None) -> np.ndarray:
    """The face-64 code float32 [N, 64] of aligned meshes [N, L, 3] seen at head angles
    [N, A] (degrees, `head_angles`; None: no pose correction)."""
    semantic = (semantic_raw(shapes) - basis.pose_part(angles, len(shapes)) - basis.neutral) / basis.scale
    flat = shapes.reshape(len(shapes), -1) - basis.residual_mean
    residual = flat @ basis.residual_basis.T / basis.residual_scale
    code = np.concatenate([semantic, residual], axis=1).astype(np.float32)
    return code
