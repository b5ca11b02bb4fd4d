"""Stage `track` for tracker kind `mediapipe`: `track_ingested` on the ingest output.

Reads the ingest output (`frames.npy` memmap, `time.npy`, `ingest.json`), writes
`tracking.safetensors` (docs/ARCHITECTURE.md, "track output"), `contact_sheet.png`,
`channels.png` and `track.json` (a summary: missing frames, body sway, timings).
The subject's canonical face and expression basis are fitted on the training frames
only (`[0, holdout_start)`); held-out frames are tracked with them.
"""

from __future__ import annotations

import logging
import time as _time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avatarzoo.contracts.tracking import Tracking

if TYPE_CHECKING:
    from avatarzoo.recipe.trackers import MediapipeTrackerConfig
    from avatarzoo.stages.context import StageContext


def run(ctx: "StageContext") -> None:
    track_ingested(ctx.inputs["ingest"], ctx.out, config=ctx.recipe.tracker, progress=ctx.progress,
                   log=ctx.log)


def track_ingested(
    ingest_dir: Path,
    out: Path,
    *,
    config: "MediapipeTrackerConfig | None" = None,
    progress=None,
    log: logging.Logger | None = None,
    body_stride: int | None = None,
) -> Tracking:
    """Track an ingest output directory into `out`; returns the Tracking."""
    from avatarzoo.contracts.ingest import IngestOutput
    from avatarzoo.trackers.mediapipe import track_frames
    from avatarzoo.trackers.preview import channel_plot, contact_sheet

    out = Path(out)
    log = log or logging.getLogger("avatarzoo.trackers")
    ingest = IngestOutput.open(ingest_dir)
    info, frames = ingest.info, ingest.frames
    hold = info.holdout_start
    source = info.source.get("file", str(ingest_dir))
    started = _time.perf_counter()
    tracking = track_frames(
        frames, fps=info.fps, config=config, progress=progress, fit_until=hold, time=ingest.time,
        source=source, body_stride=body_stride,
    )
    head = torso = None
    masks = ingest.masks
    if masks is not None:
        if config is None or config.head == "flow":
            tracking, head = refine_head(tracking, frames, masks, holdout_start=hold, log=log, source=source)
        if config is None or config.torso == "flow":
            tracking, torso = follow_torso(tracking, frames, masks, holdout_start=hold, log=log, source=source)
    seconds = _time.perf_counter() - started
    out.mkdir(parents=True, exist_ok=True)
    tracking.save(out / "tracking.safetensors")
    contact_sheet(frames, tracking, out / "contact_sheet.png")
    channel_plot(tracking, out / "channels.png", holdout_start=hold)
    summary = summarize(tracking, holdout_start=hold, size=info.size)
    summary["head"] = head
    summary["torso"] = torso
    summary["track_seconds"] = seconds
    summary["track_fps"] = len(tracking) / seconds if seconds > 0 else None
    from avatarzoo.files import atomic_write_json

    atomic_write_json(out / "track.json", summary)
    log.info("tracked %d frames in %.1f s (%.1f frames/s); face missing in %d; neck base sway %.1f px (std), "
             "train vs held-out mean %.1f px", len(tracking), seconds, summary["track_fps"] or 0,
             summary["missing_frames"], summary["body"]["neck_base_std_px"], summary["body"]["train_vs_holdout_px"])
    return tracking


def _train_candidates(tracking: Tracking, holdout_start: int) -> np.ndarray:
    """Training frames with a face: where reference frames are picked."""
    train = np.arange(min(max(holdout_start, 1), len(tracking)))
    return train[tracking.valid[train]] if tracking.valid[train].any() else train


def refine_head(tracking: Tracking, frames: np.ndarray, masks: np.ndarray, *, holdout_start: int,
                log: logging.Logger, source: str) -> tuple[Tracking, dict]:
    """The tracking with its head poses refined by flow-tracked rigid head points
    (trackers/headflow.py), and a summary for track.json."""
    from dataclasses import replace

    from avatarzoo.trackers.headflow import follow_head
    from avatarzoo.trackers.headpose import head_angles

    flow = follow_head(frames, masks, tracking.landmarks.astype(np.float64), tracking.pose.astype(np.float64),
                       tracking.K.astype(np.float64), tracking.canonical.astype(np.float64),
                       _train_candidates(tracking, holdout_start))
    if flow is None:
        log.warning("%s: too few corners on the head to follow it; keeping the face-mesh head poses", source)
        return tracking, {"method": "landmarks"}
    moved_cm = np.linalg.norm(flow.poses[:, :3, 3] - tracking.pose[:, :3, 3], axis=-1)
    turned_deg = np.abs(head_angles(flow.poses) - head_angles(tracking.pose.astype(np.float64))).max(-1)
    summary = {"method": "flow", "reference_frame": flow.reference, "points": flow.points,
               "median_inliers": float(np.median(flow.inliers)), "kept_face_mesh_frames": int((~flow.ok).sum()),
               "change_vs_face_mesh": {"translation_cm_mean": float(moved_cm.mean()),
                                       "rotation_deg_mean": float(turned_deg.mean())}}
    log.info("head: %d points followed from frame %d, median %d inliers, face-mesh pose kept in %d frames; "
             "moved the face-mesh poses by %.2f cm / %.2f° on average", flow.points, flow.reference,
             summary["median_inliers"], summary["kept_face_mesh_frames"], moved_cm.mean(), turned_deg.mean())
    extras = {**tracking.extras, "head_flow_ok": flow.ok}
    return replace(tracking, pose=flow.poses.astype(np.float32), extras=extras), summary


