"""Typed data the zoo publishes besides recipes: bundle header metadata and the catalog.

`zoo/catalog.yaml` lists published versions: where each lives on the Hugging Face Hub
(repo + pinned revision) and the sha256 of its model file; `load("name-vN")` resolves
through it once Hub pulls exist. The schemas in `schemas/` are generated from these.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from avatarzoo.recipe.models import NAME_PATTERN


class BundleMetadata(BaseModel):
    """The `__metadata__` of a bundle's model.safetensors (all values are strings)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    format_version: str = Field(alias="avatarzoo.format_version")
    id: str = Field(alias="avatarzoo.id", pattern=r"^[a-z0-9][a-z0-9-]*-v[0-9]+$")
    recipe_sha256: str = Field(alias="avatarzoo.recipe_sha256", pattern=r"^[0-9a-f]{64}$")
    space: str = Field(alias="avatarzoo.space", description="JSON of the ExpressionSpace.")
    renderer: str = Field(alias="avatarzoo.renderer")
    size: str = Field(alias="avatarzoo.size")
    fps: str = Field(alias="avatarzoo.fps")
    audio_driver: str = Field(alias="avatarzoo.audio_driver")


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*-v[0-9]+$")
    avatar: str = Field(pattern=NAME_PATTERN)
    version: int = Field(ge=1)
    repo: str = Field(pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$", description="Hub repo id.")
    revision: str = Field(pattern=r"^[0-9a-f]{40}$", description="Pinned commit sha.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of model.safetensors.")
    card: str = Field(description="Path of the model card under cards/.")


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    avatars: tuple[CatalogEntry, ...] = ()
