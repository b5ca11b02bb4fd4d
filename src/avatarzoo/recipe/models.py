"""The recipe: pydantic models that fully describe one avatar version.

These models are the single source of truth; `schemas/recipe.schema.json` is generated
from them (`avatarzoo schema`). Every model forbids unknown keys and is frozen, so a
resolved recipe hashes the same on every machine (`model_dump_json` is the only
serializer). Paths are kept as written, relative to the recipe file.

Each component config (tracker, renderer, audio driver) carries a `kind` discriminator
and names the space it emits or consumes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$|^[a-z0-9]$"


class Strict(BaseModel):
    """Base of every recipe model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- recording ---------------------------------------------------------------------


class CropConfig(Strict):
    size: int = Field(512, ge=32, le=2048, description="Side of the square crop, pixels.")
    frame: Literal["head-and-shoulders", "head", "full"] = Field(
        "head-and-shoulders", description="What the static crop must contain."
    )


class RecordingConfig(Strict):
    video: str = Field(description="Video file, relative to the recipe file.")
    audio: str | None = Field(None, description="Audio file; default: the video's own track.")
    camera: Literal["static", "moving"] = Field(
        "static", description="A static camera gets one crop and one camera for all frames."
    )
    fps: float = Field(25.0, gt=0, le=120, description="Frames are resampled to this rate.")
    start: float = Field(0.0, ge=0, description="Seconds skipped at the start.")
    duration: float | None = Field(None, gt=0, description="Seconds used; default: all.")
    crop: CropConfig = CropConfig()
    holdout: float = Field(
        0.1, ge=0.0, lt=0.5, description="Last fraction of frames, never used in training."
    )

    @field_validator("video", "audio")
    @classmethod
    def _relative_posix(cls, v: str | None) -> str | None:
        if v is not None and "\\" in v:
            raise ValueError("use '/' in paths so that the recipe hashes the same everywhere")
        return v


# --- tracker -----------------------------------------------------------------------


class OneEuroSmoothing(Strict):
    """One-Euro filter (Casiez et al. 2012): low jitter at rest, low lag when moving."""

    kind: Literal["one-euro"] = "one-euro"
    min_cutoff: float = Field(1.5, gt=0, description="Hz; lower = smoother at rest.")
    beta: float = Field(0.3, ge=0, description="Speed coefficient; higher = less lag.")
    d_cutoff: float = Field(1.0, gt=0, description="Hz, cutoff of the derivative.")


class NoSmoothing(Strict):
    kind: Literal["none"] = "none"


Smoothing = Annotated[Union[OneEuroSmoothing, NoSmoothing], Field(discriminator="kind")]


class MediapipeTrackerConfig(Strict):
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


class ImportTrackerConfig(Strict):
    """Native outputs of another tracker, read as they are written."""

    kind: Literal["import"] = "import"
    format: Literal["metrical-tracker", "ad-nerf-bfm", "arkit-csv"]
    path: str = Field(description="File or directory of the native output, relative to the recipe.")
    space: str = Field(description="The space those files hold: flame, bfm-79 or arkit-52.")
    fps: float | None = Field(
        None, gt=0, description="Rate of the native output; default: the format's (25, or 60 for ARKit)."
    )
    smoothing: Smoothing = NoSmoothing()


TrackerConfig = Annotated[
    Union[MediapipeTrackerConfig, ImportTrackerConfig], Field(discriminator="kind")
]


class SpaceMapConfig(Strict):
    """A linear map from the tracker's space to another, learned from paired tracking of
    the same recording (the built-in tracker runs beside the import)."""

    kind: Literal["linear"] = "linear"
    to: str = Field(description="The target space, e.g. face-64.")
    ridge: float = Field(1e-3, ge=0, description="Ridge regularisation of the fit.")


# --- renderer ----------------------------------------------------------------------


