"""Small rigid-transform helpers shared by the tracker and the renderer (numpy).

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


__all__ = ["rigid_mean"]
