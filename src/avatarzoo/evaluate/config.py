"""Settings of the `evaluate` stage. The recipe has no evaluation section yet, so the
stage runs `EvalConfig()`; every field is recorded in (or implied by) `metrics.json`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from avatarzoo.evaluate.report import MeasurabilityRule


class TimingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    warmup: int = Field(10, ge=1, description="Untimed calls first (allocations, kernel selection).")
    repeats: int = Field(200, ge=3, description="Timed calls at most.")
    max_seconds: float = Field(10.0, gt=0, description="Stop timing after this long (slow CPU renders).")


class EvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    batch: int = Field(4, ge=1, description="Frames rendered per call while scoring.")
    face_pad: float = Field(0.25, ge=0, description="Face box padding per side, fraction of the face extent.")
    sheet_frames: int = Field(8, ge=1, description="Held-out frames on the contact sheet.")
    sheet_tile: int = Field(192, ge=32, description="Side of a contact-sheet tile, pixels.")
    heat_max: float = Field(0.25, gt=0, description="Mean |error| (0..1) shown as the hottest colour.")
    rule: MeasurabilityRule = MeasurabilityRule()
    ground_truth: Literal["retracked", "stored"] = Field(
        "retracked",
        description="'retracked': the held-out recording frames go through the same tracking"
        " call as the renders (same smoothing warm-up); 'stored': the track stage's output.",
    )
    timing: TimingConfig = TimingConfig()
