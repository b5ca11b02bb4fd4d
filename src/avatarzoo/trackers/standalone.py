"""The tracker on its own, outside any build: `avatarzoo track VIDEO -o DIR`, and the
driving video of a reenactment (drive/offline.py). Both ingest, then track, with the
same functions the stages run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from avatarzoo.contracts.tracking import Tracking
from avatarzoo.trackers.stage import track_ingested


def standalone_recording(video: Path, *, fps: float, size: int, start: float = 0.0,
                         duration: float | None = None):
    """The RecordingConfig of a video tracked outside a recipe: all of it (or the
    [start, start + duration) window) at `fps`, cropped to `size`², no held-out part."""
    from avatarzoo.recipe.models import CropConfig, RecordingConfig

    return RecordingConfig(video=Path(video).name, fps=fps, start=start, duration=duration,
                           crop=CropConfig(size=size), holdout=0.0)


def ingest_and_track(video: Path, ingest_dir: Path, track_dir: Path, *, recording, config=None,
                     body_stride: int | None = None, progress=None, log=None) -> Tracking:
    """Ingest `video` as `recording` into `ingest_dir`, then track it into `track_dir`
    (`body_stride`: Pose on every k-th frame only, trackers.stage.track_ingested)."""
    from avatarzoo.ingest.stage import ingest_recording

    ingest_recording(Path(video), Path(ingest_dir), recording=recording, progress=progress, log=log)
    return track_ingested(Path(ingest_dir), Path(track_dir), config=config, progress=progress, log=log,
                          body_stride=body_stride)


def track_video(
    video: Path,
    out: Path,
    *,
    fps: float = 25.0,
    size: int = 512,
    config=None,
    start: float = 0.0,
    duration: float | None = None,
    progress=None,
    log=None,
) -> Tracking:
    """`avatarzoo track VIDEO -o DIR`: ingest into a temporary directory, track, and
    write tracking.safetensors + previews (+ track.json, ingest.json) into `out`."""
    video, out = Path(video), Path(out)
    recording = standalone_recording(video, fps=fps, size=size, start=start, duration=duration)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ingest-", dir=out) as tmp:
        tracking = ingest_and_track(video, Path(tmp), out, recording=recording, config=config,
                                    progress=progress, log=log)
        (out / "ingest.json").write_bytes((Path(tmp) / "ingest.json").read_bytes())
    return tracking
