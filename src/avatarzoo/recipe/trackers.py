"""Tracker kinds of the recipe: the built-in MediaPipe tracker and imported outputs of
other trackers, plus the smoothing and the declared map between expression spaces."""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple, Union

from pydantic import Field, field_validator

from avatarzoo.kinds import KindConfig
from avatarzoo.recipe.base import Strict, relative_posix


class OneEuroSmoothing(Strict):
    """One-Euro filter (Casiez et al. 2012): low jitter at rest, low lag when moving."""

    kind: Literal["one-euro"] = "one-euro"
    min_cutoff: float = Field(1.5, gt=0, description="Hz; lower = smoother at rest.")
    beta: float = Field(0.3, ge=0, description="Speed coefficient; higher = less lag.")
    d_cutoff: float = Field(1.0, gt=0, description="Hz, cutoff of the derivative.")


class NoSmoothing(Strict):
    kind: Literal["none"] = "none"


Smoothing = Annotated[Union[OneEuroSmoothing, NoSmoothing], Field(discriminator="kind")]


class MediapipeTrackerConfig(KindConfig, family="tracker", parts={
    "stage": "avatarzoo.trackers.stage:run",
    "retrack": "avatarzoo.trackers.mediapipe:track_frames",
}):
    """Built-in tracker: MediaPipe face mesh (478 landmarks with iris) + pose."""

    kind: Literal["mediapipe"] = "mediapipe"
    space: str = Field("face-64", description="The expression space it emits.")
    smoothing: Smoothing = OneEuroSmoothing()
    max_missing: float = Field(
        0.1, ge=0, le=1, description="Largest fraction of frames without a face."
    )
    body_stride: int = Field(
        4, ge=1,
        description="Run MediaPipe Pose (shoulders) on every k-th frame and interpolate between"
        " (1 = every frame). Pose costs ~42 ms a call on a 2-core CPU, the face mesh ~9.",
    )
    body_cutoff_hz: float = Field(
        1.0, gt=0,
        description="Zero-phase low-pass cutoff (Hz) of the shoulder and neck track: keeps the"
        " body's sway, drops Pose's frame-to-frame jitter.",
    )
    head: Literal["flow", "landmarks"] = Field(
        "flow",
        description="How the head pose is tracked: 'landmarks' solves it from the face mesh"
        " (~3 px off at 512²), 'flow' then refines it from rigid head points (hair line,"
        " ears, nose) followed by optical flow, solved with the mesh's rigid landmarks (needs"
        " the ingest person mask)."
        " Frames where the flow fit fails keep the face-mesh pose.",
    )
    torso: Literal["flow", "pose"] = Field(
        "flow",
        description="How the torso's motion is tracked: 'flow' follows the torso's own corners"
        " (tie, collar, lapels) with optical flow from one reference frame (sub-pixel; needs"
        " the ingest person mask), 'pose' moves it with the smoothed Pose shoulders (jitter of"
        " several px). 'flow' falls back to 'pose' when the torso has too few corners.",
    )


class ImportFormat(NamedTuple):
    space: str  # the expression space the format's files hold
    fps: float  # the rate its tool writes unless told otherwise


IMPORT_FORMATS: dict[str, ImportFormat] = {
    "metrical-tracker": ImportFormat("flame", 25.0),  # a directory of .frame files
    "ad-nerf-bfm": ImportFormat("bfm-79", 25.0),  # AD-NeRF / GaussianTalker track_params.pt
    "arkit-csv": ImportFormat("arkit-52", 60.0),  # Live Link Face .csv (timecode rate)
}


class ImportTrackerConfig(KindConfig, family="tracker", parts={
    "stage": "avatarzoo.trackers.imported:run",
}):
    """Native outputs of another tracker, read as they are written."""

    kind: Literal["import"] = "import"
    format: Literal["metrical-tracker", "ad-nerf-bfm", "arkit-csv"]
    path: str = Field(description="File or directory of the native output, relative to the recipe.")
    space: str = Field(description="The space those files hold: flame, bfm-79 or arkit-52.")
    fps: float | None = Field(
        None, gt=0, description="Rate of the native output; default: the format's (25, or 60 for ARKit)."
    )
    smoothing: Smoothing = NoSmoothing()

    @field_validator("path")
    @classmethod
    def _relative_posix(cls, v: str) -> str:
        return relative_posix(v)

    @property
    def native_space(self) -> str:
        """The space the format's files hold (`space` must name it)."""
        return IMPORT_FORMATS[self.format].space


class SpaceMapConfig(Strict):
    """A linear map from the tracker's space to another, learned from paired tracking of
    the same recording (the built-in tracker runs beside the import)."""

    kind: Literal["linear"] = "linear"
    to: str = Field(description="The target space, e.g. face-64.")
    ridge: float = Field(1e-3, ge=0, description="Ridge regularisation of the fit.")
