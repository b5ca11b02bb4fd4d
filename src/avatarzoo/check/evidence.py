"""Everything `avatarzoo check` measures on one recording, gathered from the outputs of
the ingest and track stages (and the source file itself) before any verdict.

`gather` reads the stage outputs through their contracts (contracts/ingest.py,
contracts/tracking.py) and runs the measures: frame pass (measures.py), source timing
(source.py), sound (sound.py), expression events (events.py) and the audio/lip offset
(drivers/sync.py). A stage that stopped on the recording (`problem`) leaves the parts
that need it as None; the items that need them are then not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from avatarzoo.check.events import Events, find_events
from avatarzoo.check.measures import FrameMeasures, measure_frames
from avatarzoo.check.sound import SoundMeasures, measure_sound
from avatarzoo.check.source import SourceTiming, source_timing
from avatarzoo.contracts.ingest import IngestOutput
from avatarzoo.contracts.tracking import Tracking

if TYPE_CHECKING:
    from avatarzoo.recipe.models import Recipe

MAX_LAG_S = 0.8  # the offset search: wider than the largest offset that is still corrected (items.py)


def frames_for_offset(fps: float) -> int:
    """Frames with sound that estimate_offset needs to search ±MAX_LAG_S (drivers/sync.py
    refuses fewer: 4 K + 8 for K lags a side)."""
    return 4 * int(round(MAX_LAG_S * fps)) + 8


@dataclass(frozen=True)
class Evidence:
    """The measures of one recording. `ingest`/`tracking` and what is measured on them
    are None when a stage stopped (`problem` then says why)."""

    video: Path
    recipe: "Recipe"
    timing: SourceTiming
    ingest: IngestOutput | None
    tracking: Tracking | None
    frames: FrameMeasures | None
    sound: SoundMeasures | None
    events: Events | None
    offset: Any | None  # avatarzoo.drivers.sync.Offset
    mouth_open: np.ndarray | None  # [N] the mouth_open channel the offset was estimated from
    problem: str | None = None

    @property
    def fps(self) -> float:
        return self.ingest.info.fps if self.ingest is not None else self.recipe.recording.fps


def gather(video: Path, recipe: "Recipe", *, ingest_dir: Path | None, track_dir: Path | None,
           problem: str | None = None, log=print) -> Evidence:
    """Measure the recording `video` from its stage outputs (None: the stage did not finish)."""
    timing = source_timing(video)
    ingest = IngestOutput.open(ingest_dir) if ingest_dir is not None else None
    tracking = Tracking.load(track_dir / "tracking.safetensors") if track_dir is not None else None
    sound = audio = offset = mouth = frames = events = None
    if ingest is not None and ingest.info.audio is not None:
        audio = np.asarray(ingest.audio(), np.float32)
        sound = measure_sound(audio, ingest.info.audio.sample_rate)
    if ingest is not None and tracking is not None:
        log("measuring frames: face light and sharpness, background motion, repeats")
        frames = measure_frames(ingest.frames, ingest.masks, tracking.landmarks, tracking.valid)
        if "mouth_open" in tracking.space.channels:
            events = find_events(tracking)
            mouth = tracking.expression[:, tracking.space.channel("mouth_open")].astype(np.float64)
        fps = ingest.info.fps
        if mouth is not None and audio is not None and min(len(mouth), sound.seconds * fps) >= frames_for_offset(fps):
            from avatarzoo.drivers.sync import estimate_offset

            offset = estimate_offset(mouth, audio, fps=fps, max_lag_s=MAX_LAG_S,
                                     audio_offset=ingest.info.audio.offset)
    return Evidence(video=video, recipe=recipe, timing=timing, ingest=ingest, tracking=tracking,
                    frames=frames, sound=sound, events=events, offset=offset, mouth_open=mouth,
                    problem=problem)
