"""Live reenactment: webcam frames in, one at a time, the avatar's frames out.

`ReenactSession.push(frame)` runs the built-in tracker's steps causally on each frame
(RGB uint8, any size; larger than `max_side` is scaled down first):

1. MediaPipe face mesh in video mode (its own tracking state from frame to frame), then
   a causal One-Euro filter on the landmarks with the avatar's tracker settings, on the
   tracker's scale (outer eye corners SMOOTHING_UNITS apart; the offline tracker runs
   the same filter forward and backward, which a live stream cannot);
2. warm-up: the first `warmup_s` of frames with a face fit the driver's canonical face,
   expression neutral and scales (`fit_canonical`, `fit_basis`: what the tracker fits
   on a new video) in the frame's own pinhole camera; until then the avatar shows its
   neutral frame (`LiveFrame.calibrating`). The part of the jaw, mouth and brow channels
   that head rotation explains (expressions.py) is fitted later, once `coupling_s` of
   frames are in: fitted on one second it was 4× too large on the demo clip and took
   the mouth's correlation with the offline tracking from 0.93 to 0.55; then the basis
   is refitted on the history and the history re-encoded;
3. afterwards each frame's head pose (PnP) and code (`encode`), as offline;
4. the driver's statistics are re-estimated every `update_s` over the codes and poses of
   the last `history_s` (`DriverStats.fit`), their ranges shrunk towards the avatar's
   own while few frames are in: range = (n · driver's + n0 · avatar's) / (n + n0), n0 =
   `prior_s` · fps frames — so a driver's first seconds do not blow up its gains, and
   the neutral settles over the first seconds and then drifts only as slowly as the
   history window moves;
5. the transfer of transfer.py on that frame, rendered.

A frame without a face holds the last transferred inputs. Nothing here keeps a clock:
the caller paces frames (a server polls its camera at its own rate).

Shapes: L = 478 landmarks, D channels, S the avatar's side.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from avatarzoo.drive.stats import AvatarStats, DriverStats
from avatarzoo.drive.transfer import MAX_GAIN, POSE_MARGIN, transfer


def check_live_space(avatar) -> None:
    """Raise SpaceError when a camera cannot drive `avatar` (anything with its `bundle`)
    live: the built-in tracker's codes are in another space than the one the avatar
    renders, and the live path takes no map between spaces (before, this surfaced only
    after the first second of faces)."""
    from avatarzoo.drive.offline import tracker_config
    from avatarzoo.errors import SpaceError
    from avatarzoo.spaces.space import ExpressionSpace

    tracked = tracker_config(avatar).space
    renders = ExpressionSpace.from_json(avatar.bundle.metadata["avatarzoo.space"]).name
    if tracked != renders:
        raise SpaceError(f"a camera is tracked in '{tracked}' and this avatar renders '{renders}': the live "
                         f"path takes no map between spaces; drive it from a video with `avatarzoo drive "
                         f"--map`, or with speech")


@dataclass(frozen=True)
class LiveFrame:
    """One output frame: `index` (the input's), `image` uint8 [S, S, 3], the avatar's
    `expression` [D]; `face`: a face was found in the input; `calibrating`: still in the
    warm-up (the avatar holds its neutral frame); `clamped`: the transfer clamped it."""

    index: int
    image: np.ndarray
    expression: np.ndarray
    face: bool
    calibrating: bool
    clamped: bool


@dataclass
class LiveStats:
    frames: int = 0
    faces: int = 0  # frames with a face
    clamped: int = 0  # frames the transfer clamped
    updates: int = 0  # re-estimates of the driver's statistics


class OneEuro:
    """Causal One-Euro filter (trackers/smoothing.py `one_euro`), one sample at a time."""

    def __init__(self, *, fps: float, min_cutoff: float, beta: float, d_cutoff: float = 1.0):
        self.fps, self.min_cutoff, self.beta, self.d_cutoff = fps, min_cutoff, beta, d_cutoff
        self._y = None
        self._dx = None

    @staticmethod
    def _alpha(cutoff, rate):
        return 1.0 / (1.0 + rate / (2.0 * math.pi * cutoff))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._y is None:
            self._y, self._dx = x.copy(), np.zeros_like(x)
            return self._y.copy()
        dx = (x - self._y) * self.fps
        self._dx = self._alpha(self.d_cutoff, self.fps) * dx + (1 - self._alpha(self.d_cutoff, self.fps)) * self._dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx), self.fps)
        self._y = a * x + (1 - a) * self._y
        return self._y.copy()


@dataclass
class ReenactSession:
    """One live stream of a driver onto `avatar` (see the module docstring). Not
    thread-safe: one owner pushes frames in order. `close()` (or `with`) frees MediaPipe."""

    avatar: object
    fps: float = 25.0
    warmup_s: float = 1.0
    coupling_s: float = 5.0
    update_s: float = 0.5
    history_s: float = 60.0
    prior_s: float = 5.0
    max_side: int = 640
    scale: str = "region"
    body: str = "head"
    max_gain: float = MAX_GAIN
    pose_margin: float = POSE_MARGIN
    stats: LiveStats = field(default_factory=LiveStats)

    def __post_init__(self) -> None:
        from avatarzoo.drive.offline import tracker_config
        from avatarzoo.trackers.mediapipe import FaceMeshRunner

        check_live_space(self.avatar)
        self.config = tracker_config(self.avatar)
        self.avatar_stats = AvatarStats.from_bundle(self.avatar.bundle)
        self._face = FaceMeshRunner()
        self._filter: OneEuro | None = None
        self._unit = None
        self._warm: list[np.ndarray] = []
        self._canonical = self._K = self._basis = None
        self._shape = None
        n = max(2, int(round(self.history_s * self.fps)))
        self._codes: deque = deque(maxlen=n)
        self._poses: deque = deque(maxlen=n)
        self._aligned: deque = deque(maxlen=n)  # float32 [L, 3] pose-normalised meshes
        self._angles: deque = deque(maxlen=n)  # [3] head angles, degrees
        self._coupled = False
        self.calibration: DriverStats | None = None
        self._since_update = 0
        self._index = 0
        self._last = None  # (expression [D], pose [4, 4], body [Bp, 2]) last transferred
        a = self.avatar_stats
        self._neutral = (a.median.astype(np.float32), a.pose_mean.astype(np.float32),
                         a.body_neutral.astype(np.float32))
        self._neutral_image = None

    # --- public ---------------------------------------------------------------------------

    def push(self, frame: np.ndarray) -> LiveFrame:
        """The avatar's frame for this webcam frame (RGB uint8 [H, W, 3])."""
        img = self._prepare(frame)
        k = self._index
        self._index += 1
        self.stats.frames += 1
        lm = self._face(img)
        if lm is None:
            return self._hold(k)
        self.stats.faces += 1
        lm = self._smooth(lm.astype(np.float64))
        if self._basis is None:
            self._warm.append(lm)
            if len(self._warm) >= max(10, int(round(self.warmup_s * self.fps))):
                self._fit(img.shape)
            else:
                return self._neutral_frame(k, face=True)
        code, pose = self._encode(lm)
        self._since_update += 1
        if not self._coupled and len(self._codes) >= self.coupling_s * self.fps:
            self._couple()
        if self.calibration is None or self._since_update >= max(1, int(round(self.update_s * self.fps))):
            self._calibrate()
        t = transfer(code[None], pose[None], self.calibration, self.avatar_stats, scale=self.scale,
                     body=self.body, max_gain=self.max_gain, pose_margin=self.pose_margin)
        clamped = t.clamped.frames > 0
        self.stats.clamped += int(clamped)
        self._last = (t.expression[0], t.pose[0], t.body[0])
        image = self.avatar.render(*self._last)
        return LiveFrame(k, image, self._last[0], True, False, clamped)

    def close(self) -> None:
        self._face.close()

    def __enter__(self) -> "ReenactSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- internals ----------------------------------------------------------------------------

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        img = np.asarray(frame)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"frame: expected RGB uint8 [H, W, 3], got {img.dtype} {img.shape}")
        h, w = img.shape[:2]
        if max(h, w) > self.max_side:
            import cv2

            s = self.max_side / max(h, w)
            img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        if self._shape is None:
            self._shape = img.shape
        elif img.shape != self._shape:
            raise ValueError(f"frame {self._index}: {img.shape[:2]} after scaling, the stream's first was "
                             f"{self._shape[:2]}; one camera size per session")
        return np.ascontiguousarray(img)

    def _smooth(self, lm: np.ndarray) -> np.ndarray:
        from avatarzoo.trackers.mediapipe import SMOOTHING_UNITS

        if self._unit is None:
            self._unit = max(float(np.linalg.norm(lm[263, :2] - lm[33, :2])) / SMOOTHING_UNITS, 1e-6)
            sm = self.config.smoothing
            if sm.kind == "one-euro":
                self._filter = OneEuro(fps=self.fps, min_cutoff=sm.min_cutoff, beta=sm.beta, d_cutoff=sm.d_cutoff)
        if self._filter is None:
            return lm
        return self._filter(lm / self._unit) * self._unit

    def _fit(self, shape) -> None:
        """The warm-up's canonical face, camera and basis (no head-rotation coupling yet);
        its frames go into the history, but for the last: the frame that ended the warm-up
        is encoded next, as every later one (it was remembered twice before)."""
        from avatarzoo.trackers.expressions import fit_basis
        from avatarzoo.trackers.headpose import default_K, fit_canonical

        warm = np.stack(self._warm)
        self._canonical = fit_canonical(warm)
        self._K = default_K(shape[1], shape[0])
        aligned, angles, poses = self._measure(warm)
        self._basis = fit_basis(aligned, angles=None)
        self._warm = []
        for a, g, p, c in zip(aligned[:-1], angles[:-1], poses[:-1], self._codes_of(aligned[:-1], angles[:-1])):
            self._remember(a, g, p, c)

    def _couple(self) -> None:
        """Refit the basis with the head-rotation coupling on the history; re-encode it."""
        from avatarzoo.trackers.expressions import fit_basis

        aligned, angles = np.stack(self._aligned).astype(np.float64), np.stack(self._angles)
        self._basis = fit_basis(aligned, angles=angles)
        self._codes = deque(self._codes_of(aligned, angles), maxlen=self._codes.maxlen)
        self._coupled = True
        self._calibrate()

    def _measure(self, lms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(aligned meshes [N, L, 3], head angles [N, 3], poses [N, 4, 4]) of landmarks [N, L, 3]."""
        from avatarzoo.trackers.headpose import head_angles, similarity_align, solve_poses

        poses = solve_poses(lms, self._canonical, self._K)
        aligned, *_ = similarity_align(lms, self._canonical)
        return aligned, head_angles(poses), poses

    def _codes_of(self, aligned: np.ndarray, angles: np.ndarray) -> np.ndarray:
        """Codes [N, D] in the avatar's space (through a map when the tracker's differs)."""
        from avatarzoo.spaces import get_space
        from avatarzoo.trackers.expressions import encode

        codes = encode(aligned, self._basis, angles)  # pose_coef is 0 until `_couple`
        space = get_space(self.config.space)
        if space.name != self.avatar_stats.space.name:
            from avatarzoo.drive.offline import to_space

            codes = to_space(codes, space, self.avatar_stats.space, source="webcam")
        return codes.astype(np.float64)

    def _remember(self, aligned, angles, pose, code) -> None:
        self._aligned.append(np.asarray(aligned, np.float32))
        self._angles.append(angles)
        self._poses.append(pose)
        self._codes.append(code)

    def _encode(self, lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        aligned, angles, poses = self._measure(lm[None])
        code = self._codes_of(aligned, angles)[0]
        self._remember(aligned[0], angles[0], poses[0], code)
        return code, poses[0]

    def _calibrate(self) -> None:
        a = self.avatar_stats
        codes, poses = np.stack(self._codes), np.stack(self._poses)
        fitted = DriverStats.fit(codes, poses, space=a.space, source="webcam") if len(codes) >= 2 else None
        n = len(codes)
        n0 = self.prior_s * self.fps
        w = n / (n + n0)
        med = fitted.median if fitted else codes[0]
        up = w * ((fitted.high - fitted.median) if fitted else 0.0) + (1 - w) * (a.high - a.median)
        down = w * ((fitted.median - fitted.low) if fitted else 0.0) + (1 - w) * (a.median - a.low)
        mean_pose = fitted.pose_mean if fitted else poses[0]
        self.calibration = DriverStats(a.space, med, med - down, med + up, mean_pose, frames=n)
        self._since_update = 0
        self.stats.updates += 1

    def _neutral_frame(self, k: int, *, face: bool) -> LiveFrame:
        if self._neutral_image is None:
            self._neutral_image = self.avatar.render(*self._neutral)
        return LiveFrame(k, self._neutral_image, self._neutral[0], face, True, False)

    def _hold(self, k: int) -> LiveFrame:
        if self._last is None:
            return self._neutral_frame(k, face=False)
        return LiveFrame(k, self.avatar.render(*self._last), self._last[0], False, self.calibration is None, False)

