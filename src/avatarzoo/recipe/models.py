"""The recipe: pydantic models that fully describe one avatar version.

These models are the single source of truth; `schemas/recipe.schema.json` is generated
from them (`avatarzoo schema`). Every model forbids unknown keys and is frozen, so a
resolved recipe hashes the same on every machine (`model_dump_json` is the only
serializer). Paths are kept as written, relative to the recipe file.

Each component config (tracker, renderer, audio driver) carries a `kind` discriminator
and names the space it emits or consumes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from avatarzoo.kinds import config_union
from avatarzoo.recipe.base import NAME_PATTERN, Strict, relative_posix
from avatarzoo.recipe.drivers import (  # noqa: F401  (registers the built-in kinds; re-exported)
    AudioFeatures, HubertFeatures, LogMelFeatures, PhoneFeatures, TcnDriverConfig, Wav2Vec2Features,
)
from avatarzoo.recipe.renderers import GaussianRendererConfig
from avatarzoo.recipe.trackers import (  # noqa: F401
    IMPORT_FORMATS, ImportTrackerConfig, MediapipeTrackerConfig, NoSmoothing, OneEuroSmoothing,
    Smoothing, SpaceMapConfig,
)


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
        return relative_posix(v)


# --- components: kinds registered in avatarzoo.kinds ----------------------------
# The built-in kinds' configs (recipe/trackers.py, renderers.py, drivers.py) register
# on import; plugins through the `avatarzoo.plugins` entry points (kinds.load_plugins).

TrackerConfig = config_union("tracker")
RendererConfig = config_union("renderer")
AudioDriverConfig = config_union("audio_driver")


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
