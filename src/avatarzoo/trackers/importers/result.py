"""`ImportedTracking`, what every importer returns, and `resample` onto other frame times.

Shapes: N imported samples, M query times, D the space's dimension, E an extra's width.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from avatarzoo.errors import InputError
from avatarzoo.spaces import get_space

PoseKind = Literal["rigid", "rotation"]


@dataclass(frozen=True, eq=False)  # arrays: compare fields explicitly
class ImportedTracking:
    """Another tracker's output, read as written and put into avatarzoo's conventions.

    Attributes:
        space: name of the registered expression space of `expression`.
        expression: float32 [N, D] codes, channel for channel as the native file holds them.
        time: float64 [N] seconds, strictly increasing. Frame-indexed formats give
            `frame_id / fps`; timecoded ones seconds after `time_origin`.
        pose: float32 [N, 4, 4] head pose, canonical head coords of that tracker's model
            (FLAME, BFM, ARKit face anchor; in its units) -> OpenCV camera coords
            (x right, y down, z forward), so `x_cam = pose[:3, :3] @ x + pose[:3, 3]`;
            None when the format has no head pose.
        pose_kind: "rigid" (rotation and translation) or "rotation" (translation unknown,
            set to 0); None exactly when `pose` is None.
        extras: per-sample float arrays [N, ...] a format carries beside the code (e.g.
            metrical-tracker's per-frame `K`); resampled with the rest.
        time_origin: seconds subtracted from the native times (Live Link Face: the first
            row's timecode, seconds since midnight); 0 for frame-indexed formats.
        source: the file or directory read, for messages.
    """

    space: str
    expression: np.ndarray
    time: np.ndarray
    pose: np.ndarray | None
    pose_kind: PoseKind | None
    source: Path
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    time_origin: float = 0.0

    def __post_init__(self) -> None:
        dim = get_space(self.space).dim
        n = len(self.time)
        _check(self.expression, "expression", (n, dim), np.float32)
        _check(self.time, "time", (n,), np.float64)
        if n == 0:
            raise InputError(f"{self.source}: no frames to import")
        if not np.all(np.diff(self.time) > 0):
            i = int(np.argmin(np.diff(self.time)))
            raise InputError(
                f"{self.source}: sample {i + 1} is at {self.time[i + 1]:.6f} s, not after"
                f" sample {i} at {self.time[i]:.6f} s; times must strictly increase"
            )
        if (self.pose is None) != (self.pose_kind is None):
            raise ValueError("pose and pose_kind must be given together")
        if self.pose is not None:
            _check(self.pose, "pose", (n, 4, 4), np.float32)
        for key, value in self.extras.items():
            if value.ndim < 1 or value.shape[0] != n:
                raise ValueError(f"extras['{key}'] has shape {value.shape}, expected [{n}, ...]")

    def __len__(self) -> int:
        return len(self.time)


def _check(array: np.ndarray, name: str, shape: tuple[int, ...], dtype: type) -> None:
    if not isinstance(array, np.ndarray) or array.shape != shape or array.dtype != dtype:
        got = (array.shape, array.dtype) if isinstance(array, np.ndarray) else type(array)
        raise ValueError(f"{name}: expected {np.dtype(dtype)} array {list(shape)}, got {got}")


def resample(
    result: ImportedTracking,
    times: np.ndarray,  # [M] float64 seconds
    *,
    tolerance: float | None = None,
) -> ImportedTracking:
    """`result` at `times` by linear interpolation between the two nearest samples.

    Expression channels and extras interpolate linearly (FLAME's 6D rotations too: they
    are continuous and neighbouring frames are close). Pose rotations interpolate
    linearly and are projected back onto SO(3) (nearest rotation, by SVD); translations
    interpolate linearly.

    Args:
        result: an imported sequence, N >= 1 samples.
        times: [M] query times in the same clock as `result.time` (seconds).
        tolerance: how far outside the imported range a query may fall and take the end
            value; default half the median sample interval (a frame's worth of slack at
            both ends), 0 for a single sample.

    Raises:
        InputError: a query time outside the imported range, naming both ranges.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"times: expected [M] seconds, got shape {list(times.shape)}")
    t = result.time
    if tolerance is None:
        tolerance = 0.5 * float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    if len(times) and (times.min() < t[0] - tolerance or times.max() > t[-1] + tolerance):
        raise InputError(
            f"{result.source}: the imported tracking covers {t[0]:.3f}..{t[-1]:.3f} s"
            f" ({len(t)} samples), the recording needs {times.min():.3f}..{times.max():.3f} s;"
            " import tracking of the whole recording, or trim the recording to it"
        )
    lo, w = _brackets(t, times)
    hi = np.minimum(lo + 1, len(t) - 1)

    def lerp(a: np.ndarray) -> np.ndarray:
        wa = w.reshape((-1,) + (1,) * (a.ndim - 1))
        return ((1.0 - wa) * a[lo] + wa * a[hi]).astype(a.dtype)

    pose = None
    if result.pose is not None:
        pose = lerp(result.pose.astype(np.float64))
        pose[:, :3, :3] = nearest_rotation(pose[:, :3, :3])
        pose = pose.astype(np.float32)
    return replace(
        result,
        expression=lerp(result.expression),
        time=times.copy(),
        pose=pose,
        extras={k: lerp(v) for k, v in result.extras.items()},
    )


def _brackets(t: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query q[m]: the index i with t[i] <= q[m] < t[i+1] and the weight of t[i+1].

    Queries outside [t[0], t[-1]] clamp to the end sample (weight 0 or 1).
    Returns: lo [M] int, w [M] float64 in [0, 1].
    """
    if len(t) == 1:
        return np.zeros(len(q), dtype=np.int64), np.zeros(len(q))
    lo = np.clip(np.searchsorted(t, q, side="right") - 1, 0, len(t) - 2)
    w = np.clip((q - t[lo]) / (t[lo + 1] - t[lo]), 0.0, 1.0)
    return lo, w


def nearest_rotation(m: np.ndarray) -> np.ndarray:
    """The rotation nearest (Frobenius) to each matrix: [..., 3, 3] -> [..., 3, 3]."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= d[..., None]
    return u @ vt
