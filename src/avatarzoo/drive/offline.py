"""Offline reenactment: a driver (a video, frames, or a tracking in any space) → the
avatar's frames, into a video with the driver's audio.

1. Track: a video is ingested (static crop at `size`, person masks, audio) and tracked
   as `avatarzoo track` does (trackers/standalone.py: face mesh + head flow, with the
   avatar's own tracker settings) at the avatar's fps, the driver's canonical face,
   neutral and scales fitted on the driver's own frames. Frames are tracked with
   `track_frames`.
2. Space: a tracking in another space goes through a declared map into the avatar's
   (`maps`: `spaces.linear_map.LinearMap`s); none fitting is one error naming it.
3. Calibrate: the driver's neutral, range and mean pose over its own frames
   (`DriverStats.fit`), unless given.
4. Transfer (transfer.py) and render, `batch` frames at a time, straight into the video.

Shapes: N frames, D channels, S the avatar's side.
"""

from __future__ import annotations

import logging
import tempfile
import time as _time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avatarzoo.contracts.tracking import Tracking
from avatarzoo.drive.stats import AvatarStats, DriverStats
from avatarzoo.drive.transfer import MAX_GAIN, POSE_MARGIN, BodyMode, Scale, Transfer, transfer
from avatarzoo.errors import InputError, SpaceError

if TYPE_CHECKING:
    from avatarzoo.spaces.linear_map import LinearMap

log = logging.getLogger("avatarzoo.drive")

#: Side of the driver's crop for tracking (the face mesh sees 192² internally; the
#: flows and Pose gain nothing from more).
TRACK_SIZE = 256
SAMPLE_RATE = 16_000

#: Defaults chosen by benchmarks/reenact.py (BENCHMARKS.md, "Reenactment").
DEFAULT_SCALE: Scale = "region"
DEFAULT_BODY: BodyMode = "head"


@dataclass(frozen=True, eq=False)
class Driver:
    """A tracked driver: its `tracking` (in its own space), the `audio` that goes with its
    first frame (float32 16 kHz, or None), where it came from, the `frames` it was tracked
    from when they are still at hand ([N, S', S', 3] uint8, for side-by-side videos) and
    the seconds its tracking took."""

    tracking: Tracking
    audio: np.ndarray | None
    source: str
    frames: Any = None
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class Reenactment:
    """What `reenact` did: the avatar's inputs (`transfer`: expression, pose, body and the
    clamp counts), the driver and its statistics (in the avatar's space), the video
    written (or None) and the seconds each step took."""

    transfer: Transfer
    driver: Driver
    driver_stats: DriverStats
    out: Path | None
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        n = len(self.transfer)
        total = sum(self.seconds.values())
        fps = f", {n / total:.1f} frames/s in all" if total > 0 else ""
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        return (f"{n} frames from {self.driver.source}; {self.transfer.clamped.summary()}; "
                f"{steps}{fps}")


# --- 1. the driver ---------------------------------------------------------------------------


def tracker_config(avatar):
    """The avatar's own built-in tracker settings (smoothing, flows), so that the driver
    is tracked as the avatar was; the defaults when the avatar was built from an import."""
    from avatarzoo.recipe.trackers import MediapipeTrackerConfig

    cfg = (avatar.bundle.config.get("recipe") or {}).get("tracker") or {}
    if cfg.get("kind") == "mediapipe":
        return MediapipeTrackerConfig.model_validate(cfg)
    return MediapipeTrackerConfig()


def track_video(video: Path | str, *, fps: float, size: int = TRACK_SIZE, work: Path, config=None,
                with_body: bool = False, progress=None) -> Driver:
    """Ingest and track `video` into the directory `work` (the same functions as
    `avatarzoo track`); the Driver keeps the ingest frames (a memmap inside `work`)."""
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.recipe.models import MediapipeTrackerConfig
    from avatarzoo.trackers.standalone import ingest_and_track, standalone_recording

    video = Path(video)
    if not video.is_file():
        raise InputError(f"{video}: no such video file")
    started = _time.perf_counter()
    # Unless the driver's body is played, no torso flow and Pose once a second only (for
    # the Tracking's body field): the avatar's body follows its own head.
    config = config or MediapipeTrackerConfig()
    stride = None
    if not with_body:
        config, stride = config.model_copy(update={"torso": "pose"}), max(1, int(round(fps)))
    tracking = ingest_and_track(video, work / "ingest", work / "track",
                                recording=standalone_recording(video, fps=fps, size=size), config=config,
                                body_stride=stride, progress=progress,
                                log=logging.getLogger("avatarzoo.drive.track"))
    up = IngestOutput.open(work / "ingest")
    audio = None
    if up.info.audio is not None:
        audio = np.array(up.audio()[up.audio_at(0):], dtype=np.float32)
    return Driver(tracking, audio, str(video), frames=up.frames, seconds=_time.perf_counter() - started)


