"""Small rigid-transform helpers shared by the tracker, the renderer and the driver (numpy).

Shapes: N transforms."""

from __future__ import annotations

import numpy as np


def rigid_mean(poses: np.ndarray) -> np.ndarray:
    """float64 [4, 4]: the mean of rigid transforms [N, 4, 4] — the mean translation
    and the rotation nearest (Frobenius) to the mean rotation matrix."""
    poses = np.asarray(poses, dtype=np.float64)
    u, _, vt = np.linalg.svd(poses[:, :3, :3].mean(0))
    out = np.eye(4)
    out[:3, :3] = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    out[:3, 3] = poses[:, :3, 3].mean(0)
    return out


def rotvec_to_matrix(rv: np.ndarray) -> np.ndarray:
    """Rotation vectors [N, 3] (axis × angle, radians) -> rotation matrices [N, 3, 3]
    (Rodrigues)."""
    rv = np.asarray(rv, dtype=np.float64).reshape(-1, 3)
    theta = np.linalg.norm(rv, axis=1)[:, None, None]  # [N, 1, 1]
    k = rv / np.maximum(theta[:, :, 0], 1e-12)
    kx = np.zeros((len(rv), 3, 3))
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx = kx - kx.transpose(0, 2, 1)
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * (kx @ kx)


def matrix_to_rotvec(r: np.ndarray) -> np.ndarray:
    """Rotation matrices [N, 3, 3] -> rotation vectors [N, 3] (angles below π)."""
    r = np.asarray(r, dtype=np.float64).reshape(-1, 3, 3)
    cos = np.clip((np.trace(r, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    theta = np.arccos(cos)  # [N]
    w = np.stack([r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]], axis=1)
    scale = np.where(theta > 1e-8, theta / (2 * np.sin(np.maximum(theta, 1e-8))), 0.5)
    return w * scale[:, None]


__all__ = ["matrix_to_rotvec", "rigid_mean", "rotvec_to_matrix"]
