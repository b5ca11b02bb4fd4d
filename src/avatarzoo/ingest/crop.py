"""The one static crop of a static-camera recording, from tracked extents.

The face (MediaPipe face mesh) and shoulders (MediaPipe Pose 11, 12) are measured on a
subsample of frames; the crop is a square box in source pixels that holds every sampled
position of them (the subject sways), framed as the recipe asks:

* `head-and-shoulders`: from above the hair (0.6 face heights above the forehead
  landmarks) down past the shoulders (0.5 face heights below the lowest shoulder
  joint), at least 1.3 shoulder widths wide, centred on the face.
* `head`: 2 face heights around the face (hair and chin included).
* `full`: the whole frame, padded to a square.

A framing larger than the source frame (a source already framed tighter) becomes the
largest square that fits, placed over the face: black bars would only waste pixels.
Only `full` pads (with black). Shapes: H x W source
frame, S crop side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

CropFrame = Literal["head-and-shoulders", "head", "full"]

HAIR_ABOVE = 0.6  # face heights above the topmost face landmark
BELOW_SHOULDERS = 0.5  # face heights below the lowest shoulder joint
SHOULDER_WIDTH_MARGIN = 1.3
HEAD_SIDE = 2.0  # face heights, `head` framing


@dataclass(frozen=True)
class Extents:
    """What one sampled frame shows: face box [x0, y0, x1, y1] (source px, from the
    face-mesh landmarks) and the shoulder joints float [2, 2] (left, right; x, y) or None."""

    face: np.ndarray
    shoulders: np.ndarray | None


class ExtentMeter:
    """Callable: HxWx3 uint8 RGB frame -> its Extents, or None (no face). Each frame is
    an independent image (static mode), so a subsample can be spread over the whole
    clip and measured while the rest of the clip is still being decoded."""

    def __init__(self) -> None:
        from avatarzoo.trackers.runtime import Solution, solution

        face_mesh, pose = solution("face_mesh"), solution("pose")
        self._face = Solution(lambda: face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False))
        self._pose = Solution(lambda: pose.Pose(static_image_mode=True, model_complexity=1))

    def __call__(self, img: np.ndarray) -> Extents | None:
        h, w = img.shape[:2]
        r = self._face.process(img)
        if not r.multi_face_landmarks:
            return None
        lm = np.array([(p.x * w, p.y * h) for p in r.multi_face_landmarks[0].landmark])
        face = np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()])
        shoulders = None
        rp = self._pose.process(img)
        if rp.pose_landmarks:
            pts = rp.pose_landmarks.landmark
            if min(pts[11].visibility, pts[12].visibility) > 0.5:
                shoulders = np.array([(pts[i].x * w, pts[i].y * h) for i in (11, 12)])
        return Extents(face=face, shoulders=shoulders)

    def close(self) -> None:
        self._face.close()
        self._pose.close()

    def __enter__(self) -> "ExtentMeter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def measure_extents(frames: Sequence[np.ndarray]) -> list[Extents | None]:
    """Face box and shoulders of each HxWx3 uint8 RGB frame (None: no face found)."""
    with ExtentMeter() as meter:
        return [meter(img) for img in frames]


def choose_crop(extents: Sequence[Extents], *, width: int, height: int, frame: CropFrame) -> tuple[int, int, int, int]:
    """Square crop box (x0, y0, x1, y1) in source pixels, inside the frame except for
    `full` on a non-square frame."""
    if frame == "full":
        side = max(width, height)
        x0, y0 = (width - side) // 2, (height - side) // 2
        return (x0, y0, x0 + side, y0 + side)
    if not extents:
        raise ValueError("choose_crop needs the extents of at least one frame with a face")
    faces = np.stack([e.face for e in extents])  # [F, 4]
    face_h = float(np.median(faces[:, 3] - faces[:, 1]))
    cx = float(np.median(0.5 * (faces[:, 0] + faces[:, 2])))
    top = float(faces[:, 1].min()) - HAIR_ABOVE * face_h
    if frame == "head":
        side = HEAD_SIDE * face_h + float(np.ptp(faces[:, 1]))
        cy = float(np.median(0.5 * (faces[:, 1] + faces[:, 3]))) - 0.1 * face_h
        y0 = cy - side / 2
    else:
        shoulders = [e.shoulders for e in extents if e.shoulders is not None]
        left = float(faces[:, 0].min())
        right = float(faces[:, 2].max())
        if shoulders:
            sh = np.stack(shoulders)  # [F, 2, 2]
            bottom = float(sh[:, :, 1].max()) + BELOW_SHOULDERS * face_h
            span = float(np.median(np.abs(sh[:, 0, 0] - sh[:, 1, 0])))
            left, right = min(left, float(sh[:, :, 0].min())), max(right, float(sh[:, :, 0].max()))
        else:  # no shoulders seen: assume them ~1.6 face heights below the chin
            bottom = float(faces[:, 3].max()) + 2.1 * face_h
            span = 2.0 * face_h
        side = max(bottom - top, SHOULDER_WIDTH_MARGIN * span, right - left)
        y0 = top
    side = min(side, float(min(width, height)))
    side_i = int(round(side))
    x0 = int(round(cx - side / 2))
    y0_i = int(round(y0))
    # Slide inside the frame where it fits; keep the head (top) when it does not.
    x0 = _slide(x0, side_i, width)
    y0_i = _slide(y0_i, side_i, height)
    return (x0, y0_i, x0 + side_i, y0_i + side_i)


def _slide(start: int, side: int, limit: int) -> int:
    if side <= limit:
        return min(max(start, 0), limit - side)
    return min(max(start, limit - side), 0)  # covers the whole range, padding where needed


def crop_resize(img: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """The box of an HxWx3 uint8 image resized to S x S x 3 (black outside the image);
    area averaging when shrinking, bilinear when enlarging."""
    import cv2

    h, w = img.shape[:2]
    x0, y0, x1, y1 = box
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        pad = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
        img = cv2.copyMakeBorder(img, *pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        x0, x1, y0, y1 = x0 + pad[2], x1 + pad[2], y0 + pad[0], y1 + pad[0]
    patch = img[y0:y1, x0:x1]
    if patch.shape[0] == size:
        return np.ascontiguousarray(patch)
    interp = cv2.INTER_AREA if patch.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)
