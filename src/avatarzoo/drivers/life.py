"""Idle life: blinks, gaze and head/torso motion for a speech-driven avatar, re-sequenced
from the recording's own training frames.

Speech says little about when a person blinks or where they look, and a regression
from speech to those channels learns their mean: a stare. So the driver does not
predict them. Instead `LifeModel` keeps the recording's own eye and gaze channels and
its head and torso motion (relative to the mean pose) over the training frames, and
plays them back as a seeded sequence of 2–4 s segments, cut only where the eyes are
open and the gaze is still and cross-faded, so that the blink rate, the blink shape,
the gaze shifts and the sway are this person's, without repeating a fixed loop. Head
and torso motion is scaled by speech activity (`activity_gain`: full while speaking,
`idle_gain` in silence), a documented choice: the head moves as it did while this
person talked, and calms down when they stop.

The same sequence comes out offline (`generate(n)`) and streamed (`LifeStream.take`),
frame for frame, for a given seed.

Shapes: M training frames, C life channels, Bp body points, n generated frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatarzoo.geometry import matrix_to_rotvec, rigid_mean, rotvec_to_matrix

SEGMENT_S = (2.0, 4.0)  # lengths of the re-sequenced segments
CROSSFADE_S = 0.24
IDLE_GAIN = 0.5  # head/torso motion in silence, as a fraction of the speaking motion


@dataclass(frozen=True)
class LifeMotion:
    """Generated life for n frames: expression channels [n, C] (`LifeModel.channels` of
    the space), head pose [n, 4, 4] (canonical head → camera) and body points [n, Bp, 2]."""

    expression: np.ndarray
    pose: np.ndarray
    body: np.ndarray


@dataclass(frozen=True)
class LifeModel:
    """The recording's own life channels and motion over its M training frames.

    channels: indices of the expression channels it drives (the eyes and gaze regions).
    expression: float32 [M, C]; pose6: float32 [M, 6] head rotation vector (rad) and
    translation relative to `ref_pose`; body: float32 [M, Bp, 2] body points minus
    `body_mean`; cuts: int64 [K] frames where a segment may start or end (eyes open,
    gaze still)."""

    fps: float
    channels: tuple[int, ...]
    expression: np.ndarray
    pose6: np.ndarray
    body: np.ndarray
    ref_pose: np.ndarray  # [4, 4]
    body_mean: np.ndarray  # [Bp, 2]
    cuts: np.ndarray

    @classmethod
    def fit(cls, expression: np.ndarray, pose: np.ndarray, body: np.ndarray, *, fps: float,
            channels: tuple[int, ...], blink: np.ndarray, gaze: np.ndarray) -> "LifeModel":
        """From the training frames' tracking: expression [M, D], pose [M, 4, 4], body
        [M, Bp, 2], and the blink [M] and gaze [M, 2] signals that decide the cuts."""
        m = len(expression)
        if not (len(pose) == len(body) == len(blink) == len(gaze) == m):
            raise ValueError("LifeModel.fit: expression, pose, body, blink and gaze need the same frames")
        if m < int(2 * SEGMENT_S[0] * fps):
            raise ValueError(f"LifeModel.fit: {m} frames; at least {2 * SEGMENT_S[0]:.0f} s of training frames needed")
        ref = rigid_mean(pose)
        rel_r = np.einsum("ji,njk->nik", ref[:3, :3], pose[:, :3, :3])  # ref^T R
        pose6 = np.concatenate([matrix_to_rotvec(rel_r), pose[:, :3, 3] - ref[:3, 3]], axis=1)
        body_mean = body.mean(0)
        speed = np.r_[0.0, np.linalg.norm(np.diff(gaze, axis=0), axis=1)]
        calm = (blink < np.percentile(blink, 60)) & (speed <= np.percentile(speed, 60))
        cuts = np.flatnonzero(calm)
        if len(cuts) < 4:
            cuts = np.arange(m)
        return cls(fps, tuple(int(c) for c in channels), expression[:, list(channels)].astype(np.float32),
                   pose6.astype(np.float32), (body - body_mean).astype(np.float32), ref.astype(np.float32),
                   body_mean.astype(np.float32), cuts.astype(np.int64))

    # --- tensors in the bundle ----------------------------------------------------

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"expression": self.expression, "pose6": self.pose6, "body": self.body,
                "ref_pose": self.ref_pose, "body_mean": self.body_mean, "cuts": self.cuts,
                "channels": np.asarray(self.channels, np.int64)}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray], *, fps: float) -> "LifeModel":
        m = a["expression"].shape[0]
        bad = [k for k in ("pose6", "body") if a[k].shape[0] != m]
        if bad or a["expression"].shape[1] != len(a["channels"]) or not (0 <= a["cuts"]).all() \
                or not (a["cuts"] < m).all():
            raise ValueError("life tensors do not fit together (frames, channels or cuts)")
        return cls(fps, tuple(int(c) for c in a["channels"]), a["expression"], a["pose6"], a["body"],
                   a["ref_pose"], a["body_mean"], a["cuts"])

    # --- generation ----------------------------------------------------------------

    def stream(self, seed: int = 0) -> "LifeStream":
        return LifeStream(self, seed)

    def generate(self, n: int, *, seed: int = 0, activity: np.ndarray | None = None) -> LifeMotion:
        """n frames of life; `activity` [n] in [0, 1] (speech activity) scales the head
        and torso motion between IDLE_GAIN (silence) and 1 (speech)."""
        return self.stream(seed).take(n, activity)

    def compose(self, expr: np.ndarray, pose6: np.ndarray, body: np.ndarray,
                activity: np.ndarray | None) -> LifeMotion:
        """Relative motion [n, ...] → absolute pose and body, scaled by activity."""
        n = len(expr)
        gain = np.ones(n) if activity is None else IDLE_GAIN + (1 - IDLE_GAIN) * np.clip(activity, 0, 1)
        pose6 = pose6 * gain[:, None]
        pose = np.tile(np.eye(4), (n, 1, 1))
        pose[:, :3, :3] = np.einsum("ij,njk->nik", self.ref_pose[:3, :3].astype(np.float64),
                                    rotvec_to_matrix(pose6[:, :3]))
        pose[:, :3, 3] = self.ref_pose[:3, 3] + pose6[:, 3:]
        body = self.body_mean + body * gain[:, None, None]
        return LifeMotion(expr.astype(np.float32), pose.astype(np.float32), body.astype(np.float32))


class LifeStream:
    """The seeded sequence of cross-faded segments, taken a few frames at a time."""

    def __init__(self, model: LifeModel, seed: int):
        self.model = model
        self.rng = np.random.default_rng(seed)
        self.fade = max(1, int(round(CROSSFADE_S * model.fps)))
        self._buffer = np.zeros((0, model.expression.shape[1] + 6 + model.body[0].size), np.float32)
        self._tail: np.ndarray | None = None  # the last `fade` frames of the previous segment

    def _rows(self, a: slice) -> np.ndarray:
        m = self.model
        return np.concatenate([m.expression[a], m.pose6[a], m.body[a].reshape(len(m.body[a]), -1)], axis=1)

    def _segment(self) -> np.ndarray:
        """A segment that starts and ends on calm frames (eyes open, gaze still), so that
        no blink is cut in two by a cross-fade."""
        m = self.model
        lo, hi = (int(round(s * m.fps)) for s in SEGMENT_S)
        length = int(self.rng.integers(lo, hi + 1))
        n = len(m.expression)
        starts = m.cuts[m.cuts + lo + self.fade <= n]
        # the first cut at or after a frame drawn uniformly in time: each cut weighted by
        # the frames since the previous one. Uniform over the cuts instead, a blink in a
        # restless stretch (few cuts around it) was played 1 time in 5 of its share
        # (a 4/min recording gave 0-1 blinks/min)
        gaps = np.diff(starts, prepend=-1).astype(np.float64)
        start = int(self.rng.choice(starts, p=gaps / gaps.sum())) if len(starts) else 0
        ends = m.cuts[(m.cuts >= start + lo) & (m.cuts <= min(start + hi, n - self.fade))]
        stop = int(ends[np.argmin(np.abs(ends - (start + length)))]) if len(ends) else min(start + length, n - self.fade)
        return self._rows(slice(start, stop + self.fade))

    def _more(self) -> None:
        seg = self._segment()
        if self._tail is not None:  # cross-fade the previous segment's tail into this head
            k = min(self.fade, len(seg), len(self._tail))
            w = (np.arange(1, k + 1) / (k + 1))[:, None]
            seg = seg.copy()
            seg[:k] = (1 - w) * self._tail[:k] + w * seg[:k]
        body, self._tail = seg[:-self.fade], seg[-self.fade:]
        self._buffer = np.concatenate([self._buffer, body])

    def take(self, n: int, activity: np.ndarray | None = None) -> LifeMotion:
        """The next n frames (activity [n] as in `LifeModel.generate`)."""
        while len(self._buffer) < n:
            self._more()
        rows, self._buffer = self._buffer[:n], self._buffer[n:]
        c = self.model.expression.shape[1]
        body = rows[:, c + 6:].reshape((n,) + self.model.body_mean.shape)
        return self.model.compose(rows[:, :c], rows[:, c:c + 6], body, activity)
