"""Pyramidal Lucas-Kanade point tracking, shared by the head-pose and torso
refinements (headflow.py, torso.py): corners of one reference frame followed into
other frames, kept where tracking back lands within FORWARD_BACKWARD_PX of the start.

Window sizes and corner spacings are given for a 512² crop and scale with the frame
(never below 9 and 2 px).

Shapes: P points, S frame side.
"""

from __future__ import annotations

import numpy as np

FORWARD_BACKWARD_PX = 0.5  # a point tracked there and back must land this close
CORNER_QUALITY = 0.003  # goodFeaturesToTrack: fraction of the strongest corner's score


def gray(img: np.ndarray) -> np.ndarray:
    """uint8 [S, S] luma of an RGB frame [S, S, 3]."""
    import cv2

    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2GRAY)


class PointTracker:
    """Follows points of the gray `reference` [S, S] into other frames: `window` px
    search windows (at 512²) over `levels` + 1 pyramid levels."""

    def __init__(self, reference: np.ndarray, *, window: int, levels: int, iterations: int = 30,
                 eps: float = 0.01) -> None:
        import cv2

        self.reference = reference
        self.scale = reference.shape[0] / 512
        win = max(9, int(window * self.scale) | 1)
        self._lk = {"winSize": (win, win), "maxLevel": levels,
                    "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, eps)}

    def corners(self, mask: np.ndarray, *, max_points: int, spacing: float) -> np.ndarray | None:
        """float32 [P, 2] corners of the reference inside `mask` (uint8 [S, S]), at least
        `spacing` px (at 512²) apart; None when there are none."""
        import cv2

        pts = cv2.goodFeaturesToTrack(self.reference, max_points, CORNER_QUALITY,
                                      max(2, round(spacing * self.scale)), mask=mask)
        return None if pts is None else pts[:, 0]

    def track(self, frame: np.ndarray, points: np.ndarray, guess: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where the reference's `points` [P, 2] are in the gray `frame` [S, S], searched
        from `guess` [P, 2]: positions float64 [P, 2] and seen bool [P] (found, and
        found back within FORWARD_BACKWARD_PX)."""
        import cv2

        p0 = np.ascontiguousarray(points, dtype=np.float32)[:, None]
        init = np.ascontiguousarray(guess, dtype=np.float32)[:, None].copy()
        flags = cv2.OPTFLOW_USE_INITIAL_FLOW
        p1, st, _ = cv2.calcOpticalFlowPyrLK(self.reference, frame, p0, init, flags=flags, **self._lk)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(frame, self.reference, p1, p0.copy(), flags=flags, **self._lk)
        seen = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm(back[:, 0] - p0[:, 0], axis=-1) < FORWARD_BACKWARD_PX)
        return p1[:, 0].astype(np.float64), seen


__all__ = ["FORWARD_BACKWARD_PX", "PointTracker", "gray"]