def track_array(frames: np.ndarray, *, fps: float, source: str = "frames", config=None,
                progress=None) -> Driver:
    """Track RGB uint8 frames [N, H, W, 3] of one clip with the built-in tracker."""
    from avatarzoo.trackers.mediapipe import track_frames

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 [N, H, W, 3], got {frames.dtype} {frames.shape}")
    started = _time.perf_counter()
    tracking = track_frames((np.ascontiguousarray(f) for f in frames), fps=fps, source=source,
                            config=config, progress=progress)
    return Driver(tracking, None, source, frames=frames, seconds=_time.perf_counter() - started)


@dataclass(frozen=True)
class Anchor:
    """A picture of a subject whose head pose and body points are known in its own
    tracking's units: image uint8 [S, S, 3], pose [4, 4] (head → camera), body [Bp, 2]."""

    image: np.ndarray
    pose: np.ndarray
    body: np.ndarray

    @classmethod
    def of_avatar(cls, avatar) -> "Anchor":
        """The avatar rendered at its neutral (mean expression, neutral head pose and
        body: `Avatar.render()`'s defaults), which it places exactly where it was told."""
        t = avatar.bundle.tensors("tracking.")
        return cls(avatar.render(), t["pose_neutral"].cpu().numpy().astype(np.float64),
                   t["body_neutral"].cpu().numpy().astype(np.float64))


def track_as(reference: Tracking, frames: np.ndarray, *, fps: float, masks: np.ndarray | None = None,
             config=None, source: str = "frames", anchor: Anchor | None = None) -> Tracking:
    """Frames [N, S, S, 3] of the subject of `reference` (its recording's crop: held-out
    frames, or renders of its avatar) tracked in its own units: its canonical face,
    camera and expression basis (`track_frames(reference=...)`), then, given the person
    masks [N, S, S], the head and torso flows of the track stage on these frames.

    `anchor` (with masks): a picture of the subject whose head pose and body points are
    known in the reference's units (`Anchor.of_avatar`); both flows then start from it
    (headflow.follow_head(anchored=True), torso.body_from_anchor), so that pose and
    body land where the reference's own track would put them, not where these frames'
    own face-mesh mean and Pose median do (on 50 held-out frames of the demo: body 0.99
    → 0.31 px from the track stage's, renders −4.0 → −0.3 dB, BENCHMARKS.md)."""
    from avatarzoo.trackers.mediapipe import track_frames
    from avatarzoo.trackers.stage import follow_torso, refine_head

    frames = np.asarray(frames)
    tracking = track_frames((np.ascontiguousarray(f) for f in frames), fps=fps, reference=reference,
                            config=config, source=source)
    if masks is not None:
        quiet = logging.getLogger("avatarzoo.drive.track")
        n = len(frames)
        if anchor is None:
            tracking, _ = refine_head(tracking, frames, masks, holdout_start=n, log=quiet, source=source)
            tracking, _ = follow_torso(tracking, frames, masks, holdout_start=n, log=quiet, source=source)
        else:
            tracking = _follow_from(anchor, tracking, frames, masks, log=quiet, source=source)
    return tracking


