"""Head pose refined by optical flow: rigid points of the head (hair line, ears, nose,
cheeks, face outline; never the mouth, eyes or brows) are followed with pyramidal
Lucas-Kanade from one reference frame, given a depth, and each frame's pose is solved
from them (with the face mesh's rigid landmarks), starting from the face-mesh pose.

Why: the face-mesh pose (PnP on 478 smoothed MediaPipe landmarks) is off by ~3 px at
512² on the demo clip (median reprojection error of flow-tracked head points it did
not see), which blurs the hair's outline and the ears in every training frame and
misplaces them in held-out ones; this track brings that to ~1.1-1.6 px.

Depths: each point starts at the depth of its nearest posed face landmark (half a
centimetre behind when it lies off the face, as hair and ears do); then two rounds of
alternation — poses from the points, each point's depth along its reference ray from
its track over all frames (a 1-D search) — a small bundle adjustment.

Shapes: N frames, L landmarks, P points, S frame side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarzoo.geometry import rigid_mean
from avatarzoo.trackers.flow import PointTracker, gray
from avatarzoo.trackers.headpose import RIGID, project

LK_WINDOW, LK_LEVELS = 21, 3  # at a 512² crop (flow.py scales them)
CORNER_SPACING = 5
MAX_POINTS = 600
MIN_POINTS = 20  # fewer corners on the head than this: keep the face-mesh poses
MIN_INLIERS = 10
INLIER_PX = 1.0  # a point fits its track within this (px at the crop)
OUTLIER_PX = (8.0, 4.0, 2.0, INLIER_PX)  # the shrinking inlier thresholds of _solve_poses
ROUNDS = 2
DEPTH_SEARCH_CM = np.linspace(-6.0, 10.0, 33)  # around the initial depth

# Face-mesh indices outlining the parts that move with the expression, not the skull:
# lips and chin, then each eye with its brow.
MOUTH = [61, 291, 0, 17, 40, 270, 91, 321, 152, 377, 148]
EYE_BROW_RIGHT = [70, 63, 105, 66, 107, 33, 133, 145, 159]
EYE_BROW_LEFT = [336, 296, 334, 293, 300, 362, 263, 374, 386]


@dataclass
class HeadFlow:
    """poses: float64 [N, 4, 4] (head frame → camera); inliers: int [N] (0 where the
    face-mesh pose was kept); reference: the reference frame; points: P."""

    poses: np.ndarray
    inliers: np.ndarray
    reference: int
    points: int

    @property
    def ok(self) -> np.ndarray:
        return self.inliers >= MIN_INLIERS


def head_mask(mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """uint8 [S, S]: the person (eroded 2 px) above the chin, without the dilated
    outlines of the mouth and of each eye with its brow. mask: [S, S] person mask
    (uint8 0..255 or float 0..1); landmarks: [L, 2+] px."""
    import cv2

    m = np.asarray(mask, np.float32)
    person = (m >= (127.5 if m.max() > 1.0 else 0.5)).astype(np.uint8)
    person = cv2.erode(person, np.ones((5, 5), np.uint8))
    person[max(0, int(landmarks[152, 1])):] = 0
    grow = np.ones((9, 9), np.uint8)
    for part in (MOUTH, EYE_BROW_RIGHT, EYE_BROW_LEFT):
        hull = cv2.convexHull(landmarks[part, :2].astype(np.float32))[:, 0]
        inside = np.zeros_like(person)
        cv2.fillConvexPoly(inside, np.round(hull).astype(np.int32), 1)
        person[cv2.dilate(inside, grow) > 0] = 0
    return person


def _pose_from(rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    import cv2

    p = np.eye(4)
    p[:3, :3] = cv2.Rodrigues(rvec)[0]
    p[:3, 3] = tvec.reshape(3)
    return p


class _Tracks:
    """The reference points' positions in every frame: xy float64 [N, P, 2], seen bool
    [N, P] (found forward and back, flow.PointTracker)."""

    def __init__(self, frames, tracker: PointTracker, start: np.ndarray, guess) -> None:
        n = len(frames)
        self.xy = np.zeros((n, len(start), 2))
        self.seen = np.zeros((n, len(start)), bool)
        for k in range(n):
            self.xy[k], self.seen[k] = tracker.track(gray(frames[k]), start, guess(k))


def _solve_poses(points: np.ndarray, tracks: _Tracks, start: np.ndarray, K: np.ndarray,
                 anchors: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the pose that fits head-frame `points` [P, 3] to their tracks.

    Inliers first, from the flow points alone: from `start` [N, 4, 4] (a pose a few px
    off), Levenberg-Marquardt on the points that reproject within OUTLIER_PX, then again
    within each tighter threshold down to INLIER_PX (the expression's non-rigid motion
    and lost tracks drop out on the way; as robust as RANSAC PnP from such a start, at
    a fraction of the cost). Then one more refinement on those inliers together with the
    face mesh's rigid landmarks `anchors` = (head-frame [A, 3], per-frame px [N, A, 2]):
    the flow points (mostly hair and ears, nearly a plane) pin the head's outline but
    hardly its pitch, which the face's own relief fixes. Returns poses [N, 4, 4] (start
    where fewer than MIN_INLIERS points fit) and inlier counts [N]."""
    import cv2

    poses, inliers = start.copy(), np.zeros(len(start), int)
    for k in range(len(start)):
        seen = np.flatnonzero(tracks.seen[k])
        rvec = cv2.Rodrigues(start[k, :3, :3])[0]
        tvec = start[k, :3, 3].reshape(3, 1).copy()
        inl = seen
        for limit in OUTLIER_PX:
            pose = _pose_from(rvec, tvec)
            err = np.linalg.norm(project(points[seen], pose[None], K)[0] - tracks.xy[k, seen], axis=-1)
            inl = seen[err < limit]
            if len(inl) < MIN_INLIERS:
                break
            rvec, tvec = cv2.solvePnPRefineLM(points[inl], tracks.xy[k, inl], K, None, rvec, tvec)
        if len(inl) < MIN_INLIERS:
            continue
        obj = np.concatenate([points[inl], anchors[0]])
        img = np.concatenate([tracks.xy[k, inl], anchors[1][k]])
        rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, None, rvec, tvec)
        poses[k], inliers[k] = _pose_from(rvec, tvec), len(inl)
    return poses, inliers


