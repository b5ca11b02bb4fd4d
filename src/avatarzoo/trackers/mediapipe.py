"""The built-in tracker: MediaPipe face mesh (478 landmarks with iris) + Pose, on CPU.

`track_frames` turns frames into a `Tracking` in the `face-64` space:
1. face mesh (video mode) on every frame, MediaPipe Pose on every `body_stride`-th
   frame in a second thread (the two models run in parallel on two cores: `process`
   releases the GIL while the graph runs);
2. frames without a face are interpolated and flagged in `valid`; more than
   `config.max_missing` of them is an InputError naming the time ranges;
3. zero-phase One-Euro smoothing of landmarks and body (smoothing.py);
4. the subject's canonical face, one static pinhole K, PnP head pose (headpose.py);
5. expression code from the pose-normalised mesh, minus what head rotation explains
   in the jaw, mouth-opening and brow channels (expressions.py).

With `reference` (re-tracking renders of the same subject for evaluation), its
canonical face, K, channel neutral/scales, pose coupling and residual basis are reused
so that codes are comparable, and missing faces never fail (they are flagged invalid).
Shapes: N frames, H x W frame, L = 478 landmarks, B body points.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from avatarzoo.errors import InputError, SpaceError
from avatarzoo.trackers.runtime import blas_threads
from avatarzoo.contracts.tracking import N_LANDMARKS, Tracking

log = logging.getLogger("avatarzoo.trackers")

FIT_MAX_FRAMES = 300  # frames used to fit the canonical face
# Landmarks are smoothed with the eye corners this many units apart. On the Obama clip
# (recipe defaults 1.5 Hz / 0.3): blink peaks keep 96% of their height, frame-to-frame
# acceleration of the rigid points drops 19%, of brow/mouth channels ~30%
# (1000 units: 99%, 9%, 15%; 100 units: 90%, 33%, 45%).
SMOOTHING_UNITS = 300.0


class FaceMeshRunner:
    """Callable: HxWx3 uint8 RGB -> float32 [478, 3] (x, y pixels; z MediaPipe depth
    times W) or None. Video mode: frames of one clip, in order."""

    def __init__(self) -> None:
        from avatarzoo.trackers.runtime import Solution, solution

        face_mesh = solution("face_mesh")

        self._model = Solution(lambda: face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=0.5, min_tracking_confidence=0.5,
        ))

    def __call__(self, img: np.ndarray) -> np.ndarray | None:
        h, w = img.shape[:2]
        result = self._model.process(img)
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        out = np.array([(p.x, p.y, p.z) for p in lm], dtype=np.float32)
        out *= np.array([w, h, w], dtype=np.float32)
        return out

    def close(self) -> None:
        self._model.close()


def _no_progress(iterable: Iterable, **_) -> Iterator:
    yield from iterable


def missing_ranges(valid: np.ndarray, time: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of each run of invalid frames."""
    out = []
    bad = np.flatnonzero(~valid)
    if bad.size == 0:
        return out
    breaks = np.flatnonzero(np.diff(bad) > 1)
    starts = np.r_[bad[0], bad[breaks + 1]]
    ends = np.r_[bad[breaks], bad[-1]]
    dt = float(np.median(np.diff(time))) if len(time) > 1 else 0.0
    return [(float(time[s]), float(time[e]) + dt) for s, e in zip(starts, ends)]


def format_ranges(ranges: list[tuple[float, float]], limit: int = 6) -> str:
    text = ", ".join(f"{a:.2f}–{b:.2f} s" for a, b in ranges[:limit])
    return text + (f" and {len(ranges) - limit} more" if len(ranges) > limit else "")