def _follow_from(anchor: Anchor, tracking: Tracking, frames: np.ndarray, masks: np.ndarray, *,
                 log: logging.Logger, source: str) -> Tracking:
    """`tracking` of `frames` with head poses and body points followed from `anchor`
    (its picture prepended as frame 0 of the flows); a flow that finds too few corners
    on the anchor leaves the face-mesh poses or the Pose body, with a warning."""
    from avatarzoo.trackers.headflow import follow_head
    from avatarzoo.trackers.headpose import project
    from avatarzoo.trackers.torso import body_from_anchor

    image = np.asarray(anchor.image)
    if image.shape != frames.shape[1:]:
        raise ValueError(f"anchor image {image.shape} is not a frame {frames.shape[1:]}")
    K, canonical = tracking.K.astype(np.float64), tracking.canonical.astype(np.float64)
    lm = tracking.landmarks.astype(np.float64)
    anchor_lm = np.zeros_like(lm[0])  # the neutral face where the anchor's pose puts it
    anchor_lm[:, :2] = project(canonical, anchor.pose[None], K)[0]
    # the anchor as frame 0 of both flows; its masks are the first real frame's (the
    # torso and head regions to pick corners in: the same person in the same seat)
    stack = np.concatenate([image[None], frames])  # [1 + N, S, S, 3]
    stack_masks = np.concatenate([masks[:1], masks])
    flow = follow_head(stack, stack_masks, np.concatenate([anchor_lm[None], lm]),
                       np.concatenate([anchor.pose[None], tracking.pose.astype(np.float64)]), K, canonical,
                       np.array([0]), anchored=True)
    if flow is None:
        log.warning("%s: too few corners on the anchor's head; keeping the face-mesh head poses", source)
    else:
        tracking = tracking.replace(pose=flow.poses[1:].astype(np.float32))
    body = body_from_anchor(stack, stack_masks, np.concatenate([lm[:1], lm]), anchor.body)
    if body is None:
        log.warning("%s: too few corners on the anchor's torso; the torso moves with the Pose shoulders", source)
        return tracking
    return tracking.replace(body=body.astype(np.float32))


def open_driver(driver, *, fps: float, work: Path, audio=None, size: int = TRACK_SIZE, config=None,
                with_body: bool = False, progress=None) -> Driver:
    """A video path, a tracking.safetensors (or a directory holding one), a `Tracking`,
    or frames [N, H, W, 3] → a Driver at `fps`. `audio` (a file or 16 kHz samples)
    replaces the driver's own."""
    if isinstance(driver, Driver):
        d = driver
    elif isinstance(driver, Tracking):
        d = Driver(_at_fps(driver, fps, "tracking"), None, "tracking")
    elif isinstance(driver, np.ndarray):
        d = track_array(driver, fps=fps, config=config, progress=progress)
    elif isinstance(driver, (str, Path)):
        path = Path(driver)
        if path.is_dir() and (path / "tracking.safetensors").is_file():
            path = path / "tracking.safetensors"
        if path.suffix == ".safetensors":
            d = Driver(_at_fps(Tracking.load(path), fps, str(path)), None, str(path))
        else:
            d = track_video(path, fps=fps, size=size, work=work, config=config, with_body=with_body,
                            progress=progress)
    else:
        raise TypeError(f"driver: expected a video or tracking path, a Tracking or frames, got {type(driver).__name__}")
    if audio is not None:
        from avatarzoo.runtime.speech import as_samples

        d = Driver(d.tracking, as_samples(audio), d.source, d.frames, d.seconds)
    return d


def _at_fps(tracking: Tracking, fps: float, source: str) -> Tracking:
    """`tracking` on the grid t0 + k / fps (linear in codes, translations and rotation
    entries, rotations projected back onto SO(3)); unchanged when already on it."""
    t = np.asarray(tracking.time, np.float64)
    if len(t) < 2:
        return tracking
    step = float(np.median(np.diff(t)))
    if step <= 0:
        raise InputError(f"{source}: frame times do not increase")
    if abs(step * fps - 1.0) < 0.01:
        return tracking
    grid = t[0] + np.arange(int(np.floor((t[-1] - t[0]) * fps + 1e-6)) + 1) / fps

    def interp(x: np.ndarray) -> np.ndarray:
        flat = np.asarray(x, np.float64).reshape(len(t), -1)
        out = np.stack([np.interp(grid, t, flat[:, j]) for j in range(flat.shape[1])], 1)
        return out.reshape(len(grid), *x.shape[1:])

    pose = interp(tracking.pose)
    u, _, vt = np.linalg.svd(pose[:, :3, :3])
    pose[:, :3, :3] = u @ vt
    valid = np.interp(grid, t, tracking.valid.astype(np.float64)) > 0.5
    return tracking.replace(expression=interp(tracking.expression).astype(np.float32), pose=pose.astype(np.float32),
                            landmarks=interp(tracking.landmarks).astype(np.float32),
                            body=interp(tracking.body).astype(np.float32), valid=valid, time=grid,
                            extras={})


# --- 2. spaces ----------------------------------------------------------------------------


def load_map(path: Path | str) -> "LinearMap":
    """A `LinearMap` file (`LinearMap.save`); an unreadable one is an error naming it."""
    from avatarzoo.spaces.linear_map import LinearMap

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such map file (a LinearMap .safetensors)")
    try:
        return LinearMap.load(path)
    except SpaceError as e:
        raise SpaceError(f"{path}: {e}") from None
    except Exception as e:  # safetensors' own errors for a file that is not one
        raise InputError(f"{path}: not a LinearMap file ({e})") from None