class GaussianRendererConfig(Strict):
    """Full-frame Gaussian splatting avatar driven by explicit head and body motion."""

    kind: Literal["gaussian"] = "gaussian"
    space: str = Field("face-64", description="The expression space it consumes.")
    gaussians: int = Field(100_000, ge=100, description="Cap on the number of Gaussians.")
    steps: int = Field(20_000, ge=1, description="Training iterations.")
    resolution: int | None = Field(
        None, ge=16, description="Training/render side; default: the crop size."
    )
    batch_size: int = Field(
        1, ge=1, description="Frames per training step (per GPU: `--gpus N` steps on N × batch_size)."
    )
    lr: float = Field(1.0, gt=0, description="Scale on every learning rate.")
    ssim_weight: float = Field(0.2, ge=0, le=1, description="Weight of D-SSIM against L1.")
    region_weights: dict[str, float] = Field(
        default_factory=lambda: {"mouth": 2.0, "eyes": 2.0},
        description="Extra loss weight inside facial regions.",
    )
    seed: int = 0
    backend: Literal["auto", "torch", "gsplat"] = Field(
        "auto", description="Rasterizer: gsplat on CUDA, the PyTorch reference on CPU."
    )
    init_fraction: float = Field(
        0.5, gt=0, le=1,
        description="Initial Gaussians (placed on the person mask) as a fraction of `gaussians`;"
        " densification grows them up to the cap.",
    )
    feature_dim: int = Field(
        16, ge=1, le=256, description="Per-Gaussian feature size of the expression blendshapes."
    )
    densify_every: int = Field(
        100, ge=0, description="Steps between densify/prune rounds (first 60% of training); 0: never."
    )
    checkpoint_every: int = Field(
        200, ge=0, description="Steps between resume checkpoints in the stage's scratch dir; 0: never."
    )
    max_per_tile: int | None = Field(
        None, ge=1,
        description="PyTorch rasterizer only: composite at most this many front-most Gaussians"
        " per tile (speed on CPU); None: all (exact).",
    )


RendererConfig = Annotated[Union[GaussianRendererConfig], Field(discriminator="kind")]


# --- audio driver ------------------------------------------------------------------


class Wav2Vec2Features(Strict):
    kind: Literal["wav2vec2"] = "wav2vec2"
    model: str = "facebook/wav2vec2-base-960h"


class LogMelFeatures(Strict):
    kind: Literal["logmel"] = "logmel"
    n_mels: int = Field(80, ge=8)


AudioFeatures = Annotated[Union[Wav2Vec2Features, LogMelFeatures], Field(discriminator="kind")]


class TransformerDriverConfig(Strict):
    """Speech → expression codes."""

    kind: Literal["transformer"] = "transformer"
    space: str = Field("face-64", description="The expression space it produces.")
    features: AudioFeatures = LogMelFeatures()
    steps: int = Field(2000, ge=1)


AudioDriverConfig = Annotated[Union[TransformerDriverConfig], Field(discriminator="kind")]


# --- card --------------------------------------------------------------------------


class CardConfig(Strict):
    license: str = Field(description="SPDX-like id as the Hub knows it, e.g. cc-by-nc-4.0.")
    consent: str = Field(min_length=1, description="Who recorded the subject, and their consent.")
    description: str = ""
    source: str = Field("", description="Provenance of the recording.")
    tags: tuple[str, ...] = ()


# --- the recipe --------------------------------------------------------------------


class Recipe(Strict):
    """One avatar version. `avatar` and `version` form its id, e.g. 'roman-v2'."""

    avatar: str = Field(pattern=NAME_PATTERN, description="Lower-case name, digits and '-'.")
    version: int = Field(ge=1)
    recording: RecordingConfig
    tracker: TrackerConfig = MediapipeTrackerConfig()
    space_map: SpaceMapConfig | None = None
    renderer: RendererConfig = GaussianRendererConfig()
    audio_driver: AudioDriverConfig | None = None
    card: CardConfig
    profiles: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Named partial recipes merged over this one by --profile NAME.",
    )

    @property
    def id(self) -> str:
        return f"{self.avatar}-v{self.version}"