def interpolate_missing(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """`values` [N, ...] with the rows where `ok` [N] is False linearly interpolated in
    time from the nearest good rows (held at the ends). Needs at least one good row."""
    if ok.all():
        return values.copy()
    n = values.shape[0]
    good = np.flatnonzero(ok)
    flat = values.reshape(n, -1)
    out = np.empty_like(flat, dtype=np.float64)
    t = np.arange(n)
    for j in range(flat.shape[1]):
        out[:, j] = np.interp(t, good, flat[good, j])
    return out.reshape(values.shape)


@blas_threads(1)  # small linear algebra; BLAS threads only contend with the graphs (runtime.py)
def track_frames(
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    reference: Tracking | None = None,
    config=None,
    progress: Callable[..., Iterator] | None = None,
    fit_until: int | None = None,
    time: np.ndarray | None = None,
    body_stride: int | None = None,
    source: str = "frames",
) -> Tracking:
    """Track HxWx3 uint8 RGB `frames` (one clip, in order, at `fps`) into a Tracking.

    Args:
        reference: tracking of the same subject whose canonical face, K and expression
            basis are reused (re-tracking renders); missing faces are then never an error.
        config: MediapipeTrackerConfig (default: the recipe defaults).
        progress: `ctx.progress`-like wrapper (iterable, total=, desc=, unit=).
        fit_until: fit the subject's canonical face and expression basis on frames
            [0, fit_until) only (the training frames); default all.
        time: float64 [N] seconds of the frames; default `arange(N) / fps`.
        body_stride: run Pose on every k-th frame (1 = every frame); default the
            config's `body_stride`.
        source: what the frames are, for error messages (e.g. the video's path).
    """
    from avatarzoo.recipe.models import MediapipeTrackerConfig
    from avatarzoo.spaces import get_space
    from avatarzoo.trackers.body import BODY_NAMES, PoseJobs, body_from_face, smooth_body
    from avatarzoo.trackers.expressions import ExpressionBasis, encode, fit_basis
    from avatarzoo.trackers.headpose import default_K, fit_canonical, head_angles, similarity_align, solve_poses
    from avatarzoo.trackers.smoothing import smooth

    config = config or MediapipeTrackerConfig()
    space = get_space(config.space)
    if space.name != "face-64":
        raise SpaceError(f"the mediapipe tracker emits 'face-64', the recipe asks for '{space.name}'")
    progress = progress or _no_progress
    body_stride = body_stride or config.body_stride
    if body_stride < 1:
        raise ValueError(f"body_stride must be >= 1, got {body_stride}")
    total = len(frames) if hasattr(frames, "__len__") else None

    # Pose runs on a worker thread; its results are collected only after the face's own
    # post-processing, which thus overlaps Pose's tail (Pose is the slower of the two).
    with PoseJobs() as body_jobs:
        face = FaceMeshRunner()
        raw: list[np.ndarray | None] = []
        shape = None
        try:
            for k, img in enumerate(progress(frames, total=total, desc="track", unit="frame")):
                if shape is None:
                    shape = img.shape
                    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                        raise ValueError(f"frames must be HxWx3 uint8 RGB, got {img.dtype} {img.shape}")
                elif img.shape != shape:
                    raise ValueError(f"frame {k} is {img.shape}, the first was {shape}")
                if k % body_stride == 0:
                    body_jobs.submit(k, img)
                raw.append(face(img))
        finally:
            face.close()

        n = len(raw)
        if n == 0:
            raise InputError(f"{source}: no frames to track")
        height, width = shape[:2]
        time = np.arange(n) / fps if time is None else np.asarray(time, dtype=np.float64)
        if time.shape != (n,):
            raise ValueError(f"time must be [N] = [{n}], got {time.shape}")
        valid = np.array([r is not None for r in raw])
        if not valid.any():
            if reference is None:
                raise InputError(
                    f"{source}: no face found in any of the {n} frames"
                    f" ({time[0]:.2f}–{time[-1] + 1 / fps:.2f} s); the recording must show the subject's face"
                )
            filler = np.median(reference.landmarks[reference.valid], axis=0)
            raw = [filler] * n
        missing = 1.0 - valid.mean()
        if reference is None and missing > config.max_missing:
            raise InputError(
                f"{source}: no face in {missing:.0%} of the frames (the recipe allows"
                f" tracker.max_missing = {config.max_missing:.0%}): {format_ranges(missing_ranges(valid, time))}"
            )
        if missing > 0:
            log.warning("%s: no face in %d of %d frames (%s), interpolated", source, int((~valid).sum()), n,
                        format_ranges(missing_ranges(valid, time)))
        filled = np.stack([r if r is not None else np.zeros((N_LANDMARKS, 3), np.float32) for r in raw])
        landmarks = interpolate_missing(filled.astype(np.float64), valid if valid.any() else np.ones(n, bool))

        # Smoothing on a scale where the outer eye corners are SMOOTHING_UNITS apart, so the
        # recipe's beta means the same at every crop size (smoothing.py).
        rows = landmarks[valid] if valid.any() else landmarks
        unit = np.median(np.linalg.norm(rows[:, 263, :2] - rows[:, 33, :2], axis=-1)) / SMOOTHING_UNITS
        unit = max(float(unit), 1e-6)
        landmarks = smooth(landmarks / unit, config.smoothing, fps=fps) * unit

        fit = valid.copy()
        if fit_until is not None and valid[:fit_until].sum() >= 10:
            fit[fit_until:] = False
        if reference is not None:
            canonical = reference.canonical.astype(np.float64)
            K = reference.K.astype(np.float64)
            try:
                basis = ExpressionBasis.from_extras(reference.extras)
            except KeyError as e:
                raise InputError(f"the reference tracking lacks the expression basis ({e.args[0]}); re-track it with this version") from None
        else:
            idx = np.flatnonzero(fit)
            idx = idx[np.linspace(0, len(idx) - 1, min(len(idx), FIT_MAX_FRAMES)).round().astype(int)]
            canonical = fit_canonical(landmarks[idx])
            K = default_K(width, height)
            basis = None
        poses = solve_poses(landmarks, canonical, K)
        aligned, *_ = similarity_align(landmarks, canonical)
        angles = head_angles(poses)
        if basis is None:
            basis = fit_basis(aligned[fit], angles=angles[fit])
        expression = encode(aligned, basis, angles)
        bodies = body_jobs.results()

    body_ok = np.zeros(n, bool)
    body = np.zeros((n, len(BODY_NAMES), 2))
    for k, b in bodies.items():
        if b is not None:
            body[k], body_ok[k] = b, True
    if body_ok.any():
        body = interpolate_missing(body, body_ok)
        body = smooth_body(body, fps=fps, cutoff=config.body_cutoff_hz) if config.smoothing.kind != "none" else body
    elif reference is not None:
        body = np.broadcast_to(np.median(reference.body, axis=0), body.shape).copy()
    else:
        log.warning("%s: no shoulders found in any frame; the body is a stand-in below the face", source)
        body = body_from_face(landmarks)
    # body_ok marks frames where Pose ran and saw the shoulders (others interpolated).
    return Tracking(
        expression=expression.astype(np.float32),
        pose=poses.astype(np.float32),
        landmarks=landmarks.astype(np.float32),
        body=body.astype(np.float32),
        valid=valid,
        time=time,
        K=K.astype(np.float32),
        canonical=canonical.astype(np.float32),
        space=space,
        body_names=list(BODY_NAMES),
        extras={**basis.to_extras(), "body_valid": body_ok},
    )