def to_space(expression: np.ndarray, source_space, target_space, maps: Sequence["LinearMap"] = (), *,
             source: str = "driver") -> np.ndarray:
    """The codes [N, D_source] in `target_space`: unchanged when the spaces are one, else
    through the one map in `maps` from the first to the second; none is one error."""
    if source_space.name == target_space.name:
        if source_space.dim != target_space.dim:
            raise SpaceError(f"{source}: space '{source_space.name}' has {source_space.dim} channels here and "
                             f"{target_space.dim} in the avatar")
        return np.asarray(expression, np.float32)
    for m in maps:
        if m.source.name == source_space.name and m.target.name == target_space.name:
            return m.apply(expression)
    have = ", ".join(f"{m.source.name} → {m.target.name}" for m in maps) or "none"
    raise SpaceError(
        f"{source}: codes in '{source_space.name}', the avatar renders '{target_space.name}': no map "
        f"{source_space.name} → {target_space.name} (maps given: {have}); pass one with --map FILE "
        f"(a LinearMap .safetensors fitted on paired tracking, spaces/linear_map.py)")


# --- 3-4. transfer and render --------------------------------------------------------------------


def reenact(avatar, driver, out: Path | str | None = None, *, maps: Sequence["LinearMap"] = (),
            calibration: DriverStats | None = None, audio=None, scale: Scale = DEFAULT_SCALE,
            body: BodyMode = DEFAULT_BODY, max_gain: float = MAX_GAIN, pose_margin: float = POSE_MARGIN,
            size: int = TRACK_SIZE, side_by_side: bool = False, batch: int = 8, progress=None) -> Reenactment:
    """`avatar` (a runtime Avatar) playing `driver` (see `open_driver`); the frames go to
    the video `out` (with the driver's audio, or `audio`) when given. `calibration`:
    the driver's statistics (default: fitted on its own frames; `DriverStats.of_avatar`
    makes the avatar its own driver). `side_by_side`: the video shows driver | avatar."""
    stats = AvatarStats.from_bundle(avatar.bundle)
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="avatarzoo-drive-") as tmp:
        d = open_driver(driver, fps=avatar.fps, work=Path(tmp), audio=audio, size=size,
                        config=tracker_config(avatar), with_body=body == "driver", progress=progress)
        seconds["track"] = d.seconds
        started = _time.perf_counter()
        tr = d.tracking
        codes = to_space(tr.expression, tr.space, stats.space, maps, source=d.source)
        cal = calibration or DriverStats.fit(codes, tr.pose, tr.valid, space=stats.space, body=tr.body,
                                             landmarks=tr.landmarks, source=d.source)
        result = transfer(codes, tr.pose, cal, stats, scale=scale, body=body, max_gain=max_gain,
                          pose_margin=pose_margin, driver_body=tr.body)
        seconds["transfer"] = _time.perf_counter() - started
        written = None
        started = _time.perf_counter()
        if out is not None:
            from avatarzoo.media import write_video

            frames = render_transfer(avatar, result, batch=batch)
            if side_by_side:
                if d.frames is None:
                    raise InputError(f"{d.source}: a side-by-side video needs the driver's frames (a video or frames, "
                                     "not a tracking)")
                frames = _beside(d.frames, frames, avatar.size)
            written = write_video(out, frames, fps=avatar.fps, audio=d.audio, sample_rate=SAMPLE_RATE)
        seconds["render"] = _time.perf_counter() - started
        return Reenactment(result, Driver(d.tracking, d.audio, d.source, None, d.seconds), cal, written, seconds)


def render_transfer(avatar, result: Transfer, *, batch: int = 8) -> Iterator[np.ndarray]:
    """The avatar's frames [S, S, 3] of `result`, rendered `batch` at a time."""
    for i in range(0, len(result), batch):
        yield from avatar.render(result.expression[i:i + batch], result.pose[i:i + batch], result.body[i:i + batch])


def _beside(driver_frames, frames: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """driver | avatar, the driver's frame scaled to the avatar's height (even width)."""
    import cv2

    for k, frame in enumerate(frames):
        left = np.asarray(driver_frames[min(k, len(driver_frames) - 1)])
        h, w = left.shape[:2]
        width = max(2, int(round(w * size / h / 2)) * 2)
        if (h, w) != (size, width):
            left = cv2.resize(left, (width, size), interpolation=cv2.INTER_AREA if h > size else cv2.INTER_LINEAR)
        yield np.concatenate([left, frame], axis=1)
