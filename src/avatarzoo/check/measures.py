"""Per-frame measurements of an ingested, tracked recording: one pass over the frames.

For each frame of the ingest output (the static crop at S px, its person mask) and its
tracked face landmarks, `measure_frames` returns numbers only (no verdicts, those are
`items.py`):

* the face: mean luma inside the convex hull of the 478 landmarks, the fraction of it
  clipped (a channel at 250 or more), and its sharpness in x and in y: the std of the
  Sobel derivative over the face patch, resampled so the face is `FACE_PATCH` px wide,
  divided by the patch's own std (so it compares frames of one clip, whatever the scale
  and contrast; one direction each, because motion blur smears along one);
* the background (outside the person mask, dilated): its mean luma, and where the
  camera moved: corners of a reference frame's background followed by pyramidal
  Lucas-Kanade (trackers/flow.py) into every frame, the median displacement of the
  points that track there and back;
* repeats: a frame that shows the same picture as the one before (a held or
  duplicated frame), see `REPEAT_RATIO`.

Shapes: N frames, S crop side, L = 478 landmarks.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

WORK_SIDE = 256  # background motion and luma are measured on frames resized to this side
FACE_PATCH = 128  # the face patch is resampled to this width for the sharpness measure
# A repeated frame: its change from the frame before (mean absolute grey-level difference
# at WORK_SIDE) is at most SAME_LEVELS (a held frame decodes to the same pixels), or under
# REPEAT_RATIO of the changes on both sides of it (a duplicate re-encoded by a frame-rate
# converter). Still moments of a talking person change little on all sides and are not
# repeats. On the public clips converted from ~25 to 30 fps this finds 13-15% of the
# frames (resampled to 25 fps), on the others at most 0.4%.
SAME_LEVELS = 0.02
REPEAT_RATIO = 0.25
BACKGROUND_BELOW = 64  # mask value (0..255) under which a pixel is background (as the plate)
MIN_BACKGROUND_POINTS = 8  # fewer corners than this: camera motion is not measured
AGREE_PX = 1.0  # background points within this (at WORK_SIDE) of their median move as one
AGREE_FRACTION = 0.5  # and at least this fraction of them must, else the frame is not measured
THREADS = 2  # frame chunks measured in parallel (OpenCV releases the GIL)


@dataclass(frozen=True)
class FrameMeasures:
    """What `measure_frames` found, one row per frame (NaN where not measurable).

    face_luma, face_clipped: float64 [N] (face_clipped a fraction 0..1); face_sharpness:
    float64 [N, 2] across x and y (each the Sobel response's std over the patch's std);
    background_luma: float64 [N]; camera_shift: float64 [N, 2] px at the crop size S,
    relative to the reference frame; background_points: int [N] corners that tracked and moved alike;
    repeat: bool [N] the frame equals the previous one; reference: the reference frame.
    """

    face_luma: np.ndarray
    face_clipped: np.ndarray
    face_sharpness: np.ndarray
    background_luma: np.ndarray
    camera_shift: np.ndarray
    background_points: np.ndarray
    repeat: np.ndarray
    reference: int


def _background(mask: np.ndarray, side: int) -> np.ndarray:
    """bool [side, side]: background of a person mask [S, S], the person dilated by side/32."""
    import cv2

    small = cv2.resize(mask, (side, side), interpolation=cv2.INTER_AREA)
    k = max(3, side // 32) | 1
    person = cv2.dilate((small >= BACKGROUND_BELOW).astype(np.uint8), np.ones((k, k), np.uint8))
    return person == 0


def _face(img: np.ndarray, gray: np.ndarray, lm: np.ndarray) -> tuple[float, float, float]:
    """(mean luma, clipped fraction, sharpness) of the face: landmarks `lm` [L, 2] crop px."""
    import cv2

    s = img.shape[0]
    x0, y0 = np.floor(lm.min(axis=0)).astype(int)
    x1, y1 = np.ceil(lm.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, s), min(y1, s)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return np.nan, np.nan, (np.nan, np.nan)
    scale = FACE_PATCH / (x1 - x0)
    size = (FACE_PATCH, max(8, int(round((y1 - y0) * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    patch = cv2.resize(gray[y0:y1, x0:x1], size, interpolation=interp)
    bright = cv2.resize(img[y0:y1, x0:x1].max(axis=2), size, interpolation=cv2.INTER_NEAREST)
    hull = cv2.convexHull(((lm - (x0, y0)) * scale).astype(np.int32))
    inside = np.zeros(patch.shape, np.uint8)
    cv2.fillConvexPoly(inside, hull, 1)
    sel = inside.astype(bool)
    if sel.sum() < 16:
        return np.nan, np.nan, (np.nan, np.nan)
    f = patch.astype(np.float32)
    contrast = max(float(patch[sel].std()), 1.0)
    dx = float(cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)[sel].std()) / contrast
    dy = float(cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)[sel].std()) / contrast
    return float(patch[sel].mean()), float((bright[sel] >= 250).mean()), (dx, dy)


def measure_frames(frames: np.ndarray, masks: np.ndarray | None, landmarks: np.ndarray,
                   valid: np.ndarray) -> FrameMeasures:
    """Measure `frames` uint8 [N, S, S, 3] (a memmap is fine: frames are read one at a
    time) under `masks` uint8 [N, S, S] (None: no background measures) with the face
    `landmarks` float [N, L, 2+] (crop px) where `valid` bool [N] (a face was found)."""
    import cv2

    from avatarzoo.trackers.flow import PointTracker

    n, s = frames.shape[0], frames.shape[1]
    if frames.shape != (n, s, s, 3):
        raise ValueError(f"frames must be [N, S, S, 3], got {frames.shape}")
    if landmarks.shape[0] != n or valid.shape != (n,):
        raise ValueError(f"landmarks [N, L, 2+] and valid [N] with N = {n} expected, "
                         f"got {landmarks.shape} and {valid.shape}")
    if masks is not None and masks.shape != (n, s, s):
        raise ValueError(f"masks must be [N, S, S] = [{n}, {s}, {s}], got {masks.shape}")
    side = min(WORK_SIDE, s)
    to_crop = s / side
    face_luma = np.full(n, np.nan)
    face_clipped = np.full(n, np.nan)
    sharp = np.full((n, 2), np.nan)
    bg_luma = np.full(n, np.nan)
    shift = np.full((n, 2), np.nan)
    points = np.zeros(n, int)

    reference = n // 2
    ref_img = cv2.cvtColor(np.asarray(frames[reference]), cv2.COLOR_RGB2GRAY)
    first_small = cv2.resize(ref_img, (side, side), interpolation=cv2.INTER_AREA) if side != s else ref_img
    tracker = corners = None
    if masks is not None:
        tracker = PointTracker(first_small, window=31, levels=3)
        bg_ref = _background(np.asarray(masks[reference]), side).astype(np.uint8)
        bg_ref[:2], bg_ref[-2:], bg_ref[:, :2], bg_ref[:, -2:] = 0, 0, 0, 0  # black pads' edges
        corners = tracker.corners(bg_ref, max_points=200, spacing=12)
        if corners is not None and len(corners) < MIN_BACKGROUND_POINTS:
            corners = None

    def measure(k: int, guess: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measure frame k; returns (its gray at the work side, the background shift guess)."""
        img = np.asarray(frames[k])
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        small = cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA) if side != s else gray
        if valid[k]:
            face_luma[k], face_clipped[k], sharp[k] = _face(img, gray, np.asarray(landmarks[k, :, :2], np.float64))
        if masks is None:
            return small, guess
        bg = _background(np.asarray(masks[k]), side)
        if bg.mean() > 0.02:
            bg_luma[k] = float(small[bg].mean())
        if corners is None:
            return small, guess
        moved, seen = tracker.track(small, corners, corners + guess)
        xy = np.clip(moved.round().astype(int), 0, side - 1)
        seen &= bg[xy[:, 1], xy[:, 0]]  # still background in this frame (not behind the person)
        d = moved[seen] - corners[seen]
        if len(d) < MIN_BACKGROUND_POINTS:
            return small, guess
        # A moved camera moves every background point alike; corners that are only
        # noise on a plain wall land anywhere. Count the points that agree.
        agree = np.abs(d - np.median(d, axis=0)).max(axis=1) < AGREE_PX
        points[k] = int(agree.sum())
        if points[k] >= MIN_BACKGROUND_POINTS and agree.mean() >= AGREE_FRACTION:
            shift[k] = np.median(d[agree], axis=0) * to_crop
            return small, shift[k] / to_crop
        return small, guess

    def change(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())

    def forward() -> None:  # the reference and after it: change[k] is k against k - 1
        guess, prev = np.zeros(2), None
        for k in range(reference, n):
            small, guess = measure(k, guess)
            if prev is not None:
                diff[k] = change(small, prev)
            prev = small

    def backward() -> None:  # before the reference, outward: change[k + 1] is k + 1 against k
        guess, later = np.zeros(2), first_small
        for k in range(reference - 1, -1, -1):
            small, guess = measure(k, guess)
            diff[k + 1] = change(later, small)
            later = small

    diff = np.full(n, np.inf)  # diff[0] stays inf: the first frame repeats nothing
    # Two chunks outward from the reference, so each one's shift guess starts near zero.
    with ThreadPoolExecutor(THREADS) as pool:
        for job in [pool.submit(forward), pool.submit(backward)]:
            job.result()
    before, after = np.r_[np.inf, diff[:-1]], np.r_[diff[1:], np.inf]
    repeat = (diff <= SAME_LEVELS) | (diff < REPEAT_RATIO * np.minimum(before, after))
    repeat[0] = False
    return FrameMeasures(face_luma=face_luma, face_clipped=face_clipped, face_sharpness=sharp,
                         background_luma=bg_luma, camera_shift=shift, background_points=points,
                         repeat=repeat, reference=reference)


def eye_distance(landmarks: np.ndarray) -> np.ndarray:
    """float64 [N] pixels between the eye centres (the mean of each eye's two corners)
    of face landmarks [N, L, 2+], in the landmarks' pixels."""
    lm = np.asarray(landmarks[..., :2], np.float64)
    right = 0.5 * (lm[:, 33] + lm[:, 133])
    left = 0.5 * (lm[:, 263] + lm[:, 362])
    return np.linalg.norm(left - right, axis=-1)


def face_boxes(landmarks: np.ndarray) -> np.ndarray:
    """float64 [N, 4] x0, y0, x1, y1 of the face landmarks [N, L, 2+] (their pixels)."""
    lm = np.asarray(landmarks[..., :2], np.float64)
    return np.concatenate([lm.min(axis=1), lm.max(axis=1)], axis=1)