def _best_depths(rays: np.ndarray, depth: np.ndarray, ref_pose: np.ndarray, poses: np.ndarray,
                 tracks: _Tracks, K: np.ndarray) -> np.ndarray:
    """For each point, the depth along its reference-camera ray [P, 3] (z = 1) among
    depth + DEPTH_SEARCH_CM whose reprojection through `poses` best fits its track
    (mean error capped at 3 px, over the frames where it was seen)."""
    inv = np.linalg.inv(ref_pose)
    out = depth.copy()
    for j in range(len(rays)):
        seen = tracks.seen[:, j]
        if seen.sum() < 3:
            continue
        z = depth[j] + DEPTH_SEARCH_CM
        cam = rays[j][None] * z[:, None]  # [Z, 3] in the reference camera
        head = cam @ inv[:3, :3].T + inv[:3, 3]
        err = np.linalg.norm(project(head, poses[seen], K) - tracks.xy[seen, j][:, None], axis=-1)
        out[j] = z[np.minimum(err, 3.0).mean(0).argmin()]
    return out


def reference_frame(poses: np.ndarray, candidates: np.ndarray) -> int:
    """The candidate whose head pose is nearest the median (rotation vector in degrees
    against translation in cm, weighted alike)."""
    import cv2

    rot = np.array([cv2.Rodrigues(p[:3, :3])[0][:, 0] for p in poses[candidates]]) * 180 / np.pi
    feat = np.concatenate([rot, poses[candidates, :3, 3]], 1)
    return int(candidates[np.abs(feat - np.median(feat, 0)).sum(1).argmin()])


def follow_head(frames, masks, landmarks: np.ndarray, poses: np.ndarray, K: np.ndarray,
                canonical: np.ndarray, candidates: np.ndarray, *, anchored: bool = False) -> HeadFlow | None:
    """Refine the face-mesh `poses` [N, 4, 4] of `frames` (uint8 [N, S, S, 3], read one
    at a time) with flow-tracked head points of a reference frame among `candidates`.
    landmarks [N, L, 2+] px, canonical [L, 3] head-frame landmarks, K [3, 3].
    `anchored`: frame candidates[0] is a picture whose pose in `poses` is exact (an
    avatar's neutral render, drive/offline.Anchor): it is the reference, and the
    refined poses are placed by it rather than by the mean of the face-mesh poses.
    None when the reference head has fewer than MIN_POINTS corners."""
    ref = int(candidates[0]) if anchored else reference_frame(poses, candidates)
    tracker = PointTracker(gray(frames[ref]), window=LK_WINDOW, levels=LK_LEVELS)
    corners = tracker.corners(head_mask(masks[ref], landmarks[ref]), max_points=MAX_POINTS, spacing=CORNER_SPACING)
    if corners is None or len(corners) < MIN_POINTS:
        return None
    scale = tracker.scale
    start = corners.astype(np.float64)
    # initial depth: the nearest posed landmark's, a little behind it off the face
    cam = canonical @ poses[ref, :3, :3].T + poses[ref, :3, 3]
    uv = project(canonical, poses[ref][None], K)[0]
    dist = np.linalg.norm(start[:, None] - uv[None], axis=-1)
    near = dist.argmin(1)
    off_face = dist[np.arange(len(start)), near] > 5 * scale
    depth = cam[near, 2] + np.where(off_face, 0.5, 0.0)
    rays = np.concatenate([(start - K[:2, 2]) / np.diag(K)[:2], np.ones((len(start), 1))], 1)
    inv = np.linalg.inv(poses[ref])

    def head_points(d: np.ndarray) -> np.ndarray:
        return (rays * d[:, None]) @ inv[:3, :3].T + inv[:3, 3]

    first = head_points(depth)
    tracks = _Tracks(frames, tracker, start, lambda k: project(first, poses[k][None], K)[0])
    anchors = (np.ascontiguousarray(canonical[RIGID]), np.ascontiguousarray(landmarks[:, RIGID, :2]))
    refined, inliers = _solve_poses(first, tracks, poses, K, anchors)
    for _ in range(ROUNDS):
        depth = _best_depths(rays, depth, poses[ref], refined, tracks, K)
        refined, inliers = _solve_poses(head_points(depth), tracks, refined, K, anchors)
    # The head points were placed through the reference frame's face-mesh pose, so its
    # error is in every refined pose alike; the mean offset to the face-mesh poses over
    # all frames (where the mesh's own jitter averages out) takes it back out.
    ok = inliers >= MIN_INLIERS
    if anchored and ok[ref]:  # the reference's pose is exact: the error to take out is its own
        refined[ok] = refined[ok] @ (np.linalg.inv(refined[ref]) @ poses[ref])
    elif ok.any():
        refined[ok] = refined[ok] @ rigid_mean(np.linalg.inv(refined[ok]) @ poses[ok])
    return HeadFlow(poses=refined, inliers=inliers, reference=ref, points=len(start))


__all__ = ["HeadFlow", "follow_head", "head_mask", "reference_frame"]
