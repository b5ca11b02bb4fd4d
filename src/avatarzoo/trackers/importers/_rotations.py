"""Rotation conventions of the imported formats, converted to matrices; and rigid poses.

All functions are batched over a leading N and return float64.

* `adnerf_euler_to_matrix`: AD-NeRF's `euler2rot` (data_util/face_tracking/
  geo_transform.py, copied unchanged into GaussianTalker). Its matrices are built column
  by column (`torch.cat(..., 1)` then `torch.cat(..., 2)`), which yields
  `R = Rx(theta) @ Ry(phi) @ Rz(-psi)` in the usual right-handed notation below.
* `yaw_pitch_roll_to_matrix`: `Ry(yaw) @ Rx(pitch) @ Rz(roll)`.
"""

from __future__ import annotations

import numpy as np

# OpenGL-style camera (x right, y up, z backwards) -> OpenCV camera (x right, y down,
# z forwards): flip y and z. Used by AD-NeRF (its `proj_geo` divides by -Z) and ARKit.
GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def rot_x(a: np.ndarray) -> np.ndarray:
    """[N] radians -> [N, 3, 3], right-handed rotation about x."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], -1).reshape(-1, 3, 3)


def rot_y(a: np.ndarray) -> np.ndarray:
    """[N] radians -> [N, 3, 3], right-handed rotation about y."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(-1, 3, 3)


def rot_z(a: np.ndarray) -> np.ndarray:
    """[N] radians -> [N, 3, 3], right-handed rotation about z."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], -1).reshape(-1, 3, 3)


def adnerf_euler_to_matrix(euler: np.ndarray) -> np.ndarray:
    """AD-NeRF `euler` [N, 3] = (theta, phi, psi) radians -> [N, 3, 3]."""
    theta, phi, psi = euler[:, 0], euler[:, 1], euler[:, 2]
    return rot_x(theta) @ rot_y(phi) @ rot_z(-psi)


def yaw_pitch_roll_to_matrix(ypr: np.ndarray) -> np.ndarray:
    """[N, 3] = (yaw about y, pitch about x, roll about z) radians -> [N, 3, 3]."""
    return rot_y(ypr[:, 0]) @ rot_x(ypr[:, 1]) @ rot_z(ypr[:, 2])


def rigid(rotation: np.ndarray, translation: np.ndarray | None = None) -> np.ndarray:
    """[N, 3, 3] and [N, 3] (zeros when None) -> homogeneous [N, 4, 4]."""
    pose = np.zeros((len(rotation), 4, 4))
    pose[:, :3, :3] = rotation
    if translation is not None:
        pose[:, :3, 3] = translation
    pose[:, 3, 3] = 1.0
    return pose
