"""Rigid head pose against a canonical face fitted to the subject, with one static camera.

* Observed shapes: MediaPipe face-mesh landmarks as 3D points (x, y in crop pixels, z
  MediaPipe's relative depth in the same pixel scale) — a weak-perspective 3D face.
* Canonical face: generalized Procrustes over the subject's frames (similarity-align
  every frame to the running mean on the rigid points, 3 rounds), then put in the head
  frame: origin at the centroid of the rigid points, x from the subject's right to left
  outer eye corner, y from forehead (10) towards chin (152) made orthogonal to x, z = x × y
  (into the head), units cm with the outer eye corners 9.0 cm apart (adult average).
* Camera: one pinhole for the whole clip, focal `2 * S` px (S = the frame's longer
  side; a 28° field of view across the crop: a head-and-shoulders crop of a webcam or
  phone frame), principal point at the centre, no distortion.
* Pose per frame: PnP (OpenCV, iterative, started from the Procrustes similarity) of
  the canonical rigid points onto the 2D landmarks, so projecting the canonical face
  through `pose` and `K` lands on the tracked landmarks.

Rigid points: forehead, nose bridge, eye corners, temples and upper cheeks of the mesh;
no lid, brow, lip or jaw point, so expressions don't leak into the pose.
Shapes: N frames, L = 478 landmarks, M rigid points.
"""

from __future__ import annotations

import numpy as np

RIGID = np.array([
    10, 109, 67, 103, 338, 297, 332, 151, 9, 8, 108, 337, 69, 299,  # forehead
    168, 6, 197, 195, 5, 4,  # nose bridge and ridge
    33, 133, 263, 362,  # eye corners
    127, 356, 234, 454, 162, 389, 21, 251,  # temples, face sides at the eyes
    116, 345, 117, 346, 118, 347, 111, 340, 143, 372, 123, 352,  # upper cheeks
])
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
FOREHEAD, CHIN = 10, 152
EYE_CORNER_CM = 9.0  # outer eye-corner distance of the canonical face
FOCAL_PER_SIDE = 2.0


def default_K(width: int, height: int) -> np.ndarray:
    """float64 [3, 3] pinhole: focal 2 * max(W, H) px, centre of the frame."""
    f = FOCAL_PER_SIDE * max(width, height)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def similarity_align(shapes: np.ndarray, target: np.ndarray, idx: np.ndarray = RIGID) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama) taking each of `shapes` [N, L, 3] onto `target`
    [L, 3] on the points `idx`.

    Returns (aligned [N, L, 3], scale [N], rotation [N, 3, 3], translation [N, 3]) with
    `aligned = scale * shapes @ R^T + t`. No reflections.
    """
    src = shapes[:, idx]  # [N, M, 3]
    dst = target[idx]  # [M, 3]
    mu_s = src.mean(axis=1, keepdims=True)
    mu_d = dst.mean(axis=0)
    a = src - mu_s
    b = dst - mu_d
    cov = np.einsum("mi,nmj->nij", b, a) / len(idx)  # [N, 3, 3]
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(shapes), 3))
    fix[:, 2] = d
    rot = u @ (fix[:, :, None] * vt)
    var = (a**2).sum(axis=(1, 2)) / len(idx)
    scale = (sig * fix).sum(axis=1) / var
    trans = mu_d - scale[:, None] * np.einsum("nij,nj->ni", rot, mu_s[:, 0])
    aligned = scale[:, None, None] * np.einsum("nij,nlj->nli", rot, shapes) + trans[:, None]
    return aligned, scale, rot, trans


def fit_canonical(shapes: np.ndarray, *, rounds: int = 3) -> np.ndarray:
    """The subject's canonical face float64 [L, 3] (head frame, cm) from observed shapes
    [N, L, 3] (generalized Procrustes on the rigid points, then the head frame)."""
    ref = shapes[len(shapes) // 2]
    for _ in range(rounds):
        aligned, *_ = similarity_align(shapes, ref)
        ref = aligned.mean(axis=0)
    return to_head_frame(ref)


def to_head_frame(shape: np.ndarray) -> np.ndarray:
    """`shape` [L, 3] moved into the head frame described in the module docstring."""
    x = shape[LEFT_EYE_OUTER] - shape[RIGHT_EYE_OUTER]
    scale = EYE_CORNER_CM / np.linalg.norm(x)
    x = x / np.linalg.norm(x)
    down = shape[CHIN] - shape[FOREHEAD]
    y = down - (down @ x) * x
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    rot = np.stack([x, y, z])  # rows: head axes in observed coords
    centred = shape - shape[RIGID].mean(axis=0)
    return scale * centred @ rot.T


def solve_poses(landmarks: np.ndarray, canonical: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Head pose float64 [N, 4, 4] (head coords -> camera) of each frame's landmarks
    [N, L, 3] (pixels; z used only for the starting guess), by PnP on the rigid points."""
    import cv2

    n = landmarks.shape[0]
    f = K[0, 0]
    c = K[:2, 2]
    obj = np.ascontiguousarray(canonical[RIGID], dtype=np.float64)
    # Start: similarity from canonical (cm) to each observed shape (px): R, s -> depth f / s.
    _, s_obs, r_obs, t_obs = similarity_align(landmarks.astype(np.float64), canonical)
    poses = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        r0 = r_obs[i].T  # canonical -> observed rotation
        s = 1.0 / s_obs[i]  # px per cm
        centre_px = landmarks[i, RIGID, :2].mean(axis=0)
        tz = f / s
        t0 = np.array([*(centre_px - c) * tz / f, tz])
        t0 -= r0 @ canonical[RIGID].mean(axis=0)
        rvec0, _ = cv2.Rodrigues(r0)
        ok, rvec, tvec = cv2.solvePnP(
            obj, np.ascontiguousarray(landmarks[i, RIGID, :2], dtype=np.float64), K.astype(np.float64), None,
            rvec=rvec0.copy(), tvec=t0.reshape(3, 1).copy(), useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE,
        )
        if not ok:
            rvec, tvec = rvec0, t0.reshape(3, 1)
        poses[i, :3, :3] = cv2.Rodrigues(rvec)[0]
        poses[i, :3, 3] = tvec[:, 0]
    return poses


def head_angles(poses: np.ndarray) -> np.ndarray:
    """Head rotation float64 [N, 3] in degrees (pitch, yaw, roll: about the camera's x, y,
    z axes, x-y-z Euler) of head poses [N, 4, 4]."""
    r = np.asarray(poses, dtype=np.float64)[:, :3, :3]
    pitch = np.arctan2(r[:, 2, 1], r[:, 2, 2])
    yaw = np.arcsin(np.clip(-r[:, 2, 0], -1.0, 1.0))
    roll = np.arctan2(r[:, 1, 0], r[:, 0, 0])
    return np.degrees(np.stack([pitch, yaw, roll], axis=1))


def project(points: np.ndarray, pose: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pixels [N, P, 2] of head-frame `points` [P, 3] seen through `pose` [N, 4, 4] and K."""
    cam = points @ pose[:, :3, :3].transpose(0, 2, 1) + pose[:, None, :3, 3]  # [N, P, 3]
    uv = cam @ K.T
    return uv[..., :2] / uv[..., 2:3]
