"""Upper body from MediaPipe Pose: both shoulders and the neck base, per frame.

Pose landmarks 11 (left shoulder) and 12 (right shoulder), the subject's sides; the
neck base is their midpoint. A point counts when the model's visibility is above 0.5.
Only the full pose model (complexity 1) ships in the mediapipe 0.10.14 wheel; it costs
~37 ms a frame on this 2-core CPU, so the tracker may run it on every `stride`-th
frame and interpolate (shoulders sway slowly: < 2 Hz).

Pose shoulders are noisy: on the Obama clip (shoulders at the frame's edges, under a
suit) they jump ~4 px (std, 512² crop) from frame to frame, and the model's estimate
depends on its tracking state (every frame vs every 2nd frame: 3-4 px apart on average
after smoothing, as far apart as the 1 Hz low-passed track is from the raw one). So the body gets its own, stronger smoothing than the face: a
zero-phase low-pass at `body_cutoff_hz` (recipe, default 1 Hz; One-Euro with beta 0),
which keeps the sway (< 1 Hz) and drops the jitter.
Shapes: B = 3 body points (BODY_NAMES), H x W frame.
"""

from __future__ import annotations

import numpy as np

BODY_NAMES = ["left_shoulder", "right_shoulder", "neck_base"]
VISIBLE = 0.5


def smooth_body(body: np.ndarray, *, fps: float, cutoff: float = 1.0) -> np.ndarray:
    """Body points float [N, B, 2] low-passed at `cutoff` Hz without lag (zero-phase,
    forward + backward first-order low-pass)."""
    from avatarzoo.trackers.smoothing import one_euro_zero_phase

    return one_euro_zero_phase(body, fps=fps, min_cutoff=cutoff, beta=0.0)


class PoseRunner:
    """Callable: HxWx3 uint8 RGB frame -> float64 [B, 2] pixels, or None (no upper body).
    Video mode: frames of one clip in order."""

    def __init__(self) -> None:
        from avatarzoo.trackers.runtime import Solution, solution

        pose = solution("pose")

        self._model = Solution(lambda: pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True))

    def __call__(self, img: np.ndarray) -> np.ndarray | None:
        h, w = img.shape[:2]
        result = self._model.process(img)
        if not result.pose_landmarks:
            return None
        lm = result.pose_landmarks.landmark
        if min(lm[11].visibility, lm[12].visibility) < VISIBLE:
            return None
        left = np.array([lm[11].x * w, lm[11].y * h])
        right = np.array([lm[12].x * w, lm[12].y * h])
        return np.stack([left, right, 0.5 * (left + right)])

    def close(self) -> None:
        self._model.close()


class PoseJobs:
    """PoseRunner on one worker thread: `submit(k, frame)` in frame order, `results()`
    -> {k: body or None} once all are done. Closing cancels what has not run."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1)
        self._runner = self._pool.submit(PoseRunner)  # the model loads on the worker too
        self._jobs: dict = {}

    def submit(self, k: int, img: np.ndarray) -> None:
        self._jobs[k] = self._pool.submit(lambda: self._runner.result()(img))

    def results(self) -> dict[int, np.ndarray | None]:
        return {k: job.result() for k, job in self._jobs.items()}

    def close(self) -> None:
        for job in self._jobs.values():
            job.cancel()
        self._pool.submit(lambda: self._runner.exception() or self._runner.result().close())
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "PoseJobs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def body_from_face(landmarks: np.ndarray) -> np.ndarray:
    """A stand-in body float64 [N, B, 2] below the face [N, 478, 3] for frames where no
    shoulders were ever seen: shoulders 1.5 face heights below the chin, 1.1 face
    heights either side (a rough adult proportion); flagged invalid by the caller."""
    chin = landmarks[:, 152, :2]
    top = landmarks[:, 10, :2]
    h = np.linalg.norm(chin - top, axis=-1, keepdims=True)
    neck = chin + np.array([0.0, 1.0]) * 1.5 * h
    left = neck + np.array([1.0, 0.0]) * 1.1 * h
    right = neck - np.array([1.0, 0.0]) * 1.1 * h
    return np.stack([left, right, neck], axis=1)
