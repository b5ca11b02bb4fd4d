"""Landmark motion: a geometric prior on how the expression moves the face's Gaussians.

The learned blendshapes (model.py) have to discover from the photometric loss alone that
a blink moves the upper lid down or a brow raise moves the brow up, and they learn it
poorly where the recording shows it rarely (one blink in 20 s) or barely (brows that
move a pixel). The tracking already holds that geometry: every frame's face landmarks
against the rigidly posed canonical face. This module fits, by ridge regression on the
training frames, how each channel moves each landmark,

    m_l(e) = Σ_k (e_k − ē_k) B_{k l}        B: [D, L, 3], reference camera space,

and moves each face Gaussian with the landmarks nearest its rest position,

    Δx_i(e) = w(d_i) Σ_j a_ij m_{ℓ_j(i)}(e),

a_ij the inverse-distance weights of its K nearest landmarks and w the gates' falloff
of the nearest distance (gates.py: exactly 0 beyond the gate radius), so background and
torso never move. It is linear in e, like the blendshapes, and is added to their
position offset; the learned offsets then fit what the landmarks do not show (teeth,
the lid's shading).

Shapes: N frames (tracking) or Gaussians, L landmarks, D channels, K neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from avatarzoo.renderers.gaussian.gates import CHUNK, GateField

NEIGHBOURS = 4


def nonrigid_motion(
    landmarks: np.ndarray,  # [N, L, 3] crop px (x, y used)
    pose: np.ndarray,  # [N, 4, 4] canonical head → camera
    K: np.ndarray,  # [3, 3]
    canonical: np.ndarray,  # [L, 3] head space
    ref_pose: np.ndarray,  # [4, 4]
) -> np.ndarray:
    """[N, L, 3] each frame's non-rigid landmark motion in the reference camera space
    (world units): the tracked landmark unprojected at the posed canonical landmark's
    depth minus that posed landmark, turned back into head space (so the head's rotation
    is not in it) and then into the reference camera space."""
    rot, trans = pose[:, :3, :3], pose[:, :3, 3]
    cam = canonical[None] @ rot.transpose(0, 2, 1) + trans[:, None]  # [N, L, 3]
    uv1 = np.concatenate([landmarks[..., :2], np.ones_like(landmarks[..., :1])], -1)
    seen = (uv1 @ np.linalg.inv(K).T) * cam[..., 2:3]  # [N, L, 3] at the posed depth
    head = (seen - cam) @ rot  # Rᵀ r per frame: [N, L, 3]
    return head @ ref_pose[:3, :3].T


def motion_basis(
    expression: np.ndarray,  # [N, D]
    landmarks: np.ndarray,  # [N, L, 3] crop px (x, y used)
    pose: np.ndarray,  # [N, 4, 4] canonical head → camera
    K: np.ndarray,  # [3, 3]
    canonical: np.ndarray,  # [L, 3] head space
    ref_pose: np.ndarray,  # [4, 4]
    used: np.ndarray,  # [D] bool: channels the renderer takes
    ridge: float = 1e-2,
    moving: np.ndarray | None = None,  # [D] bool: channels whose motion is kept; None: used
) -> tuple[np.ndarray, np.ndarray]:
    """(B [D, L, 3], ē [D]): each used channel's landmark motion (`nonrigid_motion`)
    regressed on the codes of all used channels, then kept for the `moving` ones only
    (a partial effect each: a mouth channel's share of the lips is not handed to a
    correlated brow channel); the others' rows are 0."""
    ref = nonrigid_motion(landmarks, pose, K, canonical, ref_pose)
    y = ref.reshape(len(ref), -1)
    y = y - y.mean(0)
    x = expression[:, used].astype(np.float64)
    center = np.zeros(expression.shape[1])
    center[used] = x.mean(0)
    x = x - x.mean(0)
    a = x.T @ x + ridge * len(x) * np.eye(x.shape[1]) * (x.var(0).mean() + 1e-8)
    coef = np.linalg.solve(a, x.T @ y)  # [D_used, L * 3]
    basis = np.zeros((expression.shape[1], landmarks.shape[1], 3))
    basis[used] = coef.reshape(-1, landmarks.shape[1], 3)
    if moving is not None:
        basis[~np.asarray(moving, bool)] = 0
    return basis.astype(np.float32), center.astype(np.float32)


@dataclass(frozen=True)
class MotionAnchors:
    """Which landmarks move a point, and how much: the gate field's landmarks and
    falloff (gates.py), K nearest landmarks blended by inverse distance."""

    field: GateField
    k: int = NEIGHBOURS

    @torch.no_grad()
    def __call__(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """(index [N, K] long, weight [N, K]) of points [N, 3]; the weights sum to the
        falloff of the nearest distance (0 beyond the gate radius)."""
        lm = self.field.landmarks.to(points.device, points.dtype)
        k = min(self.k, len(lm))
        index = torch.empty(len(points), k, dtype=torch.long, device=points.device)
        weight = torch.empty(len(points), k, dtype=points.dtype, device=points.device)
        for c in range(0, len(points), CHUNK):
            d, idx = torch.cdist(points[c:c + CHUNK], lm).topk(k, dim=1, largest=False)  # ascending
            inv = 1 / d.clamp_min(1e-3 * self.field.radius)
            weight[c:c + CHUNK] = inv / inv.sum(1, keepdim=True) * self.field.falloff(d[:, :1])
            index[c:c + CHUNK] = idx
        return index, weight


def landmark_offsets(expression: Tensor, basis: Tensor, center: Tensor, index: Tensor,
                     weight: Tensor) -> Tensor:
    """Δx [B, N, 3] of expression [B, D] through basis [D, L, 3], center [D], each
    Gaussian's index [N, K] and weight [N, K]."""
    d, n_lm, _ = basis.shape
    motion = ((expression - center) @ basis.reshape(d, -1)).reshape(len(expression), n_lm, 3)
    return (motion[:, index] * weight[None, :, :, None]).sum(2)  # [B, N, K, 3] → [B, N, 3]


__all__ = ["MotionAnchors", "NEIGHBOURS", "landmark_offsets", "motion_basis", "nonrigid_motion"]