def follow_torso(tracking: Tracking, frames: np.ndarray, masks: np.ndarray, *, holdout_start: int,
                 log: logging.Logger, source: str) -> tuple[Tracking, dict]:
    """The tracking with its body points moved by the optical-flow torso track
    (trackers/torso.py), and a summary for track.json. Keeps the Pose body, with a
    warning, when the torso has too few corners to follow."""
    from dataclasses import replace

    from avatarzoo.trackers.mediapipe import format_ranges, missing_ranges
    from avatarzoo.trackers.torso import body_from_torso, follow

    pose_ok = np.asarray(tracking.extras.get("body_valid", np.ones(len(tracking), bool)), bool)
    track = follow(frames, masks, tracking.landmarks.astype(np.float64), _train_candidates(tracking, holdout_start))
    if track is None:
        log.warning("%s: too few corners on the torso to follow it; the torso moves with the Pose "
                    "shoulders", source)
        return tracking, {"method": "pose"}
    body = body_from_torso(track, tracking.body.astype(np.float64), pose_ok)
    shift = np.linalg.norm(body - tracking.body, axis=-1)
    if not track.ok.all():
        log.warning("%s: no reference frame reaches the torso in %d frames (%s): found frame to frame (or from their neighbours) there",
                    source, int((~track.ok).sum()), format_ranges(missing_ranges(track.ok, tracking.time)))
    ref = track.reference
    summary = {"method": "flow", "motion": track.method, "reference_frame": ref,
               "reference_frames": list(track.references), "features": track.features,
               "median_inliers": float(np.median(track.inliers)), "lost_frames": int((~track.ok).sum()),
               "agreement_db": track.agreement,
               "pose_vs_flow_px": {"mean": float(shift.mean()), "max": float(shift.max())}}
    log.info("torso: up to %d corners followed from frames %s (base %d) and frame to frame, median %d inliers; "
             "Pose shoulders were %.1f px (mean) off the flow track", track.features,
             ", ".join(map(str, track.references)), ref, summary["median_inliers"], shift.mean())
    log.info("torso motion: %s (training torsos against the warped base frame, median dB: %s)", track.method,
             ", ".join(f"{k} {v:.2f}" for k, v in track.agreement.items()))
    extras = {**tracking.extras, "torso_ok": track.ok, "torso_similarity": track.similarity.astype(np.float32)}
    return replace(tracking, body=body.astype(np.float32), extras=extras), summary


def summarize(tracking: Tracking, *, holdout_start: int, size: int) -> dict:
    """Numbers a person checks first: missing faces, body sway (crop px), blink rate."""
    from avatarzoo.signals import peaks
    from avatarzoo.trackers.mediapipe import missing_ranges

    body = tracking.body.astype(np.float64)
    neck = body[:, tracking.body_names.index("neck_base")] if "neck_base" in tracking.body_names else body.mean(axis=1)
    h = max(1, min(holdout_start, len(tracking) - 1))
    shift = float(np.linalg.norm(neck[:h].mean(axis=0) - neck[h:].mean(axis=0))) if h < len(tracking) else 0.0
    summary = {
        "frames": len(tracking),
        "missing_frames": int((~tracking.valid).sum()),
        "missing_ranges_s": missing_ranges(tracking.valid, tracking.time),
        "body": {
            "crop_size": size,
            "neck_base_std_px": float(np.linalg.norm(neck.std(axis=0))),
            "neck_base_range_px": [float(v) for v in np.ptp(neck, axis=0)],
            "train_vs_holdout_px": shift,
            "pose_frames_with_shoulders": int(tracking.extras.get("body_valid", np.ones(1, bool)).sum()),
        },
    }
    if {"blink_left", "blink_right"} <= set(tracking.space.channels):
        sp = tracking.space
        blink = tracking.expression[:, [sp.channel("blink_left"), sp.channel("blink_right")]].mean(axis=1)
        summary["blinks_s"] = [round(float(tracking.time[p]), 2) for p in peaks(blink, height=0.35, distance=5)]
    return summary
