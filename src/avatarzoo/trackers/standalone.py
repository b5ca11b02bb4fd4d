"""`avatarzoo track VIDEO -o DIR`: the tracker on its own, outside any build: ingest
into a temporary directory, then track (the same functions the stages run)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from avatarzoo.contracts.tracking import Tracking
from avatarzoo.trackers.stage import track_ingested


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
    from avatarzoo.ingest.stage import ingest_recording
    from avatarzoo.recipe.models import CropConfig, RecordingConfig

    video, out = Path(video), Path(out)
    recording = RecordingConfig(video=video.name, fps=fps, start=start, duration=duration,
                                crop=CropConfig(size=size), holdout=0.0)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ingest-", dir=out) as tmp:
        ingest_recording(video, Path(tmp), recording=recording, progress=progress, log=log)
        tracking = track_ingested(Path(tmp), out, config=config, progress=progress, log=log)
        (out / "ingest.json").write_bytes((Path(tmp) / "ingest.json").read_bytes())
    return tracking
